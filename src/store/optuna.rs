//! Optuna's parameters: what [`super::PostgresStorage`] writes for each trial so that Optuna, its
//! analysis and optuna-dashboard read our studies, and what it reads from the trials those
//! clients write. Which parameters a trial has is the search's knowledge (its space): the engine
//! is handed a [`ParamCodec`] that says it.

use serde_json::{Value, json};

use super::{StudyRecord, TrialRecord};
use crate::error::Result;
use crate::pipeline::Pipeline;

/// One of a trial's parameters as Optuna stores it: its internal value (a choice's index for
/// categorical distributions) and its distribution.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: String,
    pub internal: f64,
    pub distribution: Value,
}

/// A parameter's value as the client meant it (Optuna's external representation).
pub fn external(param: &Param) -> std::result::Result<Value, String> {
    let name = param.distribution["name"].as_str().unwrap_or("");
    let attributes = &param.distribution["attributes"];
    match name {
        "CategoricalDistribution" => {
            let choices = attributes["choices"].as_array().ok_or_else(|| format!("`{}`: a categorical distribution without choices", param.name))?;
            let index = param.internal;
            (index >= 0.0 && index.fract() == 0.0)
                .then(|| choices.get(index as usize).cloned())
                .flatten()
                .ok_or_else(|| format!("`{}`: choice index {index} is not one of its {} choices", param.name, choices.len()))
        }
        "IntDistribution" | "IntUniformDistribution" | "IntLogUniformDistribution" => Ok(json!(param.internal as i64)),
        "FloatDistribution" | "UniformDistribution" | "LogUniformDistribution" | "DiscreteUniformDistribution" => Ok(json!(param.internal)),
        other => Err(format!("`{}`: unknown distribution `{other}`", param.name)),
    }
}

/// The point and pipeline a client's parameters make, or why they make none.
pub type Decoded = std::result::Result<(Vec<Option<Value>>, Pipeline), String>;

/// Translates between a study's trials and Optuna's parameters; implemented by the search
/// (`search::optuna::OptunaParams`), which knows the study's space.
pub trait ParamCodec: Send + Sync {
    /// The parameters a trial of `study` is written with.
    fn encode(&self, study: &StudyRecord, trial: &TrialRecord) -> Result<Vec<Param>>;
    /// The point and pipeline the parameters another client wrote make in `study`'s space, or why
    /// they make none.
    fn decode(&self, study: &StudyRecord, params: &[Param]) -> Result<Decoded>;
}
