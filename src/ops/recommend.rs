//! Recommending pipelines for a new dataset from past studies, without training: what
//! `distiller recommend` does.

use std::path::PathBuf;

use crate::data::{Split, Task, load_split};
use crate::error::Result;
use crate::pipeline::Pipeline;
use crate::recommend::{DatasetMeta, Prediction, past_tasks_in_store, top_picks};
use crate::search::Space;
use crate::store::Storage;

/// A `distiller recommend` request.
#[derive(Debug, Clone)]
pub struct RecommendRequest {
    /// The new dataset's meta-features.
    pub meta: DatasetMeta,
    /// The space whose pipelines are ranked; the recommender learns from studies over it.
    pub space: Space,
    /// How many picks to return (at least one).
    pub top: usize,
    /// Where the past tasks' training data is looked up (for the nearest-task distances).
    pub data_dir: Option<PathBuf>,
}

/// A ranked pick and its pipeline.
#[derive(Debug, Clone)]
pub struct Pick {
    pub prediction: Prediction,
    pub pipeline: Pipeline,
}

/// What the recommender answered.
#[derive(Debug, Clone)]
pub struct Recommendation {
    /// Best first.
    pub picks: Vec<Pick>,
    /// "study (task) (N pipelines)" for each past study learnt from.
    pub learnt_from: Vec<String>,
    /// Past tasks nearest first by meta-feature distance (those whose data is found here).
    pub nearest: Vec<(String, f64)>,
}

/// Ranks the space's pipelines for the dataset from the store's studies over the same space.
pub fn recommend(storage: &dyn Storage, request: &RecommendRequest) -> Result<Recommendation> {
    let past = past_tasks_in_store(storage, &request.space, None)?;
    let learnt_from = past.iter().map(|t| format!("{} ({} pipelines)", t.name, t.results.len())).collect();
    let nearest = nearest_tasks(&request.meta, storage, &request.space, request.data_dir.as_deref())?;
    let picks = top_picks(past, &request.space, request.top.max(1))?
        .into_iter()
        .map(|prediction| Ok(Pick { pipeline: request.space.compose(&prediction.point)?, prediction }))
        .collect::<Result<Vec<_>>>()?;
    Ok(Recommendation { picks, learnt_from, nearest })
}

/// The tasks of the store's studies over `space`, nearest first by meta-feature distance to `meta`
/// (computed from each task's training data; tasks whose data is not found here are left out).
fn nearest_tasks(meta: &DatasetMeta, storage: &dyn Storage, space: &Space, data_dir: Option<&std::path::Path>) -> Result<Vec<(String, f64)>> {
    let mut names: Vec<String> = storage.studies()?.into_iter().filter(|s| s.space.trim() == space.source.trim()).map(|s| s.task).collect();
    names.sort();
    names.dedup();
    let mut nearest: Vec<(String, f64)> = names
        .into_iter()
        .filter_map(|name| {
            let task = Task::resolve(&name).ok()?;
            let train = load_split(&task, Split::Train, data_dir).ok()?;
            Some((name, meta.distance(&DatasetMeta::from_examples(&train, &task.label_kind()))))
        })
        .collect();
    nearest.sort_by(|a, b| a.1.total_cmp(&b.1));
    Ok(nearest)
}
