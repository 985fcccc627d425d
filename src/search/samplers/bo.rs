//! Bayesian optimisation, two ways:
//!
//! - finite spaces (every dimension discrete and a grid of at most [`POOL_LIMIT`] points, or a
//!   space restricted to candidates): an egobox-gp GP over an encoding that respects the space's
//!   conditions (an inactive dimension is neutral, not its first value; augmentation chains as
//!   membership + position), expected improvement scored on every untried point;
//! - otherwise egobox-ego's ask/tell service: a GP over a mixed integer encoding of the space
//!   (categorical → Enum, ordered → Ord, int → Int, float → Float, log ranges in log space).
//!
//! Both are seeded. egobox panics are turned into errors; failed trials never reach the surrogate
//! (only scored ones do).

use egobox_ego::{EgorServiceBuilder, XType};
use egobox_gp::GaussianProcess;
use egobox_gp::correlation_models::SquaredExponentialCorr;
use egobox_gp::mean_models::ConstantMean;
use linfa::prelude::{Dataset, Fit};
use ndarray::{Array1, Array2};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::{Observation, Sampler, random_valid_point};
use crate::error::{Error, Result};
use crate::search::encoding::{Encoding, features};
use crate::search::space::{Domain, POOL_LIMIT, Point, Space};

/// The egobox variable type of each dimension.
pub fn xtypes(space: &Space) -> Vec<XType> {
    space
        .dims
        .iter()
        .map(|d| match &d.domain {
            Domain::Categorical(c) => XType::Enum(c.len()),
            Domain::Ordered(v) => XType::Ord(v.clone()),
            // egobox's integers are i32; wider ranges are searched as floats and rounded back.
            Domain::Int { low, high } => match (i32::try_from(*low), i32::try_from(*high)) {
                (Ok(low), Ok(high)) => XType::Int(low, high),
                _ => XType::Float(*low as f64, *high as f64),
            },
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

/// Points run before the surrogate takes over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitialDesign {
    Random,
    /// Each next point the farthest (in the encoding) from those already run.
    Maximin,
}

/// How the surrogate's prediction picks the next point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Acquisition {
    /// Expected improvement over the best score so far.
    #[value(name = "ei")]
    ExpectedImprovement,
    /// Thompson sampling from the per-point predictive marginals: each untried point draws
    /// mean + σ·z, the highest draw runs. Randomised, so near-ties are spread over seeds.
    Thompson,
}

/// The BO sampler's settings; [`Default`] is the variant the tabular benchmark chose (docs/search.md).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoConfig {
    pub initial: usize,
    pub design: InitialDesign,
    pub encoding: Encoding,
    /// Score every untried point of a finite space; `false` asks egobox-ego's service and snaps
    /// its suggestion to the nearest untried point.
    pub pool: bool,
    /// Noise added to the GP's diagonal (targets standardised), for runs that differ by noise.
    pub nugget: f64,
    /// Exploration weight on the predictive standard deviation (EI and Thompson draws).
    pub sigma_weight: f64,
    /// Finite spaces only: EI for the best expected next step, Thompson to spread trials over near-ties.
    pub acquisition: Acquisition,
}

impl Default for BoConfig {
    fn default() -> Self {
        Self {
            initial: 5,
            design: InitialDesign::Random,
            encoding: Encoding::Conditional,
            pool: true,
            nugget: 1e-2,
            sigma_weight: 1.0,
            acquisition: Acquisition::ExpectedImprovement,
        }
    }
}

fn point_key(point: &Point) -> String {
    serde_json::to_string(point).expect("points serialise")
}

fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Standard normal pdf and cdf (erfc by Numerical Recipes' Chebyshev fit, |error| < 1.2e-7).
fn normal_pdf_cdf(z: f64) -> (f64, f64) {
    let pdf = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * x);
    let poly = -x * x - 1.26551223
        + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    let erfc = t * poly.exp();
    let cdf = if z >= 0.0 { 1.0 - 0.5 * erfc } else { 0.5 * erfc };
    (pdf, cdf)
}

/// Catches a panic inside egobox and turns it into our error.
fn guarded<T>(what: &str, f: impl FnOnce() -> std::result::Result<T, String>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Error::Sampler(format!("bo: {what}: {e}"))),
        Err(panic) => Err(Error::Sampler(format!("bo: {what} panicked: {}", crate::error::panic_message(panic.as_ref())))),
    }
}

/// GP-based Bayesian optimisation (egobox).
pub struct BoSampler {
    seed: u64,
    config: BoConfig,
    /// Points to run first (e.g. the recommender's top picks), before the random initial design.
    warm_start: Vec<Point>,
    /// A standardised prior score per point (keyed by the point's JSON; e.g. the recommender's
    /// prediction): the GP models what the prior, scaled by least squares on the history, does
    /// not explain.
    prior: std::collections::HashMap<String, f64>,
}

