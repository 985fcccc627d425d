//! Search over distillation pipelines: spaces and the composer, the conditional encoding,
//! samplers (random, grid, bo via egobox), and the study loop that records every trial in a [`crate::store::Storage`].

pub mod encoding;
pub mod optuna;
pub mod pareto;
pub mod samplers;
pub mod space;
pub mod study;

pub use samplers::{GridSampler, Observation, RandomSampler, Sampler, SamplerKind};
pub use space::{Dim, Domain, Point, Space};
pub use study::{SearchLimits, Study, StudyEvent, TrialOutcome};

/// The space used when `--space` is not given (a copy of `search-spaces/default.toml`).
pub const DEFAULT_SPACE: &str = include_str!("../../search-spaces/default.toml");

/// The paper's space, onto which `import-trials` stores the released trials (a copy of
/// `search-spaces/paper.toml`).
pub const PAPER_SPACE: &str = include_str!("../../search-spaces/paper.toml");

/// The space of a teacher's own recipe that `teacher --trials` searches (a copy of
/// `search-spaces/teacher.toml`).
pub const TEACHER_SPACE: &str = include_str!("../../search-spaces/teacher.toml");
