//! The recommender's answer for a new dataset: which candidates to rank (the query's, else the
//! space's), which teacher's studies stand for the new task's, the ranking by the meta-model, and
//! what it learnt from. `distiller recommend` and `search --warm-start` both ask it.

use crate::data::DatasetMeta;
use crate::error::{Error, Result};
use crate::pipeline::Pipeline;
use crate::search::Space;
use crate::search::space::{POOL_LIMIT, Point};
use crate::store::Storage;

use super::{Candidate, Model, ModelChoice, PastTask, Prediction, Setting, Students, Target, history, popular};

/// What to rank, for which dataset, learning from which studies.
#[derive(Debug, Clone)]
pub struct Query {
    /// The new dataset's meta-features.
    pub meta: DatasetMeta,
    /// The space whose pipelines are ranked.
    pub space: Space,
    /// Rank exactly these (a candidates file's) instead of every pipeline of the space.
    pub candidates: Option<Vec<Candidate>>,
    /// How many picks to return (all candidates when larger; at least one).
    pub top: usize,
    pub students: Students,
    /// Task weighting, and any of the model's blend and configuration scale the caller fixes;
    /// leave-one-task-out chooses the rest.
    pub model: ModelChoice,
    /// The teacher whose studies stand for the new task's (default: the one with studies of the
    /// most tasks); whether other teachers' studies count too is the model's choice.
    pub teacher: Option<String>,
    /// Never learn from this task's studies (a search's own task; the held-out task of an
    /// evaluation).
    pub exclude_task: Option<String>,
}

impl Query {
    /// The CLI's defaults: every pipeline of `space`, top 5, same-depth students, automatic task
    /// weighting, blend and scale chosen by leave-one-task-out.
    pub fn new(meta: DatasetMeta, space: Space) -> Self {
        Self { meta, space, candidates: None, top: 5, students: Students::SameDepth, model: ModelChoice::default(), teacher: None, exclude_task: None }
    }
}

/// A ranked pick and its pipeline.
#[derive(Debug, Clone)]
pub struct Pick {
    pub prediction: Prediction,
    pub pipeline: Pipeline,
    /// Its line in the candidates file, when there is one.
    pub line: Option<usize>,
    /// Its rank (1 = first) in the most-popular ranking of the same candidates, learnt from the
    /// matched teacher's studies ([`popular::most_popular`]).
    pub baseline_rank: usize,
}

/// A past study learnt from.
#[derive(Debug, Clone)]
pub struct LearntFrom {
    pub study: String,
    pub task: String,
    /// Distinct pipelines it finished.
    pub pipelines: usize,
    /// The space's fields it varied (what carries over from it).
    pub fields: Vec<String>,
    /// Its share of the total weight for this dataset.
    pub share: f64,
}

/// What the recommender answered.
#[derive(Debug, Clone)]
pub struct Recommendation {
    /// Best first.
    pub picks: Vec<Pick>,
    /// Heaviest first.
    pub learnt_from: Vec<LearntFrom>,
    /// Studies in the store not learnt from, with the reason.
    pub left_out: Vec<(String, String)>,
    /// The setting leave-one-task-out chose.
    pub setting: Setting,
    /// Why: the best leave-one-task-out score of each blend tried, (β, score) (empty when too
    /// few past studies to choose).
    pub blend_scores: Vec<(f64, f64)>,
    /// How many past studies were held out in turn to choose.
    pub held_out: usize,
    /// The teacher the new task was matched to.
    pub teacher: Option<String>,
    /// How many candidates were ranked.
    pub ranked: usize,
    /// The space's fields no study learnt from varied: the ranking cannot tell their values apart
    /// (ties keep the space's order).
    pub uninformed: Vec<String>,
}

