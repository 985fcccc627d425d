//! Recommending pipelines for a new dataset from the workspace's past studies, without training:
//! what `distiller recommend` does.

use std::path::PathBuf;

use crate::error::Result;
use crate::recommend::{Query, Recommendation, candidates, rank};
use crate::workspace::Workspace;

/// A `distiller recommend` request.
#[derive(Debug, Clone)]
pub struct RecommendRequest {
    pub query: Query,
    /// Rank exactly the pipelines in this file (CSV in the paper's layout, or JSONL pipeline
    /// records) instead of every pipeline of the space.
    pub candidates: Option<PathBuf>,
    /// Whose store holds the studies to learn from.
    pub workspace: Workspace,
}

/// Ranks the candidates for the dataset from the store's studies ([`rank`]); `log` hears notes
/// on opening the store.
pub fn recommend(request: RecommendRequest, log: &mut dyn FnMut(&str)) -> Result<Recommendation> {
    let mut query = request.query;
    if let Some(path) = &request.candidates {
        query.candidates = Some(candidates::load(path, &query.space)?);
    }
    let storage = super::open_store_to_read(&request.workspace, log)?;
    rank(storage.as_ref(), &query)
}
