//! The search loop (Optuna-style): a [`Study`] asks its sampler for a point, composes the
//! pipeline, runs the trial, and records it — RUNNING before it starts, COMPLETE or
//! FAIL after — so a killed search resumes where it stopped.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::pareto;
use super::samplers::{Observation, Sampler, with_pending};
use super::space::{Point, Space};
use crate::data::{DatasetMeta, Metrics};
use crate::error::{Error, Result};
use crate::pipeline::Pipeline;
use crate::store::{NextTrial, Storage, StudentShape, StudyKind, StudyObjective, StudyRecord, TrialRecord, TrialState, now};

/// What running a trial reports when it finishes.
#[derive(Debug, Clone)]
pub struct TrialOutcome {
    pub score: f64,
    /// The student's size and speed beside the teacher's, when the trial measured them.
    pub compression: Option<crate::model::Compression>,
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
    Started { trial: &'a TrialRecord, index: usize, of: usize, rungs: usize },
    /// `best`: the study's best when the trial started, or the trial itself if it beat that.
    Finished { trial: &'a TrialRecord, best: Option<&'a TrialRecord> },
    /// Trials whose worker stopped (this process before, or another worker that stopped
    /// beating) were marked FAIL; their pipelines run again.
    Recovered { trials: usize },
    /// Another worker failed this trial while it ran here (its heartbeats stopped reaching the
    /// store) and queued its pipeline again; this run's result is dropped.
    Lost { trial: &'a TrialRecord },
}

/// How often a running trial's worker beats by default; a trial whose beat is older than twice
/// this is taken as dead.
pub const HEARTBEAT: Duration = Duration::from_secs(10);

/// This machine's name, recorded with each trial so a shared study says where a student lives.
pub fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|h| h.trim().to_string()).filter(|h| !h.is_empty()).or_else(|| std::env::var("HOSTNAME").ok())
}

/// What [`Study::next_trial`] found: the trial to run (if any), how many trials counted toward
/// the cap, and the best trial at that moment.
struct Next {
    trial: Option<TrialRecord>,
    counted: usize,
    best: Option<TrialRecord>,
}

/// A study bound to its storage and space.
pub struct Study<'a> {
    pub storage: &'a dyn Storage,
    pub record: StudyRecord,
    pub space: Space,
    /// How often a running trial beats ([`HEARTBEAT`] unless set); the grace is twice this.
    pub heartbeat: Duration,
}

/// The best COMPLETE trial at the highest rung any trial completed (scores at different
/// budgets are not comparable).
pub fn best_of(trials: &[TrialRecord]) -> Option<&TrialRecord> {
    let complete = || trials.iter().filter(|t| t.state == TrialState::Complete);
    let top = complete().map(|t| t.rung).max()?;
    complete().filter(|t| t.rung == top).max_by(|a, b| a.score.unwrap_or(f64::MIN).total_cmp(&b.score.unwrap_or(f64::MIN)))
}

/// The COMPLETE trials at the highest rung that no other such trial beats in every objective, in
/// id order; for a study of the score alone, the best trial.
pub fn pareto_set<'t>(trials: &'t [TrialRecord], objectives: &[StudyObjective]) -> Vec<&'t TrialRecord> {
    if objectives.len() < 2 {
        return best_of(trials).into_iter().collect();
    }
    let complete: Vec<&TrialRecord> = trials.iter().filter(|t| t.state == TrialState::Complete).collect();
    let Some(top) = complete.iter().map(|t| t.rung).max() else { return Vec::new() };
    pareto::front(&complete.into_iter().filter(|t| t.rung == top).collect::<Vec<_>>(), objectives)
}

/// The best trial of `study` ([`best_of`]), or the error saying it has none.
pub fn best_trial<'t>(study: &str, trials: &'t [TrialRecord]) -> Result<&'t TrialRecord> {
    best_of(trials).ok_or_else(|| Error::NoCompleteTrial { study: study.to_string() })
}

/// How [`fail_and_requeue`] marks a trial whose worker died while it ran.
const INTERRUPTED: &str = "interrupted";

fn is_interrupted(t: &TrialRecord) -> bool {
    t.state == TrialState::Fail && t.error.as_deref().is_some_and(|e| e.starts_with(INTERRUPTED))
}

