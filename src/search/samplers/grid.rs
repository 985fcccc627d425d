//! Exhaustive enumeration in grid order.

use super::{Observation, Sampler};
use crate::error::Result;
use crate::search::space::{Point, Space};

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
