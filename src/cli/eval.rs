use clap::Args;
use std::path::PathBuf;

use super::{Common, Format};
use distiller::data::{Split, Task, TextEncoder, encode_split, load_split};

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// GLUE task name or custom task spec (.toml).
    #[arg(long)]
    pub task: String,
    /// Checkpoint directory (config.json + model.safetensors + tokenizer).
    #[arg(long)]
    pub model: PathBuf,
    /// Truncation length (default: the checkpoint's, else the task's).
    #[arg(long, allow_negative_numbers = true)]
    pub max_len: Option<usize>,
    /// Also write the model's logits for every dev row, one JSON line each (`{"row": i,
    /// "logits": [...]}`) in the dev file's order: what the model predicted, to compare with
    /// another runtime such as HF transformers.
    #[arg(long, value_name = "FILE")]
    pub predictions: Option<PathBuf>,
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn exec(args: EvalArgs, common: &Common) -> distiller::Result<()> {
    let device = common.device()?;
    let task = Task::resolve(&args.task)?;
    let loaded = distiller::model::load(&args.model, &device)?;
    let expected = task.label_kind().num_outputs();
    if loaded.config.num_labels != expected {
        return Err(distiller::Error::checkpoint(&args.model, format!("head has {} outputs, task {} needs {expected}", loaded.config.num_labels, task.name())));
    }
    let max_len = args.max_len.or(loaded.meta.as_ref().map(|m| m.max_len)).unwrap_or_else(|| task.default_max_len());
    if max_len > loaded.config.max_position_embeddings {
        return Err(distiller::Error::Usage(format!("--max-len {max_len} exceeds the {} positions of {}", loaded.config.max_position_embeddings, args.model.display())));
    }
    let encoder = TextEncoder::from_model_dir(&args.model, max_len)?;
    let dev = encode_split(&encoder, &load_split(&task, Split::Dev, common.data_dir.as_deref())?)?;
    let logits = distiller::train::predict_logits(&loaded.model, &dev.encoded, distiller::train::EVAL_BATCH, encoder.pad_id(), &device);
    let metrics = distiller::train::score_logits(&logits, &dev.labels, &task.label_kind(), task.metric());
    if let Some(path) = &args.predictions {
        let lines: String = logits.iter().enumerate().map(|(row, l)| format!("{}\n", serde_json::json!({"row": row, "logits": l}))).collect();
        std::fs::write(path, lines).map_err(|e| distiller::Error::io(path, e))?;
    }
    match args.format {
        Format::Json => {
            let map: serde_json::Map<String, serde_json::Value> = metrics.0.iter().map(|(k, v)| (k.clone(), serde_json::json!(v))).collect();
            println!("{}", serde_json::json!({ "task": task.name(), "model": args.model, "dev": map, "rows": dev.labels.len() }));
        }
        Format::Table => {
            println!("task {} | model {} | {} dev rows", task.name(), args.model.display(), dev.labels.len());
            for (name, value) in &metrics.0 {
                println!("{name:>10}  {value:.4}");
            }
        }
    }
    Ok(())
}
