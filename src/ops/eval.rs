//! A checkpoint's dev metrics on a task: what `distiller eval` does.

use burn::tensor::Device;
use std::path::PathBuf;

use crate::data::{Metrics, Split, Task, TextEncoder, encode_split, load_split};
use crate::error::{Error, Result};

/// A `distiller eval` request.
#[derive(Debug, Clone)]
pub struct EvalRequest {
    pub task: Task,
    /// Checkpoint directory (config.json, model.safetensors, tokenizer).
    pub model: PathBuf,
    /// Truncation length (default: the checkpoint's, else the task's).
    pub max_len: Option<usize>,
    pub data_dir: Option<PathBuf>,
    /// Also write the logits of every dev row here, one JSON line each (`{"row": i, "logits":
    /// [...]}`), in the dev file's order.
    pub predictions: Option<PathBuf>,
}

/// What [`eval`] measured.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The dev rows scored.
    pub rows: usize,
    pub metrics: Metrics,
}

/// Scores the checkpoint on the task's dev split.
pub fn eval(request: &EvalRequest, device: &Device) -> Result<Evaluation> {
    let (task, model) = (&request.task, &request.model);
    let loaded = crate::model::load(model, device)?;
    let expected = task.label_kind().num_outputs();
    if loaded.config.num_labels != expected {
        return Err(Error::checkpoint(model, format!("head has {} outputs, task {} needs {expected}", loaded.config.num_labels, task.name())));
    }
    let max_len = request.max_len.or(loaded.meta.as_ref().map(|m| m.max_len)).unwrap_or_else(|| task.default_max_len());
    if max_len > loaded.config.max_position_embeddings {
        return Err(Error::TooLong { max_len, positions: loaded.config.max_position_embeddings, model: model.clone() });
    }
    let encoder = TextEncoder::from_model_dir(model, max_len)?;
    let dev = encode_split(&encoder, &load_split(task, Split::Dev, request.data_dir.as_deref())?)?;
    let logits = crate::train::predict_logits(&loaded.model, &dev.encoded, crate::train::EVAL_BATCH, encoder.pad_id(), device);
    let metrics = crate::train::score_logits(&logits, &dev.labels, &task.label_kind(), task.metric());
    if let Some(path) = &request.predictions {
        let lines: String = logits.iter().enumerate().map(|(row, l)| format!("{}\n", serde_json::json!({"row": row, "logits": l}))).collect();
        std::fs::write(path, lines).map_err(|e| Error::io(path, e))?;
    }
    Ok(Evaluation { rows: dev.labels.len(), metrics })
}
