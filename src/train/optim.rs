//! The paper's optimiser: AdamW (eps 1e-8), no weight decay on biases and LayerNorm, gradient
//! clipping, and a linear warm-up then linear decay of the learning rate.

use std::collections::HashMap;

use burn::grad_clipping::GradientClippingConfig;
use burn::lr_scheduler::module_lr_scheduler::{ModuleLearningRate, ModuleLrScheduler};
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamGroup, ParamId};
use burn::optim::{AdamWConfig, GradientsAccumulator, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;

/// Parameters whose path contains one of these get no weight decay (biases and LayerNorm).
const UNDECAYED: [&str; 4] = ["bias", "beta", "gamma", "norm"];
const BETA_1: f32 = 0.9;
const BETA_2: f32 = 0.999;
const EPSILON: f32 = 1e-8;

/// AdamW (β 0.9/0.999, ε 1e-8) with decay on weight matrices only and burn's per-parameter
/// gradient-norm clip. On host-memory backends the update runs in one fused, parallel pass over
/// each parameter ([`HostAdamW`]): burn's AdamW is a dozen single-threaded tensor ops per
/// parameter and took a third of a student's training step on flex (docs/performance.md).
/// Elsewhere (libtorch, GPU) burn's optimiser runs where the tensors live.
pub enum AdamW {
    Host(HostAdamW),
    Burn(Box<ModuleOptimizer>, RateFactors),
}

/// Per-parameter factors on the learning rate for fine-tuning a layered encoder (by parameter
/// path, BERT's module names): the task head (`pooler`, `classifier`) at `head` × the rate, and
/// ELECTRA's layer-wise decay: with L layers, layer l (0-based) at `layer_decay`^(L − l), the
/// embeddings at `layer_decay`^(L + 1). Uniform (every factor 1) unless set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateFactors {
    pub head: f64,
    pub layer_decay: f64,
    pub layers: usize,
}

impl RateFactors {
    pub const UNIFORM: Self = Self { head: 1.0, layer_decay: 1.0, layers: 0 };

    /// The factor for the parameter at `path` (segments joined by `.`).
    pub fn of(&self, path: &str) -> f64 {
        let segments: Vec<&str> = path.split('.').collect();
        for (i, segment) in segments.iter().enumerate() {
            match *segment {
                "pooler" | "classifier" => return self.head,
                "embeddings" => return self.layer_decay.powi(self.layers as i32 + 1),
                "layers" => {
                    if let Some(l) = segments.get(i + 1).and_then(|l| l.parse::<usize>().ok()) {
                        return self.layer_decay.powi(self.layers.saturating_sub(l) as i32);
                    }
                }
                _ => {}
            }
        }
        1.0
    }

    /// `head` and `layer_decay` for `model`, its layers counted from its parameter paths.
    pub fn for_module<M: Module>(head: f64, layer_decay: f64, model: &M) -> Self {
        let mut count = LayerCount { path: Vec::new(), layers: 0 };
        model.visit(&mut count);
        Self { head, layer_decay, layers: count.layers }
    }

    fn is_uniform(&self) -> bool {
        self.head == 1.0 && self.layer_decay == 1.0
    }

    /// burn's per-group rates for peak `lr`: the same factors as [`Self::of`], as path groups.
    fn module_rates(&self, lr: f64) -> ModuleLearningRate {
        let mut rates = ModuleLrScheduler::new(lr);
        if !self.is_uniform() {
            let mut groups = vec![("embeddings.".to_string(), self.of("embeddings"))];
            groups.extend((0..self.layers).map(|l| (format!("layers.{l}."), self.of(&format!("layers.{l}")))));
            groups.extend(["pooler.", "classifier."].map(|p| (p.to_string(), self.head)));
            for (predicate, factor) in groups {
                rates = rates.with_group(ParamGroup::from_predicate(predicate), lr * factor);
            }
        }
        rates.step()
    }
}