impl BoSampler {
    pub fn new(seed: u64) -> Self {
        Self::with_config(seed, BoConfig::default())
    }

    pub fn with_config(seed: u64, config: BoConfig) -> Self {
        Self { seed, config, warm_start: Vec::new(), prior: std::collections::HashMap::new() }
    }

    /// Seeds the initial design with `points` (tried in order, skipping any already run).
    pub fn warm_started(mut self, points: Vec<Point>) -> Self {
        self.warm_start = points;
        self
    }

    /// Uses `prior` (point, predicted score) as the surrogate's trend on finite spaces.
    pub fn with_prior(mut self, prior: Vec<(Point, f64)>) -> Self {
        let n = prior.len().max(1) as f64;
        let mean = prior.iter().map(|p| p.1).sum::<f64>() / n;
        let sd = (prior.iter().map(|p| (p.1 - mean).powi(2)).sum::<f64>() / n).sqrt().max(1e-12);
        self.prior = prior.into_iter().map(|(p, v)| (point_key(&p), (v - mean) / sd)).collect();
        self
    }

    /// Standardised prior values of `points` (0 where the prior has none, or no prior at all).
    fn prior_of(&self, points: &[&Point]) -> Vec<f64> {
        if self.prior.is_empty() {
            return vec![0.0; points.len()];
        }
        points.iter().map(|p| self.prior.get(&point_key(p)).copied().unwrap_or(0.0)).collect()
    }

    /// The next warm-start point not yet run, while the initial design lasts.
    fn next_warm_start(&self, tried: &[Point], history: &[Observation]) -> Option<Point> {
        if history.len() >= self.config.initial.max(self.warm_start.len()) {
            return None;
        }
        self.warm_start.iter().find(|p| !tried.contains(p)).cloned()
    }

    fn rng(&self, tried: usize) -> StdRng {
        StdRng::seed_from_u64(self.seed.wrapping_mul(7_919).wrapping_add(tried as u64))
    }

    /// Expected improvement of every untried point of a finite space; the best one.
    fn ask_pool(&self, space: &Space, pool: Vec<Point>, tried: &[Point], history: &[Observation]) -> Result<Option<Point>> {
        let mut rng = self.rng(tried.len());
        let untried: Vec<Point> = pool.into_iter().filter(|p| !tried.contains(p)).collect();
        if untried.is_empty() {
            return Ok(None);
        }
        if let Some(point) = self.next_warm_start(tried, history).filter(|p| untried.contains(p)) {
            return Ok(Some(point));
        }
        let encode_all = |points: &mut dyn Iterator<Item = &Point>| points.map(|p| features(space, p, self.config.encoding)).collect::<Vec<_>>();
        let candidates = encode_all(&mut untried.iter());
        if history.len() < self.config.initial.max(2) {
            let pick = match self.config.design {
                InitialDesign::Maximin if !tried.is_empty() => {
                    let done = encode_all(&mut tried.iter());
                    let gap = |c: &Vec<f64>| done.iter().map(|d| squared_distance(c, d)).fold(f64::INFINITY, f64::min);
                    let far = candidates.iter().map(gap).fold(0.0, f64::max);
                    let farthest: Vec<usize> = (0..candidates.len()).filter(|&i| gap(&candidates[i]) >= far - 1e-12).collect();
                    farthest[rng.random_range(0..farthest.len())]
                }
                _ => rng.random_range(0..untried.len()),
            };
            return Ok(Some(untried[pick].clone()));
        }
        let d = candidates[0].len();
        let x: Vec<f64> = history.iter().flat_map(|o| features(space, &o.point, self.config.encoding)).collect();
        let x = Array2::from_shape_vec((history.len(), d), x).expect("one feature row per observation");
        let y = Array1::from_iter(history.iter().map(|o| o.score));
        let (mean, sd) = (y.mean().unwrap_or(0.0), y.std(0.0));
        let y = if sd > 0.0 { y.mapv(|v| (v - mean) / sd) } else { y.mapv(|v| v - mean) };
        let best = y.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        // Trend from the prior: y ≈ beta * prior + c (least squares, beta >= 0); the GP fits the rest.
        let prior_seen = self.prior_of(&history.iter().map(|o| &o.point).collect::<Vec<_>>());
        let prior_new = self.prior_of(&untried.iter().collect::<Vec<_>>());
        // y is centred; centre the prior too (the GP's constant mean takes the intercept).
        let p_mean = prior_seen.iter().sum::<f64>() / prior_seen.len() as f64;
        let pp: f64 = prior_seen.iter().map(|p| (p - p_mean).powi(2)).sum();
        let beta = if pp > 1e-12 { (prior_seen.iter().zip(&y).map(|(p, v)| (p - p_mean) * v).sum::<f64>() / pp).max(0.0) } else { 0.0 };
        let y = &y - &Array1::from_iter(prior_seen.iter().map(|p| beta * p));
        let xs = Array2::from_shape_vec((candidates.len(), d), candidates.concat()).expect("one feature row per candidate");
        let nugget = self.config.nugget;
        let (mu, var) = guarded("GP fit", || {
            let gp = GaussianProcess::<f64, ConstantMean, SquaredExponentialCorr>::params(ConstantMean::default(), SquaredExponentialCorr::default())
                .n_start(2)
                .max_eval(200)
                .nugget(nugget)
                .fit(&Dataset::new(x, y))
                .map_err(|e| e.to_string())?;
            let mu = gp.predict(&xs).map_err(|e| e.to_string())? + Array1::from_iter(prior_new.iter().map(|p| beta * p));
            let var = gp.predict_var(&xs).map_err(|e| e.to_string())?;
            Ok((mu, var))
        })?;
        let ei = |i: usize| {
            let sigma = self.config.sigma_weight * var[i].max(0.0).sqrt();
            if sigma < 1e-12 {
                return (mu[i] - best).max(0.0);
            }
            let z = (mu[i] - best) / sigma;
            let (pdf, cdf) = normal_pdf_cdf(z);
            (mu[i] - best) * cdf + sigma * pdf
        };
        let thompson = |i: usize| mu[i] + self.config.sigma_weight * var[i].max(0.0).sqrt() * rng.sample::<f64, _>(rand_distr::StandardNormal);
        let scores: Vec<f64> = match self.config.acquisition {
            Acquisition::ExpectedImprovement => (0..untried.len()).map(ei).collect(),
            Acquisition::Thompson => (0..untried.len()).map(thompson).collect(),
        };
        let top = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if !top.is_finite() {
            return Err(Error::Sampler("bo: the surrogate gave no finite acquisition score".into()));
        }
        // Ties (e.g. all EI zero) are broken at random so a seed matters.
        let ties: Vec<usize> = (0..scores.len()).filter(|&i| scores[i] >= top - 1e-15).collect();
        Ok(Some(untried[ties[rng.random_range(0..ties.len())]].clone()))
    }

