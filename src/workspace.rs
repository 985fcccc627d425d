//! The workspace folder: the one place that knows its layout. Everything distiller makes and
//! keeps between runs lives under its root (`.distiller` by default):
//!
//! ```text
//! teachers/<task>/            fine-tuned teacher checkpoints
//! cache/teacher/<key>.bin     teacher outputs per (teacher, rows, max_len, layers)
//! augment/<key>.json          augmented training sets
//! runs/<task>-<digest>/       students of `distiller train`
//! studies/<study>/trial-<id>/ students of a search's trials
//! store/                      the embedded trial store (sled) and its JSON snapshot
//! reports/<study>/            study reports
//! ```
//!
//! Studies may live elsewhere instead ([`Workspace::with_store`]): a PostgreSQL database that
//! the workspaces of many workers share.

use std::path::{Path, PathBuf};

use crate::store::StoreLocation;

/// A workspace root, its layout, and where its studies live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    root: PathBuf,
    store: StoreLocation,
}

impl Workspace {
    /// A workspace whose studies live in its own sled store.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        Self { store: StoreLocation::Sled(root.join("store")), root }
    }

    /// The same workspace with its studies at `store`.
    pub fn with_store(mut self, store: StoreLocation) -> Self {
        self.store = store;
        self
    }

    /// Where the studies live.
    pub fn store(&self) -> &StoreLocation {
        &self.store
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A task's fine-tuned teacher checkpoint.
    pub fn teacher_dir(&self, task: &str) -> PathBuf {
        self.root.join("teachers").join(task)
    }

    /// A teacher-cache entry.
    pub fn teacher_cache(&self, key: &str) -> PathBuf {
        self.root.join("cache").join("teacher").join(format!("{key}.bin"))
    }

    /// A cached augmented training set.
    pub fn augment_cache(&self, key: &str) -> PathBuf {
        self.root.join("augment").join(format!("{key}.json"))
    }

    /// The student of a `distiller train` run.
    pub fn run_dir(&self, task: &str, pipeline_digest: &str) -> PathBuf {
        self.root.join("runs").join(format!("{task}-{pipeline_digest}"))
    }

    /// The student of a search trial.
    pub fn trial_dir(&self, study: &str, trial: u64) -> PathBuf {
        self.root.join("studies").join(study).join(format!("trial-{trial}"))
    }

    /// The embedded trial store's default folder.
    pub fn store_dir(&self) -> PathBuf {
        self.root.join("store")
    }

    /// Where a study's report goes by default.
    pub fn report_dir(&self, study: &str) -> PathBuf {
        self.root.join("reports").join(study)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_lies_under_the_root() {
        let ws = Workspace::new("/w");
        for path in [ws.teacher_dir("sst2"), ws.teacher_cache("k"), ws.augment_cache("k"), ws.run_dir("sst2", "d"), ws.trial_dir("s", 3), ws.store_dir(), ws.report_dir("s")] {
            assert!(path.starts_with("/w"), "{}", path.display());
        }
        assert_eq!(ws.trial_dir("s", 3), Path::new("/w/studies/s/trial-3"));
    }
}