/// Fails a trial whose worker died while it ran, and returns the WAITING trial that runs its
/// pipeline again at the same rung — once: a re-run whose worker dies too is not queued again.
pub fn fail_and_requeue(trial: &mut TrialRecord) -> Option<TrialRecord> {
    trial.state = TrialState::Fail;
    trial.error = Some(format!("{INTERRUPTED} (worker {} on {} stopped beating while the trial ran)", trial.pid, trial.host.as_deref().unwrap_or("?")));
    trial.ended = Some(now());
    if trial.retry_of.is_some() {
        return None;
    }
    trial.error = trial.error.take().map(|e| e + "; its pipeline runs again");
    Some(TrialRecord {
        id: 0,
        state: TrialState::Waiting,
        fidelity: None,
        intermediate: Vec::new(),
        metrics: None,
        score: None,
        student_dir: None,
        host: None,
        error: None,
        retry_of: Some(trial.id),
        compression: None,
        pid: 0,
        started: now(),
        ended: None,
        ..trial.clone()
    })
}

/// A rung's completed trials, best first: by score, or in a multi-objective study by
/// non-dominated rank (the front first), then score.
fn ranked<'t>(mut done: Vec<&'t TrialRecord>, objectives: &[StudyObjective]) -> Vec<&'t TrialRecord> {
    let by_score = |a: &&TrialRecord, b: &&TrialRecord| b.score.unwrap_or(f64::MIN).total_cmp(&a.score.unwrap_or(f64::MIN));
    if objectives.len() < 2 {
        done.sort_by(by_score);
        return done;
    }
    let worst = vec![f64::INFINITY; objectives.len()];
    let costs: Vec<Vec<f64>> = done.iter().map(|t| pareto::costs(t, objectives).unwrap_or_else(|| worst.clone())).collect();
    let mut order: Vec<(usize, &TrialRecord)> = pareto::ranks(&costs).into_iter().zip(done).collect();
    order.sort_by(|(ra, a), (rb, b)| ra.cmp(rb).then_with(|| by_score(a, b)));
    order.into_iter().map(|(_, t)| t).collect()
}

/// The next promotion of successive halving, if any: a point among the best 1/eta of its rung's
/// completed trials ([`ranked`]) that has not yet run at the next rung.
fn next_promotion(trials: &[TrialRecord], rungs: usize, eta: usize, objectives: &[StudyObjective]) -> Option<(Point, usize)> {
    for rung in (0..rungs.saturating_sub(1)).rev() {
        let done = ranked(trials.iter().filter(|t| t.rung == rung && t.state == TrialState::Complete).collect(), objectives);
        let promoted = |p: &Point| trials.iter().any(|t| t.rung == rung + 1 && &t.point == p);
        if let Some(t) = done.iter().take(done.len() / eta).find(|t| !promoted(&t.point)) {
            return Some((t.point.clone(), rung + 1));
        }
    }
    None
}

/// Refuses objectives other than the score first, then latency and/or params, each once.
pub fn check_objectives(objectives: &[StudyObjective]) -> Result<()> {
    if objectives.first() != Some(&StudyObjective::Score) || (1..objectives.len()).any(|i| objectives[..i].contains(&objectives[i])) {
        let given: Vec<&str> = objectives.iter().map(|o| o.name()).collect();
        return Err(Error::InvalidOption {
            option: "objectives",
            message: format!("`{}`: give score first, then latency and/or params, each once (e.g. score,latency)", given.join(",")),
        });
    }
    Ok(())
}

impl<'a> Study<'a> {
    /// Opens a study of the score alone ([`Study::open_with`]).
    pub fn open(storage: &'a dyn Storage, name: &str, task: &str, space: Space, sampler: &str) -> Result<Self> {
        Self::open_with(storage, name, task, space, sampler, &[StudyObjective::Score])
    }

