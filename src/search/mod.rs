//! Search over distillation pipelines: spaces and the composer, samplers (random, grid, bo via
//! egobox), and the study loop that records every trial in a [`crate::store::Storage`].

pub mod bo;
pub mod sampler;
pub mod space;
pub mod study;
pub mod tabular;

pub use sampler::{GridSampler, Observation, RandomSampler, Sampler, by_name};
pub use space::{Dim, Domain, Point, Space};
pub use study::{SearchLimits, Study, StudyEvent, TrialOutcome};

/// The space used when `--space` is not given (a copy of `search-spaces/default.toml`).
pub const DEFAULT_SPACE: &str = include_str!("../../search-spaces/default.toml");
