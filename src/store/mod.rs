//! Trial storage (Optuna-like): studies and trials as plain records behind a narrow trait, so the
//! search never depends on the storage engine. `sled` is the default (in the workspace, one
//! process at a time), `postgres` holds shared studies that many workers join, `memory` serves
//! tests.

pub mod location;
pub mod memory;
pub mod optuna;
pub mod postgres;
pub mod sled;

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use crate::data::{DatasetMeta, Metrics};
use crate::error::{Error, Result};
use crate::pipeline::Pipeline;

pub use location::StoreLocation;
pub use memory::MemoryStorage;
pub use postgres::PostgresStorage;
pub use sled::SledStorage;

/// A trial's lifecycle: WAITING (queued to run again after its worker died) → RUNNING →
/// COMPLETE, PRUNED or FAIL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TrialState {
    Waiting,
    Running,
    Complete,
    Pruned,
    Fail,
}

impl TrialState {
    /// The state's name, as Optuna and our JSON spell it (`COMPLETE`).
    pub fn name(self) -> &'static str {
        match self {
            TrialState::Waiting => "WAITING",
            TrialState::Running => "RUNNING",
            TrialState::Complete => "COMPLETE",
            TrialState::Pruned => "PRUNED",
            TrialState::Fail => "FAIL",
        }
    }

    /// The state a name spells, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        [TrialState::Waiting, TrialState::Running, TrialState::Complete, TrialState::Pruned, TrialState::Fail].into_iter().find(|s| s.name() == name)
    }
}

/// Which way an objective is optimised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Maximize,
    Minimize,
}

impl Direction {
    /// As Optuna spells it (`MAXIMIZE`).
    pub fn name(self) -> &'static str {
        match self {
            Direction::Maximize => "MAXIMIZE",
            Direction::Minimize => "MINIMIZE",
        }
    }
}

/// What a study optimises: the task's headline dev score, and in a multi-objective study what the
/// student costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum StudyObjective {
    /// The headline dev metric (maximised).
    Score,
    /// The student's latency at batch 1 on the device it trained on, in ms (minimised).
    Latency,
    /// The student's parameters (minimised).
    Params,
}

impl StudyObjective {
    pub fn name(self) -> &'static str {
        match self {
            StudyObjective::Score => "score",
            StudyObjective::Latency => "latency",
            StudyObjective::Params => "params",
        }
    }

    pub fn direction(self) -> Direction {
        match self {
            StudyObjective::Score => Direction::Maximize,
            StudyObjective::Latency | StudyObjective::Params => Direction::Minimize,
        }
    }

    /// A finished trial's value of this objective, if it has one.
    pub fn value(self, trial: &TrialRecord) -> Option<f64> {
        match self {
            StudyObjective::Score => trial.score,
            StudyObjective::Latency => trial.compression.as_ref().map(|c| c.student.latency_ms_batch1),
            StudyObjective::Params => trial.compression.as_ref().map(|c| c.student.params as f64),
        }
    }
}

fn score_only() -> Vec<StudyObjective> {
    vec![StudyObjective::Score]
}

fn is_score_only(objectives: &[StudyObjective]) -> bool {
    objectives == [StudyObjective::Score]
}

/// What a study searches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StudyKind {
    /// Distillation pipelines (what the recommender learns from).
    #[default]
    Distillation,
    /// A teacher's own fine-tuning recipe (`distiller teacher --trials`).
    Teacher,
}

impl StudyKind {
    fn is_distillation(&self) -> bool {
        *self == StudyKind::Distillation
    }
}

/// A study: one search over one space for one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyRecord {
    pub name: String,
    #[serde(default, skip_serializing_if = "StudyKind::is_distillation")]
    pub kind: StudyKind,
    pub task: String,
    /// The space file's text: a resumed study must be given the same space.
    pub space: String,
    /// The name of the sampler that proposes its trials ([`crate::search::Sampler::name`]; a
    /// name, not an enum, because the trait is open to a library user's own samplers), or
    /// `imported` for past results.
    pub sampler: String,
    /// What it optimises, in order (Optuna's objective 0, 1, …): the score first.
    #[serde(default = "score_only", skip_serializing_if = "is_score_only")]
    pub objectives: Vec<StudyObjective>,
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
    /// The trial this one runs again (its worker died while it ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_of: Option<u64>,
    /// Written by another client (Optuna itself, optuna-dashboard): no worker of ours runs it, so
    /// a search neither fails it nor waits for it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
    pub pid: u32,
    pub started: u64,
    pub ended: Option<u64>,
    /// The student's size and speed beside the teacher's (COMPLETE trials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<crate::model::Compression>,
}

/// A trial another client (Optuna itself, a script using it) wrote into a study, whose
/// parameters make no pipeline of the study's space: listed with the reason, never run again,
/// compared, learnt from or copied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForeignTrial {
    /// Its trial number.
    pub id: u64,
    pub state: TrialState,
    pub score: Option<f64>,
    /// Its parameters as the client wrote them.
    pub params: std::collections::BTreeMap<String, serde_json::Value>,
    /// Why they make no pipeline of the space.
    pub reason: String,
}

/// Unix seconds now.
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// What [`Storage::add_trial`]'s callback asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum NextTrial {
    /// A new trial; the storage gives it the study's next free id.
    Add(TrialRecord),
    /// A WAITING trial (same id) this worker takes, now RUNNING.
    Claim(TrialRecord),
}