impl AdamW {
    /// The fused host update when `device` keeps tensors in host memory, else burn's.
    pub fn new(weight_decay: f32, max_grad_norm: Option<f32>, device: &Device) -> Self {
        if crate::backend::host_memory(device) { Self::Host(HostAdamW::new(weight_decay, max_grad_norm)) } else { Self::burn(weight_decay, max_grad_norm) }
    }

    /// The same optimiser with per-parameter factors on the rate.
    pub fn with_rates(mut self, factors: RateFactors) -> Self {
        match &mut self {
            Self::Host(host) => host.rates = factors,
            Self::Burn(_, rates) => *rates = factors,
        }
        self
    }

    /// burn's AdamW with the same settings (any backend).
    pub fn burn(weight_decay: f32, max_grad_norm: Option<f32>) -> Self {
        let clip = max_grad_norm.map(GradientClippingConfig::Norm);
        let config = |decay: f32| AdamWConfig::new().with_beta_1(BETA_1).with_beta_2(BETA_2).with_epsilon(EPSILON).with_weight_decay(decay);
        let optim = config(weight_decay).with_grad_clipping(clip.clone()).init().with_group(
            ParamGroup::from_any_predicates(UNDECAYED.to_vec()),
            config(0.0).build(),
            clip.map(|c| c.init()),
        );
        Self::Burn(Box::new(optim), RateFactors::UNIFORM)
    }

    /// One update of every parameter that has a gradient in `grads`.
    pub fn step<M: Module>(&mut self, lr: f64, model: M, grads: GradientsParams) -> M {
        self.step_sum(lr, model, vec![grads])
    }

    /// One update from the sum of several gradients (e.g. of a batch's parts): on the host the
    /// sum is taken inside the update's pass.
    pub fn step_sum<M: Module>(&mut self, lr: f64, model: M, mut parts: Vec<GradientsParams>) -> M {
        match self {
            Self::Host(host) => model.map(&mut HostStep { optim: host, parts, lr, path: Vec::new() }),
            Self::Burn(optim, rates) => {
                let grads = if parts.len() == 1 {
                    parts.pop().expect("one part")
                } else {
                    let mut sum = GradientsAccumulator::new();
                    for part in parts {
                        sum.accumulate(&model, part);
                    }
                    sum.grads()
                };
                optim.step(rates.module_rates(lr), model, grads)
            }
        }
    }
}

/// Counts a module's layers: one more than the highest index under a `layers` container.
struct LayerCount {
    path: Vec<String>,
    layers: usize,
}

impl ModuleVisitor for LayerCount {
    fn enter_module(&mut self, name: &str, _: &str) {
        if self.path.last().is_some_and(|p| p == "layers")
            && let Ok(l) = name.parse::<usize>()
        {
            self.layers = self.layers.max(l + 1);
        }
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
}

/// AdamW over host copies of the parameters, with the moments kept as host vectors.
pub struct HostAdamW {
    weight_decay: f32,
    max_grad_norm: Option<f32>,
    rates: RateFactors,
    moments: HashMap<ParamId, Moments>,
}

struct Moments {
    first: Vec<f32>,
    second: Vec<f32>,
    steps: i32,
}

/// Elements per parallel task: large enough that a task outweighs its scheduling.
const CHUNK: usize = 1 << 15;

impl HostAdamW {
    pub fn new(weight_decay: f32, max_grad_norm: Option<f32>) -> Self {
        Self { weight_decay, max_grad_norm, rates: RateFactors::UNIFORM, moments: HashMap::new() }
    }

