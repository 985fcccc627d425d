//! The workspace's trial store: opening it, reading its studies (what `studies`, `trials` and
//! `best` print), copying a study to another store, and rebuilding a damaged sled store.

use crate::error::{Error, Result};
use crate::search::optuna::OptunaParams;
use crate::store::sled::Rebuilt;
use crate::store::{Copied, ForeignTrial, SledStorage, Storage, StoreLocation, StudyRecord, TrialRecord, TrialState};
use crate::workspace::Workspace;

/// The workspace's store, for writing: its sled store (one process at a time; `log` hears when
/// it waits for a lock whose holder may be exiting) or the shared database.
pub fn open_store(workspace: &Workspace, log: &mut dyn FnMut(&str)) -> Result<Box<dyn Storage>> {
    check_root(workspace)?;
    workspace.store().open(OptunaParams::shared(), log)
}

/// The store for commands that only read: they never take a sled store's lock, so they never
/// block a search ([`crate::store::SledStorage::open_to_read`]).
pub fn open_store_to_read(workspace: &Workspace, log: &mut dyn FnMut(&str)) -> Result<Box<dyn Storage>> {
    check_root(workspace)?;
    workspace.store().open_to_read(OptunaParams::shared(), log)
}

/// A workspace path that exists must be a folder.
fn check_root(workspace: &Workspace) -> Result<()> {
    let root = workspace.root();
    if root.exists() && !root.is_dir() {
        return Err(Error::io(root, std::io::Error::new(std::io::ErrorKind::NotADirectory, "the workspace is not a folder")));
    }
    Ok(())
}

/// One line of `distiller studies`.
#[derive(Debug, Clone)]
pub struct StudySummary {
    pub study: StudyRecord,
    pub trials: usize,
    pub complete: usize,
    /// The best complete trial's score.
    pub best: Option<f64>,
    /// Trials other clients wrote that are not pipelines of the study's space.
    pub foreign: usize,
}

/// Every study of the workspace's store, summarised.
pub fn studies(workspace: &Workspace, log: &mut dyn FnMut(&str)) -> Result<Vec<StudySummary>> {
    let storage = open_store_to_read(workspace, log)?;
    let mut summaries = Vec::new();
    for study in storage.studies()? {
        let trials = storage.trials(&study.name)?;
        summaries.push(StudySummary {
            trials: trials.len(),
            complete: trials.iter().filter(|t| t.state == TrialState::Complete).count(),
            best: crate::search::study::best_of(&trials).and_then(|t| t.score),
            foreign: storage.foreign_trials(&study.name)?.len(),
            study,
        });
    }
    Ok(summaries)
}

/// A study with everything it holds: what `distiller trials` lists.
#[derive(Debug, Clone)]
pub struct StudyTrials {
    pub study: StudyRecord,
    /// In id order.
    pub trials: Vec<TrialRecord>,
    /// Trials other clients wrote that are not pipelines of its space, in id order.
    pub foreign: Vec<ForeignTrial>,
}

/// Study `name` of the workspace's store with its trials.
pub fn trials(workspace: &Workspace, name: &str, log: &mut dyn FnMut(&str)) -> Result<StudyTrials> {
    let storage = open_store_to_read(workspace, log)?;
    let (study, trials) = crate::store::study_trials(storage.as_ref(), name)?;
    Ok(StudyTrials { study, trials, foreign: storage.foreign_trials(name)? })
}

/// What `distiller best` shows of a study.
#[derive(Debug, Clone)]
pub struct Best {
    pub study: StudyRecord,
    /// The best complete trial; in a multi-objective study the Pareto set, in id order.
    pub trials: Vec<TrialRecord>,
}

/// The best complete trial of study `name`, or its Pareto set when it has several objectives.
pub fn best(workspace: &Workspace, name: &str, log: &mut dyn FnMut(&str)) -> Result<Best> {
    let storage = open_store_to_read(workspace, log)?;
    let (study, trials) = crate::store::study_trials(storage.as_ref(), name)?;
    crate::search::study::best_trial(name, &trials)?;
    let set = crate::search::study::pareto_set(&trials, &study.objectives).into_iter().cloned().collect();
    Ok(Best { study, trials: set })
}

/// A `copy-study` request.
#[derive(Debug, Clone)]
pub struct CopyRequest {
    /// The workspace whose store holds the study.
    pub from: Workspace,
    pub study: String,
    /// The store to copy it to.
    pub to: StoreLocation,
    /// The copy's name (default: the same name).
    pub as_name: Option<String>,
}

/// Copies a study with its trials, ids and states kept, into another store: a laptop's sled
/// study moves to the shared database, or back. Refused when the target already holds a study of
/// that name, so nothing there is overwritten. Trials other clients wrote that are not pipelines
/// of the space are left out, and returned.
pub fn copy_study(request: &CopyRequest, log: &mut dyn FnMut(&str)) -> Result<Copied> {
    if *request.from.store() == request.to {
        return Err(Error::SameStore { store: request.to.to_string() });
    }
    let from = open_store_to_read(&request.from, log)?;
    let to = request.to.open(OptunaParams::shared(), log)?;
    crate::store::copy_study(from.as_ref(), &request.study, to.as_ref(), request.as_name.as_deref().unwrap_or(&request.study))
}

/// Rebuilds the workspace's damaged sled store from its JSON snapshots
/// ([`SledStorage::rebuild`]).
pub fn rebuild_store(workspace: &Workspace) -> Result<Rebuilt> {
    match workspace.store() {
        StoreLocation::Sled(dir) => SledStorage::rebuild(dir),
        StoreLocation::Postgres(url) => Err(Error::NoSnapshots { url: url.to_string() }),
    }
}
