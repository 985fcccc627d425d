//! Use cases, one function and one request struct each: what the CLI calls, and what a training
//! script calls to do the same thing (cargo's `ops` pattern). Each takes what it works on (a
//! [`Workspace`] or a store) and, where it has progress to tell, a `log` callback; none prints.
//!
//! - [`search`]: run (or resume) a study, fine-tuning the teacher first when the workspace has none;
//! - [`recommend`]: rank pipelines for a new dataset from past studies, without training;
//! - [`import`]: store the paper's released trials as studies to learn from;
//! - [`train`]: one distillation run;
//! - [`teacher`]: fine-tune a task teacher;
//! - [`export`]: copy a trial's student out of the workspace;
//! - [`store`]: open the workspace's store for writing, or for reading while a search holds it;
//!   copy a study between stores.
//!
//! [`Workspace`]: crate::workspace::Workspace

pub mod export;
pub mod import;
pub mod recommend;
pub mod search;
pub mod store;
pub mod teacher;
pub mod train;

pub use export::{ExportRequest, Exported, export};
pub use import::{ImportOutcome, import_trials, task_meta};
pub use recommend::{RecommendRequest, Recommendation, recommend};
pub use search::{SearchOutcome, SearchRequest, search};
pub use store::{Copied, copy_study, open_store, open_store_to_read, rebuild_store, study_trials};
pub use teacher::{ensure_teacher, existing_teacher};
pub use train::{TrainRequest, train};
