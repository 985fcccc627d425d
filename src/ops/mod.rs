//! Use cases, one function and one request each: what the CLI calls, and what a training script
//! calls to do the same thing (cargo's `ops` pattern). Each opens what it works on itself (the
//! workspace's store, the task's data) and, where it has progress to tell, takes a `log`
//! callback; none prints.
//!
//! - [`teacher()`]: fine-tune a task teacher (its recipe searched first, if asked);
//! - [`eval()`]: a checkpoint's dev metrics;
//! - [`train()`]: one distillation run;
//! - [`search()`]: run (or resume) a study, fine-tuning the teacher first when there is none;
//! - [`studies()`], [`trials()`], [`best()`], [`report()`]: read the store's studies;
//! - [`export()`]: copy a trial's student out of the workspace;
//! - [`import_trials()`], [`meta()`], [`recommend()`]: the recommender's inputs and its answer;
//! - [`copy_study()`], [`rebuild_store()`]: move a study between stores; mend a damaged one.

pub mod eval;
pub mod export;
pub mod import;
pub mod recommend;
pub mod report;
pub mod search;
pub mod store;
pub mod teacher;
pub mod train;

pub use eval::{EvalRequest, Evaluation, eval};
pub use export::{ExportRequest, Exported, export};
pub use import::{ImportOutcome, ImportRequest, import_trials, meta};
pub use recommend::{RecommendRequest, recommend};
pub use report::{ReportRequest, report};
pub use search::{SearchOutcome, SearchRequest, search};
pub use store::{Best, CopyRequest, StudySummary, StudyTrials, best, copy_study, open_store, open_store_to_read, rebuild_store, studies, trials};
pub use teacher::{TeacherRequest, ensure_teacher, existing_teacher, teacher};
pub use train::{TrainRequest, train};
