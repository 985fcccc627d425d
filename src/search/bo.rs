//! Bayesian optimisation with egobox-ego's ask/tell service: a GP surrogate over a mixed
//! integer encoding of the space (categorical → Enum, ordered → Ord, int → Int, float → Float,
//! log ranges in log space), expected-improvement infill, seeded. egobox panics are turned into
//! errors; failed trials never reach it (only scored ones do).

use egobox_ego::{EgorServiceBuilder, XType};
use ndarray::Array2;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use super::sampler::{Observation, Sampler, random_valid_point};
use super::space::{Domain, Point, Space};
use crate::error::{Error, Result};

/// Random trials before the GP takes over.
const INITIAL_RANDOM: usize = 5;

/// Logs at warn level and above to stderr. Installed before egobox runs, so egobox's own
/// `env_logger` (which writes to stdout) never gets installed and `-f json` output stays clean.
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Warn
    }
    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            eprintln!("{}: {}", record.level(), record.args());
        }
    }
    fn flush(&self) {}
}

static LOGGER: StderrLogger = StderrLogger;

/// Installs [`StderrLogger`] unless a logger is already set.
pub fn install_logger() {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
}

/// The egobox variable type of each dimension.
pub fn xtypes(space: &Space) -> Vec<XType> {
    space
        .dims
        .iter()
        .map(|d| match &d.domain {
            Domain::Categorical(c) => XType::Enum(c.len()),
            Domain::Ordered(v) => XType::Ord(v.clone()),
            Domain::Int { low, high } => XType::Int(*low as i32, *high as i32),
            Domain::Float { low, high, log: true } => XType::Float(low.ln(), high.ln()),
            Domain::Float { low, high, log: false } => XType::Float(*low, *high),
        })
        .collect()
}

/// A point as egobox's discrete-space row; inactive dimensions take their domain's first value.
pub fn encode(space: &Space, point: &Point) -> Vec<f64> {
    space
        .dims
        .iter()
        .zip(point)
        .map(|(d, v)| match (&d.domain, v) {
            (Domain::Categorical(c), Some(v)) => c.iter().position(|x| x == v).unwrap_or(0) as f64,
            (Domain::Categorical(_), None) => 0.0,
            (Domain::Ordered(vals), v) => v.as_ref().and_then(Value::as_f64).unwrap_or(vals[0]),
            (Domain::Int { low, .. }, v) => v.as_ref().and_then(Value::as_i64).unwrap_or(*low) as f64,
            (Domain::Float { low, log: true, .. }, v) => v.as_ref().and_then(Value::as_f64).unwrap_or(*low).ln(),
            (Domain::Float { low, log: false, .. }, v) => v.as_ref().and_then(Value::as_f64).unwrap_or(*low),
        })
        .collect()
}

/// egobox's row back to a point (inactive dimensions cleared).
pub fn decode(space: &Space, row: &[f64]) -> Point {
    let point = space
        .dims
        .iter()
        .zip(row)
        .map(|(d, &x)| {
            Some(match &d.domain {
                Domain::Categorical(c) => c[(x.round().max(0.0) as usize).min(c.len() - 1)].clone(),
                Domain::Ordered(vals) => json!(vals.iter().copied().min_by(|a, b| (a - x).abs().total_cmp(&(b - x).abs())).unwrap_or(vals[0])),
                Domain::Int { low, high } => json!((x.round() as i64).clamp(*low, *high)),
                Domain::Float { low, high, log: true } => json!(x.exp().clamp(*low, *high)),
                Domain::Float { low, high, log: false } => json!(x.clamp(*low, *high)),
            })
        })
        .collect();
    space.normalise(point)
}

/// GP-based Bayesian optimisation through egobox.
pub struct BoSampler {
    seed: u64,
}

impl BoSampler {
    pub fn new(seed: u64) -> Self {
        install_logger();
        Self { seed }
    }
}

impl Sampler for BoSampler {
    fn ask(&mut self, space: &Space, tried: &[Point], history: &[Observation]) -> Result<Option<Point>> {
        let mut rng = StdRng::seed_from_u64(self.seed.wrapping_mul(7_919).wrapping_add(tried.len() as u64));
        if history.len() < INITIAL_RANDOM || space.dims.is_empty() {
            return random_valid_point(space, &mut rng).map(Some);
        }
        let d = space.dims.len();
        let x: Vec<f64> = history.iter().flat_map(|o| encode(space, &o.point)).collect();
        let y: Vec<f64> = history.iter().map(|o| -o.score).collect();
        let x = Array2::from_shape_vec((history.len(), d), x).expect("rows have one value per dimension");
        let y = Array2::from_shape_vec((history.len(), 1), y).expect("one score per row");
        let types = xtypes(space);
        let seed = self.seed.wrapping_add(history.len() as u64);
        let suggestion = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let service = EgorServiceBuilder::optimize().configure(|c| c.seed(seed)).min_within_mixint_space(&types).map_err(|e| e.to_string())?;
            Ok::<_, String>(service.suggest(&x, &y))
        }));
        let row = match suggestion {
            Ok(Ok(x)) => x.row(0).to_vec(),
            Ok(Err(e)) => return Err(Error::Config(format!("bo sampler: {e}"))),
            Err(panic) => {
                let text = panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
                return Err(Error::Config(format!("bo sampler: egobox panicked: {text}")));
            }
        };
        let point = decode(space, &row);
        // egobox may propose a point already run, or one whose pipeline is invalid: explore instead.
        if tried.contains(&point) || space.compose(&point).is_err() {
            return random_valid_point(space, &mut rng).map(Some);
        }
        Ok(Some(point))
    }

    fn name(&self) -> &'static str {
        "bo"
    }
}