    /// Updates `values` in place from the gradient `parts` sum to, as burn's clip + AdamW step
    /// would (up to rounding: the norm is summed in f64 here). The sum is never stored whole:
    /// each chunk of it is added up where it is read, so the parts are read from memory once
    /// for the norm and once for the update.
    fn update(&mut self, id: ParamId, values: &mut [f32], parts: &[&[f32]], lr: f64, weight_decay: f32) {
        let moments = self.moments.entry(id).or_insert_with(|| Moments { first: vec![0.0; values.len()], second: vec![0.0; values.len()], steps: 0 });
        moments.steps += 1;
        let clip = match self.max_grad_norm {
            Some(max) => {
                let squares: Vec<f64> = (0..values.len().div_ceil(CHUNK))
                    .into_par_iter()
                    .map(|c| {
                        with_chunk_sum(parts, c, |g| {
                            let mut sum = 0.0;
                            square_sum(g, &mut sum);
                            sum
                        })
                    })
                    .collect();
                let norm = squares.iter().sum::<f64>().sqrt() as f32;
                (max / (norm + f32::MIN_POSITIVE)).min(1.0)
            }
            None => 1.0,
        };
        let step =
            Step { clip, correct_1: 1.0 - BETA_1.powi(moments.steps), correct_2: 1.0 - BETA_2.powi(moments.steps), shrink: (1.0 - lr * weight_decay as f64) as f32, lr: lr as f32 };
        values
            .par_chunks_mut(CHUNK)
            .zip(moments.first.par_chunks_mut(CHUNK))
            .zip(moments.second.par_chunks_mut(CHUNK))
            .enumerate()
            .for_each(|(c, ((p, m), v))| with_chunk_sum(parts, c, |g| adamw_kernel(p, m, v, g, step)));
    }
}

/// One step's constants of the AdamW update.
#[derive(Clone, Copy)]
struct Step {
    /// The gradient's clip factor.
    clip: f32,
    /// The moments' bias corrections, `1 − βᵗ`.
    correct_1: f32,
    correct_2: f32,
    /// `1 − lr · weight decay`.
    shrink: f32,
    lr: f32,
}

crate::model::kernels::simd_kernel! {
    /// Σ g² in f64, added to `sum`: eight independent lanes, where one accumulator would add
    /// in order, a float latency per element.
    fn square_sum(g: &[f32], sum: &mut f64) {
        const LANES: usize = 8;
        let mut acc = [0f64; LANES];
        let chunks = g.chunks_exact(LANES);
        let tail: f64 = chunks.remainder().iter().map(|&g| f64::from(g) * f64::from(g)).sum();
        for c in chunks {
            for k in 0..LANES {
                acc[k] += f64::from(c[k]) * f64::from(c[k]);
            }
        }
        *sum += acc.iter().sum::<f64>() + tail;
    }
}

crate::model::kernels::simd_kernel! {
    /// The AdamW update of parameters `p` and moments `m`, `v` from gradient `g`, compiled for the
    /// vector extension the host kernels run (the square root and divisions dominate its
    /// arithmetic).
    fn adamw_kernel(p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], step: Step) {
        for (((p, m), v), &g) in p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
            let g = g * step.clip;
            *m = BETA_1 * *m + (1.0 - BETA_1) * g;
            *v = BETA_2 * *v + (1.0 - BETA_2) * g * g;
            let delta = (*m / step.correct_1) / ((*v / step.correct_2).sqrt() + EPSILON);
            *p = *p * step.shrink - step.lr * delta;
        }
    }
}

/// Calls `f` with chunk `c` (of [`CHUNK`] elements) of the sum of `parts`: the one part's own
/// values, or the sum in a chunk-sized buffer, which stays in cache for `f` (the first two parts
/// added as it is filled, the rest after, in order).
fn with_chunk_sum<T>(parts: &[&[f32]], c: usize, f: impl FnOnce(&[f32]) -> T) -> T {
    let range = |part: &[f32]| c * CHUNK..((c + 1) * CHUNK).min(part.len());
    match parts {
        [one] => f(&one[range(one)]),
        [first, second, rest @ ..] => {
            let mut sum: Vec<f32> = first[range(first)].iter().zip(&second[range(second)]).map(|(a, b)| a + b).collect();
            for part in rest {
                sum.iter_mut().zip(&part[range(part)]).for_each(|(s, p)| *s += p);
            }
            f(&sum)
        }
        [] => f(&[]),
    }
}

/// Walks a module, replacing each parameter that has a gradient by its updated value.
struct HostStep<'a> {
    optim: &'a mut HostAdamW,
    parts: Vec<GradientsParams>,
    lr: f64,
    path: Vec<String>,
}