/// Where studies and trials live. Every write is durable when the call returns. A finished trial
/// (COMPLETE, PRUNED, FAIL) is never rewritten by a search, so engines may cache it.
pub trait Storage: Send + Sync {
    fn put_study(&self, study: &StudyRecord) -> Result<()>;
    /// Stores `study` unless the store has a study of that name, and returns the stored one:
    /// workers that start a new study together create it once. The default suits engines that one
    /// process holds at a time.
    fn create_study(&self, study: &StudyRecord) -> Result<StudyRecord> {
        if let Some(existing) = self.study(&study.name)? {
            return Ok(existing);
        }
        self.put_study(study)?;
        Ok(study.clone())
    }
    fn study(&self, name: &str) -> Result<Option<StudyRecord>>;
    fn studies(&self) -> Result<Vec<StudyRecord>>;
    /// Inserts or replaces a trial (keyed by study and id).
    fn put_trial(&self, trial: &TrialRecord) -> Result<()>;
    /// A study's trials in id order: distiller's, and those other clients wrote whose parameters
    /// make pipelines of the study's space.
    fn trials(&self, study: &str) -> Result<Vec<TrialRecord>>;
    /// The trials other clients wrote into the study that are not pipelines of its space, in id
    /// order. Engines only distiller writes have none.
    fn foreign_trials(&self, _study: &str) -> Result<Vec<ForeignTrial>> {
        Ok(Vec::new())
    }

    /// Adds or claims a trial as one step no other worker can interleave with: `next` sees the
    /// study's trials and returns the trial to add or the WAITING one to claim, or `None`.
    /// The default suits engines that one process holds at a time.
    fn add_trial(&self, study: &str, next: &mut dyn FnMut(&[TrialRecord]) -> Result<Option<NextTrial>>) -> Result<Option<TrialRecord>> {
        let trials = self.trials(study)?;
        let trial = match next(&trials)? {
            None => return Ok(None),
            Some(NextTrial::Claim(trial)) => trial,
            Some(NextTrial::Add(mut trial)) => {
                trial.id = next_id(&trials);
                trial
            }
        };
        self.put_trial(&trial)?;
        Ok(Some(trial))
    }

    /// Stores a finished trial unless another worker failed it meanwhile (its heartbeats stopped
    /// reaching the store); says whether it was stored. The check and the write are one step.
    fn finish_trial(&self, trial: &TrialRecord) -> Result<bool> {
        let still_running = self.trials(&trial.study)?.iter().any(|t| t.id == trial.id && t.state == TrialState::Running);
        if still_running {
            self.put_trial(trial)?;
        }
        Ok(still_running)
    }

    /// Says a RUNNING trial's worker is alive. Engines that one process holds need no beats.
    fn heartbeat(&self, _study: &str, _id: u64) -> Result<()> {
        Ok(())
    }

    /// Fails the RUNNING trials whose worker is gone and returns them: `fail` marks each and may
    /// return a WAITING trial to queue in the same step (its id is assigned here). Asked between
    /// trials: where one process holds the store, every RUNNING trial is such a trial; a shared
    /// engine says so when the last beat is older than `grace` by its own clock.
    fn fail_stale_trials(&self, study: &str, _grace: std::time::Duration, fail: &dyn Fn(&mut TrialRecord) -> Option<TrialRecord>) -> Result<Vec<TrialRecord>> {
        let trials = self.trials(study)?;
        let mut id = next_id(&trials);
        let mut stale: Vec<TrialRecord> = trials.into_iter().filter(|t| t.state == TrialState::Running).collect();
        for trial in &mut stale {
            let queued = fail(trial);
            self.put_trial(trial)?;
            if let Some(mut queued) = queued {
                queued.id = id;
                id += 1;
                self.put_trial(&queued)?;
            }
        }
        Ok(stale)
    }
}

/// The id after a study's highest.
pub fn next_id(trials: &[TrialRecord]) -> u64 {
    trials.iter().map(|t| t.id + 1).max().unwrap_or(0)
}

/// A study and its trials, or the error listing the studies the store has.
pub fn study_trials(storage: &dyn Storage, name: &str) -> Result<(StudyRecord, Vec<TrialRecord>)> {
    match storage.study(name)? {
        Some(study) => Ok((study, storage.trials(name)?)),
        None => Err(Error::NoSuchStudy { name: name.to_string(), known: storage.studies()?.into_iter().map(|s| s.name).collect() }),
    }
}

/// What [`copy_study`] copied.
#[derive(Debug, Clone)]
pub struct Copied {
    /// The copy's name.
    pub name: String,
    /// The trials the copy holds.
    pub trials: usize,
    /// Trials other clients wrote into the study that are not pipelines of its space.
    pub left_out: Vec<ForeignTrial>,
}

/// Copies study `name` (renamed `to_name`) with its trials, ids and states kept, into another
/// store. Refused when `to` already holds a study of that name, so nothing there is overwritten.
/// Trials other clients wrote that are not pipelines of the space are left out, and returned.
pub fn copy_study(from: &dyn Storage, name: &str, to: &dyn Storage, to_name: &str) -> Result<Copied> {
    let (mut study, trials) = study_trials(from, name)?;
    let left_out = from.foreign_trials(name)?;
    if to.study(to_name)?.is_some() {
        return Err(Error::StudyExists { name: to_name.to_string() });
    }
    study.name = to_name.to_string();
    to.put_study(&study)?;
    for mut trial in trials {
        trial.study = to_name.to_string();
        to.put_trial(&trial)?;
    }
    Ok(Copied { name: to_name.to_string(), trials: to.trials(to_name)?.len(), left_out })
}
