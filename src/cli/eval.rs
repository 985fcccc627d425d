use clap::Args;
use std::path::PathBuf;

use super::{Common, Format};
use distiller::data::Task;
use distiller::ops::{EvalRequest, eval};

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

pub fn exec(args: EvalArgs, common: &Common) -> super::Outcome {
    let device = common.device()?;
    let request = EvalRequest { task: Task::resolve(&args.task)?, model: args.model, max_len: args.max_len, data_dir: common.data_dir.clone(), predictions: args.predictions };
    let evaluation = eval(&request, &device)?;
    let (task, model, rows) = (request.task.name(), &request.model, evaluation.rows);
    match args.format {
        Format::Json => {
            let map: serde_json::Map<String, serde_json::Value> = evaluation.metrics.0.iter().map(|(k, v)| (k.clone(), serde_json::json!(v))).collect();
            println!("{}", serde_json::json!({ "task": task, "model": model, "dev": map, "rows": rows }));
        }
        Format::Table => {
            println!("task {task} | model {} | {rows} dev rows", model.display());
            for (name, value) in &evaluation.metrics.0 {
                println!("{name:>10}  {value:.4}");
            }
        }
    }
    Ok(())
}
