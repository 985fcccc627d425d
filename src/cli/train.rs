use clap::Args;
use std::path::PathBuf;

use super::{Common, Format};
use distiller::Pipeline;
use distiller::data::Task;
use distiller::ops::{TrainRequest, train};

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// GLUE task name or custom task spec (.toml).
    #[arg(long)]
    pub task: String,
    /// Pipeline file (TOML or JSON); every field has a default, see README "File formats".
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
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn exec(args: TrainArgs, common: &Common) -> super::Outcome {
    let device = common.device()?;
    let request = TrainRequest {
        task: Task::resolve(&args.task)?,
        pipeline: match &args.pipeline {
            Some(path) => Pipeline::from_file(path)?,
            None => Pipeline::default(),
        },
        teacher: args.teacher,
        out: args.out,
        use_cache: !args.no_cache,
        data_dir: common.data_dir.clone(),
        workspace: common.workspace()?,
    };
    let outcome = train(request, &device, &mut super::note)?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string(&outcome).expect("outcome serialises")),
        Format::Table => println!(
            "{} | {} | dev {} | {} train rows | cache {} | {:.0}s | {}",
            outcome.task,
            outcome.pipeline.summary(),
            outcome.dev,
            outcome.train_rows,
            if outcome.cache_hit { "hit" } else { "miss" },
            outcome.wall_seconds,
            outcome.student_dir.display()
        ),
    }
    Ok(())
}
