//! The search loop (Optuna-style): a [`Study`] asks its sampler for a point, composes the
//! pipeline, runs the trial, and records it — RUNNING before it starts, COMPLETE or
//! FAIL after — so a killed search resumes where it stopped.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::samplers::{Observation, Sampler};
use super::space::{Point, Space};
use crate::data::{DatasetMeta, Metrics};
use crate::error::{Error, Result};
use crate::pipeline::Pipeline;
use crate::store::{Storage, StudentShape, StudyRecord, TrialRecord, TrialState, now};

/// What running a trial reports when it finishes.
#[derive(Debug, Clone)]
pub struct TrialOutcome {
    pub score: f64,
    pub metrics: Metrics,
    pub student_dir: Option<PathBuf>,
    pub intermediate: Vec<(usize, f64)>,
    pub fidelity: Option<(usize, usize)>,
}

/// Limits of one `search` invocation.
#[derive(Debug, Clone)]
pub struct SearchLimits {
    /// Stop once the study holds this many finished trials (earlier runs included).
    pub trials: usize,
    /// Stop starting new trials after this long.
    pub budget: Option<Duration>,
}

/// Events for a progress display.
#[derive(Debug)]
pub enum StudyEvent<'a> {
    /// `rungs` is the number of fidelity rungs (1 without multi-fidelity).
    Started {
        trial: &'a TrialRecord,
        index: usize,
        of: usize,
        rungs: usize,
    },
    Finished {
        trial: &'a TrialRecord,
        best: Option<&'a TrialRecord>,
    },
}

/// A study bound to its storage and space.
pub struct Study<'a> {
    pub storage: &'a dyn Storage,
    pub record: StudyRecord,
    pub space: Space,
}

/// The best COMPLETE trial at the highest rung any trial completed (scores at different
/// budgets are not comparable).
pub fn best_of(trials: &[TrialRecord]) -> Option<&TrialRecord> {
    let complete = || trials.iter().filter(|t| t.state == TrialState::Complete);
    let top = complete().map(|t| t.rung).max()?;
    complete().filter(|t| t.rung == top).max_by(|a, b| a.score.unwrap_or(f64::MIN).total_cmp(&b.score.unwrap_or(f64::MIN)))
}

/// How [`Study::recover`] marks a trial whose process died while it ran.
const INTERRUPTED: &str = "interrupted";

fn is_interrupted(t: &TrialRecord) -> bool {
    t.state == TrialState::Fail && t.error.as_deref().is_some_and(|e| e.starts_with(INTERRUPTED))
}

/// An interrupted trial to run again: its pipeline at its rung, when nothing else ran that pair
/// (so each interrupted pipeline is re-run once).
fn next_retry(trials: &[TrialRecord]) -> Option<(Point, usize)> {
    trials.iter().filter(|t| is_interrupted(t)).find(|t| trials.iter().filter(|u| u.point == t.point && u.rung == t.rung).count() == 1).map(|t| (t.point.clone(), t.rung))
}

/// The next promotion of successive halving, if any: a point among the best 1/eta of its rung's
/// completed trials that has not yet run at the next rung.
fn next_promotion(trials: &[TrialRecord], rungs: usize, eta: usize) -> Option<(Point, usize)> {
    for rung in (0..rungs.saturating_sub(1)).rev() {
        let mut done: Vec<&TrialRecord> = trials.iter().filter(|t| t.rung == rung && t.state == TrialState::Complete).collect();
        done.sort_by(|a, b| b.score.unwrap_or(f64::MIN).total_cmp(&a.score.unwrap_or(f64::MIN)));
        let promoted = |p: &Point| trials.iter().any(|t| t.rung == rung + 1 && &t.point == p);
        if let Some(t) = done.iter().take(done.len() / eta).find(|t| !promoted(&t.point)) {
            return Some((t.point.clone(), rung + 1));
        }
    }
    None
}

impl<'a> Study<'a> {
    /// Opens a study, creating it if new. A stored study must have the same task and space.
    pub fn open(storage: &'a dyn Storage, name: &str, task: &str, space: Space, sampler: &str) -> Result<Self> {
        let record = match storage.study(name)? {
            Some(existing) => {
                if existing.task != task {
                    return Err(Error::Study(format!("study `{name}` is for task {}, not {task}: pick another --study name", existing.task)));
                }
                if existing.space.trim() != space.source.trim() {
                    return Err(Error::Study(format!("study `{name}` was created with a different search space: pass the same --space, or start a new --study")));
                }
                existing
            }
            None => {
                let record = StudyRecord {
                    name: name.into(),
                    task: task.into(),
                    space: space.source.clone(),
                    sampler: sampler.into(),
                    direction: "maximize".into(),
                    created: now(),
                    meta: None,
                    teacher: None,
                    student: None,
                };
                storage.put_study(&record)?;
                record
            }
        };
        Ok(Self { storage, record, space })
    }

