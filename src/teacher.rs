//! Making a teacher: fine-tune the pretrained MiniLM (or any BERT checkpoint) on a task and keep
//! the best epoch in the workspace, where distillation runs find it.

use burn::module::Module;
use burn::tensor::Device;
use std::path::PathBuf;

use crate::data::{Split, Task, TextEncoder, encode_split, load_split, subsample};
use crate::error::{Error, Result};
use crate::model::{CheckpointMeta, find_pretrained_teacher, load_pretrained, save};
use crate::train::{EpochReport, FineTuneConfig, fine_tune};
use crate::workspace::Workspace;

/// Everything `distiller teacher` needs.
#[derive(Debug, Clone)]
pub struct TeacherJob {
    pub task: Task,
    pub data_dir: Option<PathBuf>,
    pub workspace: Workspace,
    /// Pretrained encoder directory; `None` finds the pip-installed MiniLM.
    pub init: Option<PathBuf>,
    /// Cap on training rows (a seeded random subset), for quick runs.
    pub max_train: Option<usize>,
    pub max_len: Option<usize>,
    pub train: FineTuneConfig,
}

/// Result of a teacher fine-tuning run.
pub struct TeacherOutcome {
    pub dir: PathBuf,
    pub epochs: Vec<EpochReport>,
    pub best: EpochReport,
    pub initialised: Vec<String>,
}

impl TeacherJob {
    /// Checks the recipe before any work: the option named, the range it takes.
    pub fn validate(&self) -> Result<()> {
        let t = &self.train;
        let bad = |what: &str| Err(Error::Usage(format!("teacher: {what}")));
        if t.epochs == 0 {
            return bad("epochs must be at least 1");
        }
        if t.batch_size == 0 {
            return bad("batch size must be at least 1");
        }
        if !(t.lr.is_finite() && t.lr > 0.0) {
            return bad(&format!("learning rate {} must be a number > 0", t.lr));
        }
        if self.max_train == Some(0) {
            return bad("max-train must be at least 1 row");
        }
        if self.max_len.is_some_and(|l| l < 3) {
            return bad("max-len must be at least 3 tokens ([CLS], a word, [SEP])");
        }
        Ok(())
    }
}

/// Fine-tunes the teacher, saving the checkpoint whenever the dev headline metric improves.
pub fn train_teacher(job: &TeacherJob, device: &Device, log: &mut dyn FnMut(&str)) -> Result<TeacherOutcome> {
    job.validate()?;
    let init = match &job.init {
        Some(dir) => dir.clone(),
        None => find_pretrained_teacher()?,
    };
    let max_len = job.max_len.unwrap_or_else(|| job.task.default_max_len());
    let kind = job.task.label_kind();
    let train_rows = subsample(load_split(&job.task, Split::Train, job.data_dir.as_deref())?, job.max_train, job.train.seed);
    let dev_rows = load_split(&job.task, Split::Dev, job.data_dir.as_deref())?;
    let encoder = TextEncoder::from_model_dir(&init, max_len)?;
    let (train, dev) = (encode_split(&encoder, &train_rows)?, encode_split(&encoder, &dev_rows)?);
    let (model, config, initialised) = load_pretrained(&init, kind.num_outputs(), job.train.seed, device)?;
    if max_len > config.max_position_embeddings {
        return Err(Error::Usage(format!("teacher: max-len {max_len} exceeds the {} positions of {}", config.max_position_embeddings, init.display())));
    }
    log(&format!(
        "teacher: {} ({} layers x {}), task {}, {} train / {} dev rows, max_len {max_len}; new head: {}",
        init.display(),
        config.num_hidden_layers,
        config.hidden_size,
        job.task.name(),
        train.encoded.len(),
        dev.encoded.len(),
        if initialised.is_empty() { "none".to_string() } else { initialised.join(", ") }
    ));
    let dir = job.workspace.teacher_dir(&job.task.name());
    let mut best: Option<EpochReport> = None;
    let mut on_epoch = |report: &EpochReport, model: &crate::model::Bert| -> Result<()> {
        log(&format!("epoch {}: loss {:.4}, dev {}, {:.1} samples/s, {:.0}s", report.epoch, report.mean_loss, report.dev, report.samples_per_sec, report.seconds));
        if best.as_ref().is_none_or(|b| report.dev.headline() > b.dev.headline()) {
            let meta = CheckpointMeta {
                task: job.task.name(),
                label_kind: kind.clone(),
                max_len,
                dev_metrics: Some(report.dev.clone()),
                epochs_done: report.epoch,
                seed: job.train.seed,
                init_from: init.display().to_string(),
            };
            save(&dir, &model.valid(), &config, &meta, &init)?;
            log(&format!("saved {}", dir.display()));
            best = Some(report.clone());
        }
        Ok(())
    };
    let epochs = fine_tune(model, &train, &dev, &kind, job.task.metric(), encoder.pad_id(), &job.train, device, &mut on_epoch)?;
    let best = best.ok_or_else(|| Error::Usage("teacher: no epoch ran".into()))?;
    Ok(TeacherOutcome { dir, epochs, best, initialised })
}
