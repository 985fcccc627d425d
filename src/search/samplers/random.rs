//! Independent uniform draws over the space (or its candidate list).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{Observation, Sampler, random_valid_point};
use crate::error::Result;
use crate::search::space::{Point, Space};

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
