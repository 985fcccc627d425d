//! Samplers propose the next point of a space from the trial history only (Optuna-style): they
//! never see burn or a model. `random`, `grid`, and `bo` (Bayesian optimisation with egobox).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::space::{Domain, Point, Space};
use crate::error::{Error, Result};

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

/// Picks a sampler by name.
pub fn by_name(name: &str, seed: u64) -> Result<Box<dyn Sampler>> {
    match name {
        "random" => Ok(Box::new(RandomSampler { seed })),
        "grid" => Ok(Box::new(GridSampler)),
        "bo" => Ok(Box::new(super::bo::BoSampler::new(seed))),
        other => Err(Error::Config(format!("unknown sampler `{other}` (use bo, random or grid)"))),
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
    Err(Error::Config(format!("space `{}`: no valid pipeline found in 1000 random draws", space.name)))
}

/// Independent uniform draws, seeded per trial so a resumed search continues the same sequence.
pub struct RandomSampler {
    pub seed: u64,
}

impl Sampler for RandomSampler {
    fn ask(&mut self, space: &Space, tried: &[Point], _history: &[Observation]) -> Result<Option<Point>> {
        let mut rng = StdRng::seed_from_u64(self.seed.wrapping_mul(1_000_003).wrapping_add(tried.len() as u64));
        if let Some(candidates) = &space.candidates {
            let untried: Vec<&Point> = candidates.iter().filter(|p| !tried.contains(p)).collect();
            return Ok((!untried.is_empty()).then(|| untried[rng.random_range(0..untried.len())].clone()));
        }
        random_valid_point(space, &mut rng).map(Some)
    }

    fn name(&self) -> &'static str {
        "random"
    }
}

/// Every combination in grid order ([`Space::grid`]), or the space's candidates in grid order.
pub struct GridSampler;

impl Sampler for GridSampler {
    fn ask(&mut self, space: &Space, tried: &[Point], _history: &[Observation]) -> Result<Option<Point>> {
        if space.candidates.is_some() {
            let points = space.finite_points(usize::MAX).unwrap_or_default();
            return Ok(points.into_iter().find(|p| !tried.contains(p)));
        }
        Ok(space.grid().find(|p| !tried.contains(p)))
    }

    fn name(&self) -> &'static str {
        "grid"
    }
}