    /// Opens a study of `objectives` (the score first), creating it if new. A stored study must
    /// have the same task, space and objectives.
    pub fn open_with(storage: &'a dyn Storage, name: &str, task: &str, space: Space, sampler: &str, objectives: &[StudyObjective]) -> Result<Self> {
        check_objectives(objectives)?;
        let fresh = StudyRecord {
            name: name.into(),
            kind: StudyKind::Distillation,
            task: task.into(),
            space: space.source.clone(),
            sampler: sampler.into(),
            objectives: objectives.to_vec(),
            created: now(),
            meta: None,
            teacher: None,
            student: None,
        };
        let record = storage.create_study(&fresh)?;
        if record.task != task {
            return Err(Error::StudyOfOtherTask { study: name.to_string(), has: record.task.clone(), asked: task.to_string() });
        }
        if record.objectives != objectives {
            let names = |o: &[StudyObjective]| o.iter().map(|o| o.name()).collect::<Vec<_>>().join(",");
            return Err(Error::InvalidOption {
                option: "objectives",
                message: format!("study `{name}` optimises {}, not {}: resume it with its own objectives or name a new study", names(&record.objectives), names(objectives)),
            });
        }
        // A study's space is matched by what it searches: a comment or the layout may change.
        if record.space.trim() != space.source.trim() && !Space::parse(&record.space, &format!("study `{name}`'s space")).is_ok_and(|stored| stored.searches_like(&space)) {
            return Err(Error::StudyOfOtherSpace { study: name.to_string() });
        }
        Ok(Self { storage, record, space, heartbeat: HEARTBEAT })
    }