    /// egobox-ego's mixed-integer suggestion (continuous and large spaces).
    fn ask_egobox(&self, space: &Space, history: &[Observation]) -> Result<Point> {
        let d = space.dims.len();
        let x: Vec<f64> = history.iter().flat_map(|o| encode(space, &o.point)).collect();
        let y: Vec<f64> = history.iter().map(|o| -o.score).collect();
        let x = Array2::from_shape_vec((history.len(), d), x).expect("rows have one value per dimension");
        let y = Array2::from_shape_vec((history.len(), 1), y).expect("one score per row");
        let types = xtypes(space);
        let seed = self.seed.wrapping_add(history.len() as u64);
        let row = guarded("egobox", || {
            let service = EgorServiceBuilder::optimize().configure(|c| c.seed(seed)).min_within_mixint_space(&types).map_err(|e| e.to_string())?;
            Ok(service.suggest(&x, &y).row(0).to_vec())
        })?;
        Ok(decode(space, &row))
    }
}

impl Sampler for BoSampler {
    fn ask(&mut self, space: &Space, tried: &[Point], history: &[Observation]) -> Result<Option<Point>> {
        let pool = space.finite_points(POOL_LIMIT);
        if let (Some(pool), true) = (&pool, self.config.pool) {
            return self.ask_pool(space, pool.clone(), tried, history);
        }
        let mut rng = self.rng(tried.len());
        if let Some(point) = self.next_warm_start(tried, history) {
            return Ok(Some(point));
        }
        if history.len() < self.config.initial || space.dims.is_empty() {
            return match &pool {
                Some(pool) => {
                    let untried: Vec<&Point> = pool.iter().filter(|p| !tried.contains(p)).collect();
                    Ok((!untried.is_empty()).then(|| untried[rng.random_range(0..untried.len())].clone()))
                }
                None => random_valid_point(space, &mut rng).map(Some),
            };
        }
        let point = self.ask_egobox(space, history)?;
        if let Some(pool) = &pool {
            // Snap to the nearest untried point of the finite space.
            let target = features(space, &point, Encoding::Plain);
            let nearest =
                pool.iter().filter(|p| !tried.contains(p)).map(|p| (squared_distance(&features(space, p, Encoding::Plain), &target), p)).min_by(|a, b| a.0.total_cmp(&b.0));
            return Ok(nearest.map(|(_, p)| p.clone()));
        }
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
