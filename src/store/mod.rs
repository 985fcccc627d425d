//! Trial storage (Optuna-like): studies and trials as plain records behind a narrow trait, so the
//! search never depends on the storage engine. `sled` is the default (in the workspace, one
//! process at a time), `postgres` holds shared studies that many workers join, `memory` serves
//! tests.

pub mod location;
pub mod memory;
pub mod postgres;
pub mod sled;

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use crate::data::{DatasetMeta, Metrics};
use crate::error::Result;
use crate::pipeline::Pipeline;

pub use location::StoreLocation;
pub use memory::MemoryStorage;
pub use postgres::PostgresStorage;
pub use sled::SledStorage;

/// A trial's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TrialState {
    Running,
    Complete,
    Pruned,
    Fail,
}

/// A study: one search over one space for one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyRecord {
    pub name: String,
    pub task: String,
    /// The space file's text: a resumed study must be given the same space.
    pub space: String,
    pub sampler: String,
    /// Always "maximize": the task's headline dev metric.
    pub direction: String,
    /// Unix seconds.
    pub created: u64,
    /// The task's dataset meta-features, which the recommender compares tasks on (absent in
    /// studies stored before they were recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<DatasetMeta>,
    /// Who taught: the teacher checkpoint's path, or the model's name for imported studies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub student: Option<StudentShape>,
}

/// The student a study distilled into: the recommender learns by default from studies whose
/// student is as deep as the one the new search would train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudentShape {
    /// A model name (`TinyBERT4`) or a description of our own student.
    pub name: String,
    pub layers: usize,
    /// `None`: the teacher's width.
    pub hidden: Option<usize>,
}

/// One trial: a point of the space, its pipeline, and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    pub id: u64,
    pub study: String,
    pub point: Vec<Option<serde_json::Value>>,
    pub pipeline: Pipeline,
    pub state: TrialState,
    /// Multi-fidelity rung (0 = cheapest; always 0 without multi-fidelity).
    #[serde(default)]
    pub rung: usize,
    /// Training rows × epochs this trial ran at (its fidelity).
    pub fidelity: Option<(usize, usize)>,
    /// (epoch, dev score) as the run went.
    pub intermediate: Vec<(usize, f64)>,
    pub metrics: Option<Metrics>,
    /// The headline dev score (what the search maximises).
    pub score: Option<f64>,
    pub student_dir: Option<PathBuf>,
    /// The machine the trial ran on (where `student_dir` is), for studies many workers share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub error: Option<String>,
    pub pid: u32,
    pub started: u64,
    pub ended: Option<u64>,
}

/// Unix seconds now.
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Where studies and trials live. Every write is durable when the call returns.
pub trait Storage: Send + Sync {
    fn put_study(&self, study: &StudyRecord) -> Result<()>;
    fn study(&self, name: &str) -> Result<Option<StudyRecord>>;
    fn studies(&self) -> Result<Vec<StudyRecord>>;
    /// Inserts or replaces a trial (keyed by study and id).
    fn put_trial(&self, trial: &TrialRecord) -> Result<()>;
    /// A study's trials in id order.
    fn trials(&self, study: &str) -> Result<Vec<TrialRecord>>;

    /// Adds a trial as one step no other worker can interleave with: `next` sees the study's
    /// trials and returns the trial to add (its id is assigned here, the next free one) or `None`.
    /// The default suits engines that one process holds at a time.
    fn add_trial(&self, study: &str, next: &mut dyn FnMut(&[TrialRecord]) -> Result<Option<TrialRecord>>) -> Result<Option<TrialRecord>> {
        let trials = self.trials(study)?;
        let Some(mut trial) = next(&trials)? else { return Ok(None) };
        trial.id = trials.iter().map(|t| t.id + 1).max().unwrap_or(0);
        self.put_trial(&trial)?;
        Ok(Some(trial))
    }

    /// Says a RUNNING trial's worker is alive. Engines that one process holds need no beats.
    fn heartbeat(&self, _study: &str, _id: u64) -> Result<()> {
        Ok(())
    }

    /// Marks FAIL (`mark` says why) the RUNNING trials whose worker is gone, and returns them.
    /// Asked between trials: where one process holds the store, every RUNNING trial is such a
    /// trial; a shared engine says so when the last beat is older than `grace` by its own clock.
    fn fail_stale_trials(&self, study: &str, _grace: std::time::Duration, mark: &dyn Fn(&mut TrialRecord)) -> Result<Vec<TrialRecord>> {
        let mut stale: Vec<TrialRecord> = self.trials(study)?.into_iter().filter(|t| t.state == TrialState::Running).collect();
        for trial in &mut stale {
            mark(trial);
            self.put_trial(trial)?;
        }
        Ok(stale)
    }
}
