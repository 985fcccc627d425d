//! The default storage: a sled database in the workspace (`<workspace>/store`), flushed on every
//! write. sled is unmaintained since 2021, which is why it sits behind [`Storage`].
//! One process at a time: a second one gets "locked by pid N". Every trial write also leaves a
//! JSON snapshot of its study (`snapshots/<study>.json`), so read-only commands can show a study
//! that a running search holds locked ([`read_snapshots`]).

use std::path::{Path, PathBuf};

use super::{Storage, StudyRecord, TrialRecord};
use crate::error::{Error, Result};

pub struct SledStorage {
    db: sled::Db,
    path: PathBuf,
}

const PID_FILE: &str = "distiller.pid";

/// How long `open` waits for a lock whose holder is gone or exiting.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// How long `open` waits for a lock whose holder still looks alive: a process killed a moment ago
/// can look alive while the kernel tears it down.
const LOCK_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether the process that wrote the pid file has ended or is ending (Linux: no `/proc` entry,
/// a zombie or dead state, or a SIGKILL pending). Elsewhere a holder is never presumed gone.
fn holder_gone(pid: Option<u32>) -> bool {
    let Some(pid) = pid.filter(|_| cfg!(target_os = "linux")) else { return false };
    match std::fs::read_to_string(format!("/proc/{pid}/status")) {
        Ok(status) => {
            let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).map(str::trim);
            let sigkill_pending = ["SigPnd:", "ShdPnd:"].iter().filter_map(|f| field(f)).any(|mask| u64::from_str_radix(mask, 16).is_ok_and(|m| m & (1 << 8) != 0));
            field("State:").is_some_and(|s| s.starts_with('Z') || s.starts_with('X')) || sigkill_pending
        }
        Err(_) => true,
    }
}

impl SledStorage {
    /// Opens (or creates) a store directory, taking its lock.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_waiting(path, &mut |_| {})
    }

    /// [`SledStorage::open`], telling `note` when it waits for a lock whose holder may be exiting.
    pub fn open_waiting(path: &Path, note: &mut dyn FnMut(&str)) -> Result<Self> {
        if path.exists() && !path.is_dir() {
            return Err(Error::checkpoint(path, "not a store directory"));
        }
        if path.is_dir() && std::fs::read_dir(path).map_err(|e| Error::io(path, e))?.next().is_some() && !path.join("conf").exists() {
            return Err(Error::checkpoint(path, "not a distiller store (no sled database here)"));
        }
        // A holder that is gone or exiting (a killed search still being torn down) releases the
        // lock within moments: wait for it, up to LOCK_WAIT.
        let (waiting_since, mut told) = (std::time::Instant::now(), false);
        let db = loop {
            match sled::Config::new().path(path).open() {
                Ok(db) => break db,
                Err(e) => {
                    let text = e.to_string();
                    if !(text.contains("lock") || text.contains("WouldBlock") || text.contains("Resource temporarily unavailable")) {
                        return Err(Error::checkpoint(
                            path,
                            format!("cannot open store: {text}; read-only commands still show its JSON snapshots, and `distiller rebuild-store` rebuilds it from them"),
                        ));
                    }
                    let pid = std::fs::read_to_string(path.join(PID_FILE)).ok().and_then(|text| text.trim().parse::<u32>().ok());
                    let (patience, why) = if holder_gone(pid) { (LOCK_WAIT, "is gone or exiting") } else { (LOCK_GRACE, "may be exiting") };
                    // This very process is not exiting: no point in waiting for it.
                    if waiting_since.elapsed() >= patience || pid == Some(std::process::id()) {
                        return Err(Error::StoreLocked { path: path.to_path_buf(), pid });
                    }
                    if !told {
                        let holder = pid.map_or("another process".to_string(), |pid| format!("pid {pid}"));
                        note(&format!("{}: store locked by {holder}, which {why}: waiting up to {} s", path.display(), patience.as_secs()));
                        told = true;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            }
        };
        let storage = Self { db, path: path.to_path_buf() };
        storage.check_against_snapshots()?;
        std::fs::write(path.join(PID_FILE), std::process::id().to_string()).map_err(|e| Error::io(path, e))?;
        Ok(storage)
    }

    /// sled recovers from a damaged file by dropping what it cannot read, so a damaged database
    /// can open as an emptier one. The snapshots say what it held: any study or trial missing
    /// is an error, before a write could overwrite a snapshot with less.
    fn check_against_snapshots(&self) -> Result<()> {
        let snapshot = read_snapshots(&self.path)?;
        for study in snapshot.studies()? {
            let (kept, held) = (self.trials(&study.name)?.len(), snapshot.trials(&study.name)?.len());
            if self.study(&study.name)?.is_none() || kept < held {
                return Err(Error::checkpoint(
                    &self.path,
                    format!(
                        "the database lost data its snapshots hold (study `{}`: {kept} of {held} trials); read-only commands still show the snapshots, and `distiller rebuild-store` rebuilds the database from them",
                        study.name
                    ),
                ));
            }
        }
        Ok(())
    }

    fn tree(&self, name: &str) -> Result<sled::Tree> {
        self.db.open_tree(name).map_err(|e| self.err(e))
    }

    fn err(&self, e: sled::Error) -> Error {
        Error::checkpoint(&self.path, format!("store: {e}"))
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, key: &[u8], bytes: &[u8]) -> Result<T> {
        serde_json::from_slice(bytes).map_err(|e| Error::checkpoint(&self.path, format!("corrupt record {}: {e}", String::from_utf8_lossy(key))))
    }

    fn put(&self, tree: &str, key: &[u8], value: Vec<u8>) -> Result<()> {
        self.tree(tree)?.insert(key, value).map_err(|e| self.err(e))?;
        self.db.flush().map_err(|e| self.err(e))?;
        Ok(())
    }
}

/// A study and its trials as the last write left them.
#[derive(serde::Serialize, serde::Deserialize)]
struct Snapshot {
    study: StudyRecord,
    trials: Vec<TrialRecord>,
}

const SNAPSHOTS: &str = "snapshots";

impl SledStorage {
    fn write_snapshot(&self, study: &str) -> Result<()> {
        let Some(record) = self.study(study)? else { return Ok(()) };
        let dir = self.path.join(SNAPSHOTS);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let snapshot = Snapshot { study: record, trials: self.trials(study)? };
        let file = dir.join(format!("{}.json", hex_name(study)));
        let tmp = file.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(&snapshot).expect("snapshot serialises")).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &file).map_err(|e| Error::io(&file, e))
    }
}

