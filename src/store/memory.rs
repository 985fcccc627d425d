//! In-memory storage, for tests and throwaway searches.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{Storage, StudyRecord, TrialRecord};
use crate::error::Result;

#[derive(Default)]
pub struct MemoryStorage {
    studies: Mutex<BTreeMap<String, StudyRecord>>,
    trials: Mutex<BTreeMap<(String, u64), TrialRecord>>,
}

impl Storage for MemoryStorage {
    fn put_study(&self, study: &StudyRecord) -> Result<()> {
        self.studies.lock().expect("not poisoned").insert(study.name.clone(), study.clone());
        Ok(())
    }

    fn study(&self, name: &str) -> Result<Option<StudyRecord>> {
        Ok(self.studies.lock().expect("not poisoned").get(name).cloned())
    }

    fn studies(&self) -> Result<Vec<StudyRecord>> {
        Ok(self.studies.lock().expect("not poisoned").values().cloned().collect())
    }

    fn put_trial(&self, trial: &TrialRecord) -> Result<()> {
        self.trials.lock().expect("not poisoned").insert((trial.study.clone(), trial.id), trial.clone());
        Ok(())
    }

    fn trials(&self, study: &str) -> Result<Vec<TrialRecord>> {
        Ok(self.trials.lock().expect("not poisoned").iter().filter(|((s, _), _)| s == study).map(|(_, t)| t.clone()).collect())
    }
}