    /// Records what the recommender learns a study's context from: the task's meta-features, the
    /// teacher and the student (written only when they change).
    pub fn describe(&mut self, meta: DatasetMeta, teacher: String, student: Option<StudentShape>) -> Result<()> {
        let (meta, teacher) = (Some(meta), Some(teacher));
        if (&self.record.meta, &self.record.teacher, &self.record.student) != (&meta, &teacher, &student) {
            self.record.meta = meta;
            self.record.teacher = teacher;
            self.record.student = student;
            self.storage.put_study(&self.record)?;
        }
        Ok(())
    }

    /// Marks trials left RUNNING by a dead process as FAIL; returns how many.
    pub fn recover(&self) -> Result<usize> {
        let mut n = 0;
        for mut t in self.storage.trials(&self.record.name)? {
            if t.state == TrialState::Running {
                t.state = TrialState::Fail;
                t.error = Some(format!("{INTERRUPTED} (process {} ended while the trial ran); its pipeline runs again", t.pid));
                t.ended = Some(now());
                self.storage.put_trial(&t)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Runs trials until the limits are reached or the sampler has nothing left. A failing
    /// trial (an error or a panic in `run_trial`) is recorded FAIL and the search goes on.
    pub fn run(
        &self,
        sampler: &mut dyn Sampler,
        limits: &SearchLimits,
        run_trial: &mut dyn FnMut(&Pipeline, u64) -> Result<TrialOutcome>,
        on_event: &mut dyn FnMut(StudyEvent),
    ) -> Result<Vec<TrialRecord>> {
        let started = Instant::now();
        loop {
            let trials = self.storage.trials(&self.record.name)?;
            // A trial cut short by a kill does not count: its pipeline runs again instead.
            let finished = trials.iter().filter(|t| t.state != TrialState::Running && !is_interrupted(t)).count();
            if finished >= limits.trials || limits.budget.is_some_and(|b| started.elapsed() >= b) {
                return Ok(trials);
            }
            // Interrupted trials first, then promotions (successive halving), otherwise a new point
            // at the first rung. The sampler sees first-rung results only, so its scores share one
            // budget.
            let eta = self.space.fidelity.as_ref().map_or(usize::MAX, |f| f.eta);
            let (point, rung) = match next_retry(&trials).or_else(|| next_promotion(&trials, self.space.rungs(), eta)) {
                Some(promotion) => promotion,
                None => {
                    let first = || trials.iter().filter(|t| t.rung == 0);
                    let tried: Vec<Point> = first().map(|t| t.point.clone()).collect();
                    let history: Vec<Observation> = first()
                        .filter(|t| t.state == TrialState::Complete)
                        .filter_map(|t| t.score.filter(|s| s.is_finite()).map(|score| Observation { point: t.point.clone(), score }))
                        .collect();
                    match sampler.ask(&self.space, &tried, &history)? {
                        Some(point) => (point, 0),
                        None => return Ok(trials),
                    }
                }
            };
            let pipeline = self.space.compose_at(&point, rung).map_err(|e| Error::Sampler(format!("proposed an invalid pipeline: {e}")))?;
            let mut trial = TrialRecord {
                id: trials.iter().map(|t| t.id + 1).max().unwrap_or(0),
                study: self.record.name.clone(),
                point,
                pipeline: pipeline.clone(),
                state: TrialState::Running,
                rung,
                fidelity: None,
                intermediate: Vec::new(),
                metrics: None,
                score: None,
                student_dir: None,
                error: None,
                pid: std::process::id(),
                started: now(),
                ended: None,
            };
            self.storage.put_trial(&trial)?;
            on_event(StudyEvent::Started { trial: &trial, index: finished + 1, of: limits.trials, rungs: self.space.rungs() });
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_trial(&pipeline, trial.id)));
            match result {
                Ok(Ok(outcome)) if outcome.score.is_finite() => {
                    trial.state = TrialState::Complete;
                    trial.score = Some(outcome.score);
                    trial.metrics = Some(outcome.metrics);
                    trial.student_dir = outcome.student_dir;
                    trial.intermediate = outcome.intermediate;
                    trial.fidelity = outcome.fidelity;
                }
                Ok(Ok(outcome)) => {
                    trial.state = TrialState::Fail;
                    trial.error = Some(format!("score is {}", outcome.score));
                }
                Ok(Err(e)) => {
                    trial.state = TrialState::Fail;
                    trial.error = Some(e.to_string());
                }
                Err(panic) => {
                    trial.state = TrialState::Fail;
                    trial.error = Some(format!("panicked: {}", crate::error::panic_message(panic.as_ref())));
                }
            }
            trial.ended = Some(now());
            self.storage.put_trial(&trial)?;
            let all = self.storage.trials(&self.record.name)?;
            on_event(StudyEvent::Finished { trial: &trial, best: best_of(&all) });
        }
    }

    /// The best COMPLETE trial so far.
    pub fn best(&self) -> Result<Option<TrialRecord>> {
        Ok(best_of(&self.storage.trials(&self.record.name)?).cloned())
    }
}
