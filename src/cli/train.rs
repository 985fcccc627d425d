use clap::Args;
use std::path::PathBuf;

use super::Common;
use distiller::Pipeline;
use distiller::data::Task;
use distiller::distill::{DistillJob, distill};

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// GLUE task name or custom task spec (.toml).
    #[arg(long)]
    pub task: String,
    /// Pipeline file (TOML or JSON); every field has a default, see README "Pipelines".
    #[arg(long)]
    pub pipeline: Option<PathBuf>,
    /// Fine-tuned teacher checkpoint (default: <workspace>/teachers/<task>, made by `distiller teacher`).
    #[arg(long)]
    pub teacher: Option<PathBuf>,
    /// Where to save the student (default: <workspace>/runs/<task>-<pipeline digest>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Run the teacher on every batch instead of reading the teacher cache (the paper's way).
    #[arg(long)]
    pub no_cache: bool,
    /// Output format: table or json.
    #[arg(short, long, default_value = "table")]
    pub format: String,
}

pub fn exec(args: TrainArgs, common: &Common) -> distiller::Result<()> {
    let device = distiller::backend::device(common.backend.as_deref())?;
    let task = Task::resolve(&args.task)?;
    let pipeline = match &args.pipeline {
        Some(path) => Pipeline::from_file(path)?,
        None => Pipeline::default(),
    };
    let teacher_dir = teacher_or_hint(args.teacher, &common.workspace, &task)?;
    let job = DistillJob { task, pipeline, teacher_dir, data_dir: common.data_dir.clone(), workspace: common.workspace.clone(), out_dir: args.out, use_cache: !args.no_cache };
    let outcome = distill(&job, &device, &mut |line| eprintln!("{line}"))?;
    if args.format == "json" {
        println!("{}", serde_json::to_string(&outcome).expect("outcome serialises"));
    } else {
        println!(
            "{} | {} | dev {} | {} train rows | cache {} | {:.0}s | {}",
            outcome.task,
            outcome.pipeline.summary(),
            outcome.dev,
            outcome.train_rows,
            if outcome.cache_hit { "hit" } else { "miss" },
            outcome.wall_seconds,
            outcome.student_dir.display()
        );
    }
    Ok(())
}

/// The teacher checkpoint to distil from, or an error saying how to make one.
pub fn teacher_or_hint(explicit: Option<PathBuf>, workspace: &std::path::Path, task: &Task) -> distiller::Result<PathBuf> {
    let dir = explicit.unwrap_or_else(|| distiller::teacher::teacher_dir(workspace, task));
    if dir.join("config.json").is_file() {
        Ok(dir)
    } else {
        Err(distiller::Error::Config(format!("no teacher checkpoint at {}: run `distiller teacher --task {}` first or pass --teacher DIR", dir.display(), task.name())))
    }
}
