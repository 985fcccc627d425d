//! The paper's optimiser: AdamW (eps 1e-8), no weight decay on biases and LayerNorm, gradient
//! clipping, and a linear warm-up then linear decay of the learning rate.

use burn::module::ParamGroup;
use burn::optim::{AdamWConfig, ModuleOptimizer};
use burn::grad_clipping::GradientClippingConfig;

/// AdamW with decay on weight matrices only. Clipping is burn's per-parameter norm clip.
pub fn adamw(weight_decay: f32, max_grad_norm: Option<f32>) -> ModuleOptimizer {
    let clip = max_grad_norm.map(GradientClippingConfig::Norm);
    let decayed = AdamWConfig::new().with_epsilon(1e-8).with_weight_decay(weight_decay).with_grad_clipping(clip.clone());
    let undecayed = AdamWConfig::new().with_epsilon(1e-8).with_weight_decay(0.0);
    decayed.init().with_group(ParamGroup::from_any_predicates(vec!["bias", "beta", "gamma", "norm"]), undecayed.build(), clip.map(|c| c.init()))
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
        if step < self.warmup {
            self.peak * s / self.warmup as f64
        } else {
            self.peak * ((self.total as f64 - step as f64) / (self.total - self.warmup).max(1) as f64).max(0.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
