//! Exhaustive enumeration in grid order.

use super::{Observation, Sampler};
use crate::error::{Error, Result};
use crate::search::space::{Point, Space};

/// Largest grid the grid sampler walks.
pub const GRID_LIMIT: u64 = 10_000_000;

/// Every combination in grid order ([`Space::grid`]), or the space's candidates in grid order.
pub struct GridSampler;

impl Sampler for GridSampler {
    fn ask(&mut self, space: &Space, tried: &[Point], _history: &[Observation]) -> Result<Option<Point>> {
        if space.candidates.is_some() {
            let points = space.finite_points(usize::MAX).unwrap_or_default();
            return Ok(points.into_iter().find(|p| !tried.contains(p)));
        }
        match space.grid_size().filter(|&n| n <= GRID_LIMIT) {
            Some(_) => Ok(space.grid().find(|p| !tried.contains(p))),
            None => {
                let largest =
                    space.dims.iter().max_by_key(|d| d.domain.grid_len()).map(|d| format!(" (dim `{}` alone has {} values)", d.field, d.domain.grid_len())).unwrap_or_default();
                Err(Error::Sampler(format!("space `{}` has more than {GRID_LIMIT} grid combinations{largest}: too many to enumerate, use bo or random", space.name)))
            }
        }
    }

    fn name(&self) -> &'static str {
        "grid"
    }
}