    /// Says what the study searches (stored when it changes).
    pub fn mark(&mut self, kind: StudyKind) -> Result<()> {
        if self.record.kind != kind {
            self.record.kind = kind;
            self.storage.put_study(&self.record)?;
        }
        Ok(())
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

    /// Marks FAIL the trials whose worker is gone (every RUNNING trial where one process holds
    /// the store; on a shared database those whose last heartbeat is older than the grace) and
    /// returns how many. Each such pipeline is queued (WAITING) to run again once, at its rung.
    pub fn recover(&self) -> Result<usize> {
        Ok(self.storage.fail_stale_trials(&self.record.name, self.heartbeat * 2, &fail_and_requeue)?.len())
    }

    /// The next trial to run, added to the store as RUNNING (or claimed from WAITING) in one step
    /// no other worker interleaves with; `None` when the study holds `cap` trials (finished,
    /// running or waiting) or the sampler has nothing left. Also returns how many trials counted
    /// towards the cap.
    fn next_trial(&self, sampler: &mut dyn Sampler, cap: usize) -> Result<Next> {
        let (mut counted, mut best) = (0, None);
        let host = hostname();
        let added = self.storage.add_trial(&self.record.name, &mut |trials| {
            // A trial cut short by a dead worker does not count: its WAITING re-run does.
            counted = trials.iter().filter(|t| !is_interrupted(t)).count();
            best = best_of(trials).cloned();
            if let Some(waiting) = trials.iter().find(|t| t.state == TrialState::Waiting) {
                counted -= 1;
                return Ok(Some(NextTrial::Claim(TrialRecord {
                    state: TrialState::Running,
                    host: host.clone(),
                    pid: std::process::id(),
                    started: now(),
                    external: false,
                    ..waiting.clone()
                })));
            }
            if counted >= cap {
                return Ok(None);
            }
            // Promotions first (successive halving), otherwise a new point at the first rung.
            // The sampler sees first-rung results only, so its scores share one budget; other
            // workers' running and waiting trials are pending points.
            let eta = self.space.fidelity.as_ref().map_or(usize::MAX, |f| f.eta);
            let (point, rung) = match next_promotion(trials, self.space.rungs(), eta, &self.record.objectives) {
                Some(claimed) => claimed,
                None => {
                    let first = || trials.iter().filter(|t| t.rung == 0);
                    let tried: Vec<Point> = first().map(|t| t.point.clone()).collect();
                    let complete = || first().filter(|t| t.state == TrialState::Complete);
                    let history: Vec<Observation> = if self.record.objectives.len() > 1 {
                        // ParEGO: new weights at every ask, drawn from the trial's number.
                        let costs: Vec<(Point, Vec<f64>)> = complete().filter_map(|t| pareto::costs(t, &self.record.objectives).map(|c| (t.point.clone(), c))).collect();
                        pareto::scalarise(&costs, &pareto::draw_weights(trials.len() as u64, self.record.objectives.len()))
                    } else {
                        complete().filter_map(|t| t.score.filter(|s| s.is_finite()).map(|score| Observation { point: t.point.clone(), score })).collect()
                    };
                    let pending: Vec<Point> = first().filter(|t| matches!(t.state, TrialState::Running | TrialState::Waiting)).map(|t| t.point.clone()).collect();
                    match sampler.ask(&self.space, &tried, &with_pending(history, &pending))? {
                        Some(point) => (point, 0),
                        None => return Ok(None),
                    }
                }
            };
            let pipeline = self.space.compose_at(&point, rung).map_err(|e| Error::Sampler(format!("proposed an invalid pipeline: {e}")))?;
            Ok(Some(NextTrial::Add(TrialRecord {
                id: 0,
                study: self.record.name.clone(),
                point,
                pipeline,
                state: TrialState::Running,
                rung,
                fidelity: None,
                intermediate: Vec::new(),
                metrics: None,
                score: None,
                student_dir: None,
                host: host.clone(),
                error: None,
                retry_of: None,
                external: false,
                pid: std::process::id(),
                started: now(),
                ended: None,
                compression: None,
            })))
        })?;
        Ok(Next { trial: added, counted, best })
    }

    /// Runs trials until the study holds `limits.trials` finished trials (all workers together),
    /// the budget is spent or the sampler has nothing left. A failing trial (an error or a panic
    /// in `run_trial`) is recorded FAIL and the search goes on. While a trial runs, a plain
    /// thread beats its heartbeat; before each new trial, trials of workers that stopped beating
    /// are failed and their pipelines queued again.
    pub fn run(
        &self,
        sampler: &mut dyn Sampler,
        limits: &SearchLimits,
        run_trial: &mut dyn FnMut(&Pipeline, u64) -> Result<TrialOutcome>,
        on_event: &mut dyn FnMut(StudyEvent),
    ) -> Result<Vec<TrialRecord>> {
        let started = Instant::now();
        loop {
            let recovered = self.recover()?;
            if recovered > 0 {
                on_event(StudyEvent::Recovered { trials: recovered });
            }
            if limits.budget.is_some_and(|b| started.elapsed() >= b) {
                return self.storage.trials(&self.record.name);
            }
            let Next { trial: added, counted, best } = self.next_trial(sampler, limits.trials)?;
            let Some(mut trial) = added else {
                let trials = self.storage.trials(&self.record.name)?;
                // Other workers' trials still run: one may die and need running again (another
                // client's trial is not ours to run again).
                if counted >= limits.trials && trials.iter().any(|t| !t.external && matches!(t.state, TrialState::Running | TrialState::Waiting)) {
                    std::thread::sleep(self.heartbeat);
                    continue;
                }
                return Ok(trials);
            };
            on_event(StudyEvent::Started { trial: &trial, index: counted + 1, of: limits.trials, rungs: self.space.rungs() });
            let result = self.beating(&trial, || std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_trial(&trial.pipeline, trial.id))));
            match result {
                Ok(Ok(outcome)) if outcome.score.is_finite() => {
                    trial.state = TrialState::Complete;
                    trial.score = Some(outcome.score);
                    trial.metrics = Some(outcome.metrics);
                    trial.student_dir = outcome.student_dir;
                    trial.intermediate = outcome.intermediate;
                    trial.fidelity = outcome.fidelity;
                    trial.compression = outcome.compression;
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
            // Another worker failed this trial while it ran (its beats stopped reaching the
            // store) and queued its pipeline again: that record stands.
            if !self.storage.finish_trial(&trial)? {
                on_event(StudyEvent::Lost { trial: &trial });
                continue;
            }
            // The best as of this trial's start, and this trial (no re-read of the history).
            let candidates: Vec<TrialRecord> = best.into_iter().chain([trial.clone()]).collect();
            on_event(StudyEvent::Finished { trial: &trial, best: best_of(&candidates) });
        }
    }

    /// Runs `work` while a plain thread (not the rayon pool the trial trains on) beats the
    /// trial's heartbeat every [`Study::heartbeat`]. A beat that fails is retried at the next one.
    fn beating<T>(&self, trial: &TrialRecord, work: impl FnOnce() -> T) -> T {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        std::thread::scope(|scope| {
            scope.spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(self.heartbeat) {
                    if let Err(e) = self.storage.heartbeat(&trial.study, trial.id) {
                        log::warn!("trial #{}: heartbeat not stored: {e}", trial.id);
                    }
                }
            });
            let value = work();
            drop(stop);
            value
        })
    }

    /// The best COMPLETE trial so far (by score, in a multi-objective study too).
    pub fn best(&self) -> Result<Option<TrialRecord>> {
        Ok(best_of(&self.storage.trials(&self.record.name)?).cloned())
    }
}