impl ModuleMapper for HostStep<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        // Read in place: a gradient or parameter held by nothing else gives its buffer away.
        let parts: Vec<TensorData> = self.parts.iter_mut().filter_map(|p| p.remove::<D>(id)).map(Tensor::into_data).collect();
        if parts.is_empty() {
            return Param::from_mapped_value(id, tensor, mapper);
        }
        let parts: Vec<&[f32]> = parts.iter().map(|p| p.as_slice::<f32>().expect("float gradients are f32")).collect();
        let path = self.path.join(".");
        let decay = if UNDECAYED.iter().any(|p| path.contains(p)) { 0.0 } else { self.optim.weight_decay };
        let (device, require_grad) = (tensor.device(), tensor.is_require_grad());
        let mut values = tensor.into_data();
        let lr = self.lr * self.optim.rates.of(&path);
        self.optim.update(id, values.as_mut_slice::<f32>().expect("float parameters are f32"), &parts, lr, decay);
        let updated = Tensor::from_data(values, &device);
        Param::from_mapped_value(id, if require_grad { updated.require_grad() } else { updated }, mapper)
    }
}

/// Linear warm-up over the first `warmup` steps, then linear decay to 0 at `total`.
#[derive(Debug, Clone, Copy)]
pub struct LinearSchedule {
    pub peak: f64,
    pub warmup: usize,
    pub total: usize,
}

impl LinearSchedule {
    pub fn new(peak: f64, total: usize, warmup_ratio: f64) -> Self {
        Self { peak, warmup: ((total as f64) * warmup_ratio).round() as usize, total: total.max(1) }
    }

    /// Learning rate for 0-based `step`.
    pub fn at(&self, step: usize) -> f64 {
        let s = step as f64 + 1.0;
        if step < self.warmup { self.peak * s / self.warmup as f64 } else { self.peak * ((self.total as f64 - step as f64) / (self.total - self.warmup).max(1) as f64).max(0.0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_factors_follow_electras_layer_decay() {
        let f = RateFactors { head: 10.0, layer_decay: 0.5, layers: 6 };
        assert_eq!(f.of("classifier.weight"), 10.0);
        assert_eq!(f.of("pooler.bias"), 10.0);
        assert_eq!(f.of("layers.5.query.weight"), 0.5);
        assert_eq!(f.of("layers.0.output_norm.gamma"), 0.5f64.powi(6));
        assert_eq!(f.of("embeddings.word.weight"), 0.5f64.powi(7));
        assert_eq!(f.of("student.layers.2.key.bias"), 0.5f64.powi(4));
        assert_eq!(f.of("critic.weight"), 1.0);
        assert_eq!(RateFactors::UNIFORM.of("layers.3.query.weight"), 1.0);
    }

    #[test]
    fn chunks_of_the_gradient_sum_cover_every_element_once() {
        let len = 2 * CHUNK + 5;
        let a: Vec<f32> = (0..len).map(|i| i as f32).collect();
        let b: Vec<f32> = (0..len).map(|i| (i % 7) as f32 * 0.5).collect();
        let c = vec![0.25f32; len];
        let mut seen = Vec::new();
        for chunk in 0..len.div_ceil(CHUNK) {
            with_chunk_sum(&[&a, &b, &c], chunk, |g| seen.extend_from_slice(g));
        }
        let want: Vec<f32> = (0..len).map(|i| a[i] + b[i] + c[i]).collect();
        assert_eq!(seen, want);
        let mut single = Vec::new();
        (0..3).for_each(|chunk| with_chunk_sum(&[&a], chunk, |g| single.extend_from_slice(g)));
        assert_eq!(single, a);
    }

    #[test]
    fn warmup_then_decay() {
        let s = LinearSchedule::new(1.0, 100, 0.1);
        assert_eq!(s.warmup, 10);
        assert!((s.at(0) - 0.1).abs() < 1e-12);
        assert!((s.at(9) - 1.0).abs() < 1e-12);
        assert!((s.at(10) - 1.0).abs() < 1e-12);
        assert!((s.at(55) - 0.5).abs() < 1e-12);
        assert!(s.at(99) > 0.0 && s.at(99) < 0.02);
    }
}