/// Ranks the candidates (the query's, else every pipeline of the space) for the dataset, learning
/// from the store's studies that share fields with the space.
pub fn rank(storage: &dyn Storage, request: &Query) -> Result<Recommendation> {
    let space = &request.space;
    let past = history(storage, space, request.exclude_task.as_deref(), request.students)?;
    if past.tasks.is_empty() {
        let why = past.left_out.iter().map(|(s, why)| format!("{s}: {why}")).take(3).collect::<Vec<_>>().join("; ");
        return Err(Error::NothingToLearnFrom { why });
    }
    if let Some(wanted) = &request.teacher
        && !past.tasks.iter().any(|t| t.teacher.as_ref() == Some(wanted))
    {
        let mut known: Vec<&str> = past.tasks.iter().filter_map(|t| t.teacher.as_deref()).collect();
        known.sort();
        known.dedup();
        return Err(Error::UnknownTeacher { wanted: wanted.clone(), known: known.into_iter().map(String::from).collect() });
    }
    let model = Model::fit(&past.tasks, space, request.model)?;
    let teacher = request.teacher.clone().or_else(|| best_covered_teacher(&past.tasks));
    let target = Target { meta: &request.meta, teacher: teacher.as_deref() };
    let (points, lines): (Vec<Point>, Vec<Option<usize>>) = match &request.candidates {
        Some(candidates) => candidates.iter().map(|c| (c.point.clone(), Some(c.line))).unzip(),
        None => space_candidates(space, &past.tasks)?.into_iter().map(|p| (p, None)).unzip(),
    };
    let ranked = points.len();
    // The baseline learns from the matched teacher's studies, as the model does by default.
    let same_teacher: Vec<PastTask> = past.tasks.iter().filter(|t| teacher.is_none() || t.teacher == teacher).cloned().collect();
    let mut baseline_rank = vec![0; points.len()];
    for (rank, i) in popular::most_popular(&same_teacher, &points, popular::min_tasks(&same_teacher)).into_iter().enumerate() {
        baseline_rank[i] = rank + 1;
    }
    let mut picks = Vec::new();
    for prediction in model.rank(target, &points).into_iter().take(request.top.max(1)) {
        let at = prediction.index;
        let pipeline = match &request.candidates {
            Some(candidates) => candidates[at].pipeline.clone(),
            // The space's full budget: a pick is meant to be trained, not screened.
            None => space.compose_at(&prediction.point, space.rungs() - 1)?,
        };
        picks.push(Pick { prediction, pipeline, line: lines[at], baseline_rank: baseline_rank[at] });
    }
    let shares = model.task_shares(target);
    let mut learnt_from: Vec<LearntFrom> = past
        .tasks
        .iter()
        .map(|t| LearntFrom {
            study: t.study.clone(),
            task: t.task.clone(),
            pipelines: t.results.len(),
            fields: t.shared_fields(space).into_iter().map(String::from).collect(),
            share: shares.iter().find(|(s, _)| *s == t.study).map_or(0.0, |(_, w)| *w),
        })
        .collect();
    learnt_from.sort_by(|a, b| b.share.total_cmp(&a.share));
    let mut left_out = past.left_out;
    for unused in learnt_from.iter().filter(|l| l.share == 0.0) {
        left_out.push((unused.study.clone(), format!("another teacher than {} (leave-one-task-out chose not to pool teachers)", teacher.as_deref().unwrap_or("-"))));
    }
    learnt_from.retain(|l| l.share > 0.0);
    let uninformed = space.dims.iter().map(|d| d.field.clone()).filter(|f| !learnt_from.iter().any(|l| l.fields.contains(f))).collect();
    Ok(Recommendation { picks, learnt_from, left_out, setting: model.setting(), blend_scores: model.blend_scores(), held_out: model.held_out, teacher, ranked, uninformed })
}

/// The teacher whose studies cover the most tasks (ties: the first by name).
fn best_covered_teacher(past: &[PastTask]) -> Option<String> {
    let mut tasks: std::collections::BTreeMap<&str, std::collections::BTreeSet<&str>> = Default::default();
    for t in past {
        if let Some(teacher) = &t.teacher {
            tasks.entry(teacher).or_default().insert(&t.task);
        }
    }
    tasks
        .into_iter()
        .fold(None, |best: Option<(&str, usize)>, (teacher, covered)| match best {
            Some((_, n)) if n >= covered.len() => best,
            _ => Some((teacher, covered.len())),
        })
        .map(|(teacher, _)| teacher.to_string())
}

/// Every pipeline of a finite space; for a space with float ranges, the past pipelines that set
/// every field of it.
fn space_candidates(space: &Space, past: &[PastTask]) -> Result<Vec<Point>> {
    if let Some(points) = space.finite_points(POOL_LIMIT) {
        return Ok(points);
    }
    let mut points: Vec<Point> = Vec::new();
    for task in past.iter().filter(|t| t.shared.iter().all(|s| *s)) {
        for (p, _) in &task.results {
            if !points.contains(p) && space.compose(p).is_ok() {
                points.push(p.clone());
            }
        }
    }
    if points.is_empty() {
        return Err(Error::Recommend(format!("space `{}` has float ranges and no past study over it: give the pipelines to rank as candidates", space.name)));
    }
    Ok(points)
}
