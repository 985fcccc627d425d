//! Copying a trial's student checkpoint, pipeline and metrics out of the workspace.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::store::{TrialRecord, TrialState};
use crate::workspace::Workspace;

/// An `export` request.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub workspace: Workspace,
    pub study: String,
    /// Trial id (default: the study's best complete trial).
    pub trial: Option<u64>,
    /// Destination folder.
    pub out: PathBuf,
}

/// What [`export`] wrote.
#[derive(Debug, Clone)]
pub struct Exported {
    pub trial: TrialRecord,
    /// Set when HF transformers cannot load the exported model as the same model, saying why.
    pub hf_note: Option<&'static str>,
}

/// Copies the trial's student files into `out`, with `pipeline.toml` and `metrics.json`; its
/// `config.json` is written as HF transformers reads it.
pub fn export(request: &ExportRequest, log: &mut dyn FnMut(&str)) -> Result<Exported> {
    let storage = super::open_store_to_read(&request.workspace, log)?;
    let (_, trials) = crate::store::study_trials(storage.as_ref(), &request.study)?;
    let trial = match request.trial {
        Some(id) => trials.iter().find(|t| t.id == id).ok_or_else(|| Error::NoSuchTrial { study: request.study.clone(), id })?,
        None => crate::search::study::best_trial(&request.study, &trials)?,
    };
    if trial.state != TrialState::Complete {
        return Err(Error::TrialNotComplete { id: trial.id, state: trial.state.name() });
    }
    let src = trial.student_dir.as_ref().ok_or(Error::NoStudent { id: trial.id })?;
    // In a study many workers share, the checkpoint lives on the machine that ran the trial.
    if let Some(host) = trial.host.as_deref().filter(|h| !src.is_dir() && Some(*h) != crate::search::study::hostname().as_deref()) {
        return Err(Error::StudentElsewhere { id: trial.id, host: host.to_string(), path: src.clone() });
    }
    let out = &request.out;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    for entry in std::fs::read_dir(src).map_err(|e| Error::io(src, e))? {
        let entry = entry.map_err(|e| Error::io(src, e))?;
        if entry.path().is_file() {
            std::fs::copy(entry.path(), out.join(entry.file_name())).map_err(|e| Error::io(entry.path(), e))?;
        }
    }
    let write = |name: &str, text: String| std::fs::write(out.join(name), text).map_err(|e| Error::io(out.join(name), e));
    write("pipeline.toml", trial.pipeline.to_toml())?;
    let metrics = serde_json::json!({ "study": request.study, "trial": trial.id, "score": trial.score, "metrics": trial.metrics, "compression": trial.compression });
    write("metrics.json", serde_json::to_string_pretty(&metrics).expect("json values serialise"))?;
    // Rewritten in today's form, so a student an older release saved loads in HF transformers too.
    let config_file = out.join(crate::model::checkpoint::CONFIG_FILE);
    let config = crate::model::BertConfig::from_file(&config_file)?;
    std::fs::write(&config_file, config.to_hf_json()).map_err(|e| Error::io(&config_file, e))?;
    Ok(Exported { trial: trial.clone(), hf_note: config.classifier_pooling.hf_note() })
}
