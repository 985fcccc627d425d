//! The past tasks a recommendation learns from: the store's studies whose student is as deep as
//! the target space's (or every study, on request) and that varied at least one field the target
//! space varies. Each study's finished first-rung results are read over the target space's
//! dimensions; the fields its own space did not vary are marked unshared, and the model ignores
//! them for that study.

use crate::data::DatasetMeta;
use crate::error::Result;
use crate::search::space::{Point, Space};
use crate::store::{Storage, TrialState};

/// A past study as the recommender sees it over the target space.
#[derive(Debug, Clone)]
pub struct PastTask {
    pub study: String,
    pub task: String,
    pub meta: Option<DatasetMeta>,
    /// The teacher's name (its base model), when recorded.
    pub teacher: Option<String>,
    /// Per dimension of the target space: whether this study varied that field.
    pub shared: Vec<bool>,
    /// Mean first-rung score of each distinct pipeline the study finished, as a point of the
    /// target space (`None` in unshared dimensions).
    pub results: Vec<(Point, f64)>,
}

impl PastTask {
    /// The target space's fields this study varied.
    pub fn shared_fields<'a>(&self, space: &'a Space) -> Vec<&'a str> {
        space.dims.iter().zip(&self.shared).filter(|(_, s)| **s).map(|(d, _)| d.field.as_str()).collect()
    }
}

/// Which studies count, by their student.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Students {
    /// Studies whose student has as many layers as the target space's (layer mappings and
    /// intermediate objectives mean different things at other depths).
    #[default]
    SameDepth,
    /// Every study.
    Any,
}

/// What the store offers for a target space.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub tasks: Vec<PastTask>,
    /// Studies not learnt from, with the reason.
    pub left_out: Vec<(String, String)>,
}

/// The past tasks in `storage` for recommending over `space`, leaving out every study of
/// `exclude_task` (a task never learns from itself).
pub fn history(storage: &dyn Storage, space: &Space, exclude_task: Option<&str>, students: Students) -> Result<History> {
    let depth =
        (students == Students::SameDepth && !space.dims.iter().any(|d| d.field == "student.layers")).then(|| space.base_pipeline().map(|p| p.student.layers)).transpose()?;
    let mut history = History::default();
    for study in storage.studies()? {
        // A teacher's recipe search says nothing about distillation pipelines.
        if Some(study.task.as_str()) == exclude_task || study.kind != crate::store::StudyKind::Distillation {
            continue;
        }
        let mut leave_out = |why: String| history.left_out.push((study.name.clone(), why));
        let own = if study.space.trim() == space.source.trim() {
            space.clone()
        } else {
            match Space::parse(&study.space, &study.name) {
                Ok(own) => own,
                Err(e) => {
                    leave_out(format!("its space does not parse: {e}"));
                    continue;
                }
            }
        };
        // Per target dimension, the study's own dimension of the same field.
        let source: Vec<Option<usize>> = space.dims.iter().map(|d| own.dims.iter().position(|o| o.field == d.field)).collect();
        if source.iter().all(Option::is_none) {
            leave_out("varied none of the space's fields".into());
            continue;
        }
        let trials = storage.trials(&study.name)?;
        if let Some(depth) = depth {
            let layers = study.student.as_ref().map(|s| s.layers).or_else(|| trials.first().map(|t| t.pipeline.student.layers));
            if layers != Some(depth) {
                leave_out(format!("its student has {} layers, the space's {depth} (students of any depth count it)", layers.map_or("unknown".into(), |l| l.to_string())));
                continue;
            }
        }
        let mut sums: Vec<(Point, f64, usize)> = Vec::new();
        for t in trials.into_iter().filter(|t| t.state == TrialState::Complete && t.rung == 0) {
            let Some(score) = t.score.filter(|s| s.is_finite()) else { continue };
            match sums.iter_mut().find(|(p, _, _)| *p == t.point) {
                Some((_, sum, n)) => {
                    *sum += score;
                    *n += 1;
                }
                None => sums.push((t.point, score, 1)),
            }
        }
        if sums.len() < 2 {
            leave_out(format!("{} finished pipeline(s): too few to rank", sums.len()));
            continue;
        }
        let results = sums.into_iter().map(|(p, sum, n)| (source.iter().map(|j| j.and_then(|j| p.get(j).cloned().flatten())).collect(), sum / n as f64)).collect();
        history.tasks.push(PastTask {
            study: study.name.clone(),
            task: study.task.clone(),
            meta: study.meta.clone(),
            teacher: study.teacher.clone(),
            shared: source.iter().map(Option::is_some).collect(),
            results,
        });
    }
    Ok(history)
}
