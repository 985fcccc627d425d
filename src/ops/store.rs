//! Opening the workspace's trial store, and reading one study from it.

use std::path::Path;

use crate::error::{Error, Result};
use crate::store::{ForeignTrial, PostgresStorage, SledStorage, Storage, StoreLocation, StudyRecord, TrialRecord};
use crate::workspace::Workspace;

/// The workspace's store, for writing: its sled store (one process at a time; `log` hears when
/// it waits for a lock whose holder may be exiting) or the shared database.
pub fn open_store(workspace: &Workspace, log: &mut dyn FnMut(&str)) -> Result<Box<dyn Storage>> {
    check_root(workspace)?;
    match workspace.store() {
        StoreLocation::Sled(dir) => Ok(Box::new(SledStorage::open_waiting(dir, log)?)),
        StoreLocation::Postgres(url) => Ok(Box::new(PostgresStorage::open(url)?)),
    }
}

/// A workspace path that exists must be a folder.
fn check_root(workspace: &Workspace) -> Result<()> {
    let root = workspace.root();
    if root.exists() && !root.is_dir() {
        return Err(Error::io(root, std::io::Error::new(std::io::ErrorKind::NotADirectory, "the workspace is not a folder")));
    }
    Ok(())
}

/// The store for commands that only read. Readers never take the store's lock, so they never
/// block a search: they read the JSON snapshots every write leaves (also when the database itself
/// is damaged), or an empty store when there is none yet. A store from before snapshots is opened
/// (`log` hears when it is locked and only its snapshot could be read).
pub fn open_store_to_read(workspace: &Workspace, log: &mut dyn FnMut(&str)) -> Result<Box<dyn Storage>> {
    check_root(workspace)?;
    let dir = match workspace.store() {
        StoreLocation::Sled(dir) => dir.clone(),
        StoreLocation::Postgres(url) => return Ok(Box::new(PostgresStorage::open(url)?)),
    };
    if crate::store::sled::has_snapshots(&dir) || !dir.exists() {
        return Ok(Box::new(crate::store::sled::read_snapshots(&dir)?));
    }
    match open_store(workspace, log) {
        Ok(store) => Ok(store),
        Err(e @ Error::StoreLocked { .. }) => {
            log(&format!("note: {e}; reading the snapshot it last wrote"));
            Ok(Box::new(crate::store::sled::read_snapshots(&dir)?))
        }
        Err(e) => Err(e),
    }
}

/// A study and its trials, or an error listing the studies the store has.
pub fn study_trials(storage: &dyn Storage, name: &str) -> Result<(StudyRecord, Vec<TrialRecord>)> {
    match storage.study(name)? {
        Some(study) => Ok((study, storage.trials(name)?)),
        None => {
            let known: Vec<String> = storage.studies()?.into_iter().map(|s| s.name).collect();
            let known = if known.is_empty() { "the store has none yet".to_string() } else { format!("studies: {}", known.join(", ")) };
            Err(Error::Study(format!("no study `{name}` ({known})")))
        }
    }
}

/// Copies study `name` (renamed `to_name`) with its trials, ids and states kept, into another
/// store: a laptop's sled study moves to the shared database, or back. Refused when `to` already
/// holds a study of that name, so nothing there is overwritten. Trials other clients wrote that
/// are not pipelines of the space are left out, and returned.
pub fn copy_study(from: &dyn Storage, name: &str, to: &dyn Storage, to_name: &str) -> Result<Copied> {
    let (mut study, trials) = study_trials(from, name)?;
    let left_out = from.foreign_trials(name)?;
    if to.study(to_name)?.is_some() {
        return Err(Error::Study(format!("the target store already has a study `{to_name}`: pick another name with --as")));
    }
    study.name = to_name.to_string();
    to.put_study(&study)?;
    for mut trial in trials {
        trial.study = to_name.to_string();
        to.put_trial(&trial)?;
    }
    Ok(Copied { trials: to.trials(to_name)?.len(), left_out })
}

/// What [`copy_study`] copied.
#[derive(Debug, Clone)]
pub struct Copied {
    /// The trials the copy holds.
    pub trials: usize,
    /// Trials other clients wrote into the study that are not pipelines of its space.
    pub left_out: Vec<ForeignTrial>,
}

/// What [`rebuild_store`] did.
#[derive(Debug, Clone)]
pub struct Rebuilt {
    /// Where the damaged database was moved.
    pub aside: std::path::PathBuf,
    pub studies: usize,
    pub trials: usize,
}

/// Rebuilds a damaged store from the JSON snapshots its writes left: the damaged database is
/// moved aside (kept, not deleted) and a new one is filled with every study and trial. Refused
/// when the store opens fine or another process holds it.
pub fn rebuild_store(workspace: &Workspace) -> Result<Rebuilt> {
    let dir: &Path = match workspace.store() {
        StoreLocation::Sled(dir) => dir,
        StoreLocation::Postgres(_) => return Err(Error::Usage("rebuild-store rebuilds a sled store from its snapshots; a PostgreSQL database keeps its own".into())),
    };
    match SledStorage::open(dir) {
        Ok(_) => return Err(Error::Study(format!("{}: the store opens fine, nothing to rebuild", dir.display()))),
        Err(e @ Error::StoreLocked { .. }) => return Err(e),
        Err(_) => {}
    }
    let snapshot = crate::store::sled::read_snapshots(dir)?;
    let aside = dir.with_file_name(format!("store.damaged-{}", crate::store::now()));
    std::fs::rename(dir, &aside).map_err(|e| Error::io(dir, e))?;
    let store = SledStorage::open(dir)?;
    let (mut studies, mut trials) = (0, 0);
    for study in snapshot.studies()? {
        store.put_study(&study)?;
        for trial in snapshot.trials(&study.name)? {
            store.put_trial(&trial)?;
            trials += 1;
        }
        studies += 1;
    }
    Ok(Rebuilt { aside, studies, trials })
}
