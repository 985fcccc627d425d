//! Samplers propose the next point of a space from the trial history only (Optuna-style): they
//! never see burn or a model. [`random`], [`grid`], and [`bo`] (Bayesian optimisation with egobox).

pub mod bo;
pub mod grid;
pub mod random;
pub mod warm_start;

pub use bo::{Acquisition, BoConfig, BoSampler};
pub use grid::GridSampler;
pub use random::RandomSampler;
pub use warm_start::warm_start_points;

use rand::Rng;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::search::space::{Domain, Point, Space};

/// A completed trial as samplers see it: its point and score (higher is better).
#[derive(Debug, Clone)]
pub struct Observation {
    pub point: Point,
    pub score: f64,
}

/// Proposes points. `tried` holds every point already run or running (complete, failed or
/// pruned), `history` the scored ones.
pub trait Sampler {
    /// The next point, or `None` when the sampler has nothing left to propose (grid exhausted).
    fn ask(&mut self, space: &Space, tried: &[Point], history: &[Observation]) -> Result<Option<Point>>;
    fn name(&self) -> &'static str;
}

/// The history a sampler sees while other workers' trials run (constant liar): each pending
/// point counts as scored at the mean of the scores so far, so the surrogate's uncertainty
/// shrinks around it and concurrent asks spread out. No lie before the first score.
pub fn with_pending(mut history: Vec<Observation>, pending: &[Point]) -> Vec<Observation> {
    if history.is_empty() {
        return history;
    }
    let lie = history.iter().map(|o| o.score).sum::<f64>() / history.len() as f64;
    history.extend(pending.iter().map(|point| Observation { point: point.clone(), score: lie }));
    history
}

/// The samplers `search --sampler` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SamplerKind {
    /// Bayesian optimisation (a GP over the conditional encoding; egobox).
    Bo,
    /// Independent uniform draws.
    Random,
    /// Every combination in grid order.
    Grid,
}

impl SamplerKind {
    /// The sampler, seeded; `bo` with `config`.
    pub fn build(self, seed: u64, config: BoConfig) -> Box<dyn Sampler> {
        match self {
            SamplerKind::Bo => Box::new(BoSampler::with_config(seed, config)),
            SamplerKind::Random => Box::new(RandomSampler { seed }),
            SamplerKind::Grid => Box::new(GridSampler),
        }
    }
}

/// Uniform sampling of one dimension (log-uniform for log ranges).
pub fn sample_domain(domain: &Domain, rng: &mut impl Rng) -> Value {
    match domain {
        Domain::Categorical(c) => c[rng.random_range(0..c.len())].clone(),
        Domain::Ordered(v) => json!(v[rng.random_range(0..v.len())]),
        Domain::Int { low, high } => json!(rng.random_range(*low..=*high)),
        Domain::Float { low, high, log: true } => json!((rng.random_range(low.ln()..high.ln())).exp()),
        Domain::Float { low, high, log: false } => json!(rng.random_range(*low..*high)),
    }
}

/// A random point whose pipeline is valid (up to 1000 draws), inactive dimensions cleared.
pub fn random_valid_point(space: &Space, rng: &mut impl Rng) -> Result<Point> {
    for _ in 0..1000 {
        let point = space.normalise(space.dims.iter().map(|d| Some(sample_domain(&d.domain, rng))).collect());
        if space.compose(&point).is_ok() {
            return Ok(point);
        }
    }
    Err(Error::Sampler(format!("space `{}`: no valid pipeline found in 1000 random draws", space.name)))
}