/// A study name as a safe file name.
fn hex_name(study: &str) -> String {
    study.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Whether a store directory holds snapshots to read.
fn has_snapshots(path: &Path) -> bool {
    path.join(SNAPSHOTS).is_dir()
}

/// What [`SledStorage::rebuild`] did.
#[derive(Debug, Clone)]
pub struct Rebuilt {
    /// Where the damaged database was moved.
    pub aside: PathBuf,
    pub studies: usize,
    pub trials: usize,
}

impl SledStorage {
    /// The store for commands that only read. Readers never take the lock, so they never block a
    /// search: they read the JSON snapshots every write leaves (also when the database itself is
    /// damaged), or an empty store when there is none yet. A store from before snapshots is
    /// opened (`note` hears when it is locked and only its snapshot could be read).
    pub fn open_to_read(path: &Path, note: &mut dyn FnMut(&str)) -> Result<Box<dyn Storage>> {
        if has_snapshots(path) || !path.exists() {
            return Ok(Box::new(read_snapshots(path)?));
        }
        match Self::open_waiting(path, note) {
            Ok(store) => Ok(Box::new(store)),
            Err(e @ Error::StoreLocked { .. }) => {
                note(&format!("note: {e}; reading the snapshot it last wrote"));
                Ok(Box::new(read_snapshots(path)?))
            }
            Err(e) => Err(e),
        }
    }

    /// Rebuilds a damaged store from the JSON snapshots its writes left: the damaged database is
    /// moved aside (kept, not deleted) and a new one is filled with every study and trial.
    /// Refused when the store opens fine or another process holds it.
    pub fn rebuild(path: &Path) -> Result<Rebuilt> {
        match Self::open(path) {
            Ok(_) => return Err(Error::NothingToRebuild { path: path.to_path_buf() }),
            Err(e @ Error::StoreLocked { .. }) => return Err(e),
            Err(_) => {}
        }
        let snapshot = read_snapshots(path)?;
        let aside = path.with_file_name(format!("store.damaged-{}", super::now()));
        std::fs::rename(path, &aside).map_err(|e| Error::io(path, e))?;
        let store = Self::open(path)?;
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
}

/// The snapshots a store directory holds, loaded into memory (for reading a locked store).
pub fn read_snapshots(path: &Path) -> Result<super::MemoryStorage> {
    let storage = super::MemoryStorage::default();
    let dir = path.join(SNAPSHOTS);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(storage) };
    for entry in entries.flatten() {
        let file = entry.path();
        if file.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let bytes = std::fs::read(&file).map_err(|e| Error::io(&file, e))?;
        let snapshot: Snapshot = serde_json::from_slice(&bytes).map_err(|e| Error::checkpoint(&file, format!("corrupt snapshot: {e}")))?;
        storage.put_study(&snapshot.study)?;
        for trial in &snapshot.trials {
            storage.put_trial(trial)?;
        }
    }
    Ok(storage)
}

fn trial_key(study: &str, id: u64) -> Vec<u8> {
    let mut key = study.as_bytes().to_vec();
    key.push(0);
    key.extend(id.to_be_bytes());
    key
}

impl Storage for SledStorage {
    fn put_study(&self, study: &StudyRecord) -> Result<()> {
        self.put("studies", study.name.as_bytes(), serde_json::to_vec(study).expect("study serialises"))?;
        self.write_snapshot(&study.name)
    }

    fn study(&self, name: &str) -> Result<Option<StudyRecord>> {
        match self.tree("studies")?.get(name.as_bytes()).map_err(|e| self.err(e))? {
            Some(bytes) => Ok(Some(self.decode(name.as_bytes(), &bytes)?)),
            None => Ok(None),
        }
    }

    fn studies(&self) -> Result<Vec<StudyRecord>> {
        self.tree("studies")?
            .iter()
            .map(|kv| {
                let (k, v) = kv.map_err(|e| self.err(e))?;
                self.decode(&k, &v)
            })
            .collect()
    }

    fn put_trial(&self, trial: &TrialRecord) -> Result<()> {
        self.put("trials", &trial_key(&trial.study, trial.id), serde_json::to_vec(trial).expect("trial serialises"))?;
        self.write_snapshot(&trial.study)
    }

    fn trials(&self, study: &str) -> Result<Vec<TrialRecord>> {
        let mut prefix = study.as_bytes().to_vec();
        prefix.push(0);
        self.tree("trials")?
            .scan_prefix(prefix)
            .map(|kv| {
                let (k, v) = kv.map_err(|e| self.err(e))?;
                self.decode(&k, &v)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_living_holder_is_not_presumed_gone() {
        assert!(!super::holder_gone(Some(std::process::id())));
        assert!(!super::holder_gone(None));
        if cfg!(target_os = "linux") {
            assert!(super::holder_gone(Some(u32::MAX)), "no such process");
        }
    }
}
