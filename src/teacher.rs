//! Making a teacher: fine-tune the pretrained MiniLM (or any BERT checkpoint) on a task and keep
//! the best epoch in the workspace, where distillation runs find it.
//!
//! The recipe adapts to the data: on a small training set the epochs rise until the run makes
//! [`MIN_STEPS`] optimisation steps (warm-up and decay are fractions of the steps, so they follow),
//! and the head reads `[CLS]`, as HF transformers' BERT classifier does (the token mean, which
//! scored higher on one-sentence tasks, is `Pooling::Mean`: a model HF cannot express).
//! [`tune_teacher`] searches the recipe itself with the project's study machinery, on a held-out
//! part of the training rows, then trains the workspace teacher with the best recipe found.
//! Each teacher leaves a [`TeacherReport`] beside its checkpoint: its dev metric and its spread
//! over seeds, so a search can say how good its teacher is before it starts.

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use crate::data::{EncodedSplit, Example, Metrics, Split, Task, TextEncoder, encode_split, load_split, subsample};
use crate::error::{Error, Result};
use crate::model::checkpoint::CONFIG_FILE;
use crate::model::{BertConfig, CheckpointMeta, Pooling, PretrainedHead, find_pretrained_teacher, load_pretrained, save};
use crate::search::{SearchLimits, Space, Study, TrialOutcome};
use crate::store::{Storage, StudyKind};
use crate::train::{EpochReport, FineTuneConfig, fine_tune};
use crate::workspace::Workspace;

/// The fewest optimisation steps an adaptive recipe makes: below it a small training set (2,500
/// sentence pairs at 3 epochs of batch 32 make 237) left the teacher at chance (docs/teacher.md).
pub const MIN_STEPS: usize = 600;

/// The most epochs the adaptive recipe raises a run to.
pub const MAX_ADAPTIVE_EPOCHS: usize = 20;

/// The part of the training rows `tune_teacher` holds out to score recipes on.
pub const HOLDOUT_FRACTION: f64 = 0.1;

/// The fewest held-out rows a recipe is scored on; with [`HOLDOUT_FRACTION`] a task needs ten
/// times as many training rows to be tuned.
pub const MIN_HOLDOUT_ROWS: usize = 50;

/// The recipe `distiller teacher` and a `search` without a teacher use: AdamW at lr 1e-4 (SST-2's
/// best, docs/teacher.md), batch 32, 10 % warm-up, 3 epochs raised on small sets.
pub fn default_recipe() -> FineTuneConfig {
    FineTuneConfig { lr: 1e-4, ..FineTuneConfig::default() }
}

/// Epochs for `rows` training rows: `epochs`, raised until the run makes [`MIN_STEPS`] steps,
/// at most [`MAX_ADAPTIVE_EPOCHS`] (never fewer than asked).
pub fn adaptive_epochs(epochs: usize, rows: usize, batch_size: usize) -> usize {
    let per_epoch = rows.div_ceil(batch_size.max(1)).max(1);
    epochs.max(MIN_STEPS.div_ceil(per_epoch).min(MAX_ADAPTIVE_EPOCHS))
}

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
    /// Raise the epochs on a small training set ([`adaptive_epochs`]); off when the epochs were
    /// given.
    pub adaptive: bool,
    /// Runs of the recipe, seeded `train.seed`, +1, …: the one best on dev is kept, the spread
    /// of all is reported.
    pub seeds: usize,
    /// Start the pooler afresh (seeded) instead of from the pretrained checkpoint's.
    pub fresh_pooler: bool,
    /// What the task head reads: `[CLS]` or the mean over tokens.
    pub pooling: Pooling,
}

/// What is saved beside a teacher's checkpoint (`teacher.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeacherReport {
    pub task: String,
    /// The recipe as it ran (epochs after adaptation; `seed` the kept run's).
    pub recipe: FineTuneConfig,
    pub train_rows: usize,
    /// The kept checkpoint's dev metrics.
    pub dev: Metrics,
    /// (seed, dev headline) of every run of the recipe.
    pub seeds: Vec<(u64, f64)>,
    pub mean: f64,
    /// Sample standard deviation over the seeds (0 for one seed).
    pub sd: f64,
    /// The study that chose the recipe, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub study: Option<String>,
    /// Whether the pooler started afresh.
    #[serde(default)]
    pub fresh_pooler: bool,
    /// What the task head read.
    #[serde(default)]
    pub pooling: Pooling,
}

/// The report file in a teacher's checkpoint folder.
pub const REPORT_FILE: &str = "teacher.json";

impl TeacherReport {
    /// The report beside the checkpoint in `dir`, if there is one.
    pub fn read(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(REPORT_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| Error::checkpoint(&path, format!("corrupt teacher report: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(REPORT_FILE);
        std::fs::write(&path, serde_json::to_string_pretty(self).expect("report serialises")).map_err(|e| Error::io(&path, e))
    }

    /// One line: the dev metric and the spread over seeds.
    pub fn summary(&self) -> String {
        let spread = if self.seeds.len() > 1 { format!(" (mean {:.4} ± {:.4} over {} seeds)", self.mean, self.sd, self.seeds.len()) } else { String::new() };
        format!("dev {}{spread}, {} epochs at lr {:e}, batch {}", self.dev, self.recipe.epochs, self.recipe.lr, self.recipe.batch_size)
    }
}

/// Result of a teacher fine-tuning run.
pub struct TeacherOutcome {
    pub dir: PathBuf,
    /// The kept run's epochs.
    pub epochs: Vec<EpochReport>,
    pub best: EpochReport,
    pub initialised: Vec<String>,
    pub report: TeacherReport,
}

impl TeacherJob {
    /// Checks the recipe before any work: the option named, the range it takes.
    pub fn validate(&self) -> Result<()> {
        let t = &self.train;
        let bad = |option: &'static str, message: String| Err(Error::InvalidOption { option, message });
        if t.epochs == 0 {
            return bad("epochs", "must be at least 1".into());
        }
        if t.batch_size == 0 {
            return bad("batch_size", "must be at least 1".into());
        }
        if !(t.lr.is_finite() && t.lr > 0.0) {
            return bad("lr", format!("{} must be a number > 0", t.lr));
        }
        if !(0.0..1.0).contains(&t.warmup_ratio) {
            return bad("warmup", format!("{} must be a fraction of the steps in [0, 1)", t.warmup_ratio));
        }
        if self.seeds == 0 {
            return bad("seeds", "must be at least 1".into());
        }
        if !(t.head_lr_scale.is_finite() && t.head_lr_scale > 0.0) {
            return bad("head_lr_scale", format!("{} must be a number > 0", t.head_lr_scale));
        }
        if !(t.layer_decay > 0.0 && t.layer_decay <= 1.0) {
            return bad("layer_decay", format!("{} must lie in (0, 1]", t.layer_decay));
        }
        if self.max_train == Some(0) {
            return bad("max_train", "must be at least 1 row".into());
        }
        if self.max_len.is_some_and(|l| l < 3) {
            return bad("max_len", "must be at least 3 tokens ([CLS], a word, [SEP])".into());
        }
        Ok(())
    }

    /// The training rows (after `max_train`).
    fn train_rows(&self) -> Result<Vec<Example>> {
        Ok(subsample(load_split(&self.task, Split::Train, self.data_dir.as_deref())?, self.max_train, self.train.seed))
    }
}

/// What every run of a job starts from: the pretrained encoder, its tokenizer, the truncation length.
struct Setup {
    init: PathBuf,
    max_len: usize,
    encoder: TextEncoder,
}

/// The pretrained encoder, its tokenizer, and a check that `max_len` fits its positions.
fn setup(job: &TeacherJob) -> Result<Setup> {
    let init = match &job.init {
        Some(dir) => dir.clone(),
        None => find_pretrained_teacher()?,
    };
    let max_len = job.max_len.unwrap_or_else(|| job.task.default_max_len());
    let encoder = TextEncoder::from_model_dir(&init, max_len)?;
    let positions = BertConfig::from_file(&init.join(CONFIG_FILE))?.max_position_embeddings;
    if max_len > positions {
        return Err(Error::TooLong { max_len, positions, model: init });
    }
    Ok(Setup { init, max_len, encoder })
}

/// One fine-tuning run of `config`, its epochs scored on `select`; the best epoch is saved to
/// `save_to` when given. Returns every epoch and the best.
#[allow(clippy::too_many_arguments)]
fn fit(
    job: &TeacherJob,
    setup: &Setup,
    train: &EncodedSplit,
    select: &EncodedSplit,
    config: &FineTuneConfig,
    save_to: Option<&Path>,
    device: &Device,
    log: &mut dyn FnMut(&str),
) -> Result<(Vec<EpochReport>, EpochReport, Vec<String>)> {
    let kind = job.task.label_kind();
    let (model, model_config, initialised) = load_pretrained(
        &setup.init,
        PretrainedHead { num_labels: kind.num_outputs(), seed: config.seed, fresh_pooler: job.fresh_pooler, pooling: job.pooling, layers: None },
        device,
    )?;
    let mut best: Option<EpochReport> = None;
    let mut on_epoch = |report: &EpochReport, model: &crate::model::Bert| -> Result<()> {
        log(&format!(
            "epoch {}: loss {:.4}, {} {}, {:.1} samples/s, {:.0}s",
            report.epoch,
            report.mean_loss,
            if save_to.is_some() { "dev" } else { "held-out" },
            report.dev,
            report.samples_per_sec,
            report.seconds
        ));
        if best.as_ref().is_none_or(|b| report.dev.headline() > b.dev.headline()) {
            if let Some(dir) = save_to {
                let meta = CheckpointMeta {
                    task: job.task.name(),
                    label_kind: kind.clone(),
                    max_len: setup.max_len,
                    dev_metrics: Some(report.dev.clone()),
                    epochs_done: report.epoch,
                    seed: config.seed,
                    init_from: setup.init.display().to_string(),
                };
                save(dir, &model.valid(), &model_config, &meta, &setup.init)?;
            }
            best = Some(report.clone());
        }
        Ok(())
    };
    let epochs = fine_tune(model, train, select, &kind, job.task.metric(), setup.encoder.pad_id(), config, device, &mut on_epoch)?;
    let best = best.ok_or_else(|| Error::InvalidOption { option: "epochs", message: "no epoch ran".into() })?;
    Ok((epochs, best, initialised))
}

fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let sd = if values.len() > 1 { (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() } else { 0.0 };
    (mean, sd)
}

/// Fine-tunes the teacher on every training row with `job.train` (epochs adapted when
/// `job.adaptive`), once per seed; the run best on dev is kept in the workspace, its epoch best
/// on dev saved, and the report written beside it.
pub fn train_teacher(job: &TeacherJob, device: &Device, log: &mut dyn FnMut(&str)) -> Result<TeacherOutcome> {
    train_with(job, None, device, log)
}

fn train_with(job: &TeacherJob, study: Option<String>, device: &Device, log: &mut dyn FnMut(&str)) -> Result<TeacherOutcome> {
    job.validate()?;
    let (rows, dev_rows) = (job.train_rows()?, load_split(&job.task, Split::Dev, job.data_dir.as_deref())?);
    let setup = setup(job)?;
    let (train, dev) = (encode_split(&setup.encoder, &rows)?, encode_split(&setup.encoder, &dev_rows)?);
    let mut recipe = job.train.clone();
    if job.adaptive {
        recipe.epochs = adaptive_epochs(recipe.epochs, rows.len(), recipe.batch_size);
        if recipe.epochs != job.train.epochs {
            log(&format!(
                "small training set: {} rows make {} steps an epoch; {} epochs for at least {MIN_STEPS} steps",
                rows.len(),
                rows.len().div_ceil(recipe.batch_size),
                recipe.epochs
            ));
        }
    }
    log(&format!(
        "teacher: {}, task {}, {} train / {} dev rows, max_len {}; {} epochs, lr {:e}, batch {}, warm-up {}, head on {:?}, {} seed(s)",
        setup.init.display(),
        job.task.name(),
        train.encoded.len(),
        dev.encoded.len(),
        setup.max_len,
        recipe.epochs,
        recipe.lr,
        recipe.batch_size,
        recipe.warmup_ratio,
        job.pooling,
        job.seeds
    ));
    if let Some(note) = job.pooling.hf_note() {
        log(&format!("note: {note}"));
    }
    let dir = job.workspace.teacher_dir(&job.task.name());
    let mut kept: Option<(Vec<EpochReport>, EpochReport, Vec<String>, u64)> = None;
    let mut seeds = Vec::new();
    for k in 0..job.seeds as u64 {
        let config = FineTuneConfig { seed: recipe.seed.wrapping_add(k), ..recipe.clone() };
        if job.seeds > 1 {
            log(&format!("seed {} ({} of {})", config.seed, k + 1, job.seeds));
        }
        // Later seeds train beside the kept checkpoint and replace it only when better on dev.
        let target = if kept.is_none() { dir.clone() } else { dir.with_file_name(format!("{}.seed-{}", job.task.name(), config.seed)) };
        let (epochs, best, initialised) = fit(job, &setup, &train, &dev, &config, Some(&target), device, log)?;
        seeds.push((config.seed, best.dev.headline()));
        if kept.as_ref().is_none_or(|(_, b, _, _)| best.dev.headline() > b.dev.headline()) {
            if target != dir {
                std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
                std::fs::rename(&target, &dir).map_err(|e| Error::io(&target, e))?;
            }
            kept = Some((epochs, best, initialised, config.seed));
        } else {
            std::fs::remove_dir_all(&target).map_err(|e| Error::io(&target, e))?;
        }
    }
    let (epochs, best, initialised, seed) = kept.expect("at least one seed ran");
    let (mean, sd) = mean_sd(&seeds.iter().map(|(_, s)| *s).collect::<Vec<_>>());
    let report = TeacherReport {
        task: job.task.name(),
        recipe: FineTuneConfig { seed, ..recipe },
        train_rows: rows.len(),
        dev: best.dev.clone(),
        seeds,
        mean,
        sd,
        study,
        fresh_pooler: job.fresh_pooler,
        pooling: job.pooling,
    };
    report.write(&dir)?;
    log(&format!("saved {}: {}", dir.display(), report.summary()));
    Ok(TeacherOutcome { dir, epochs, best, initialised, report })
}

/// A recipe trial's fine-tuning: the fields the teacher space varies, the rest from `base`.
fn trial_recipe(t: &crate::pipeline::TrainSection, base: &FineTuneConfig) -> FineTuneConfig {
    FineTuneConfig { lr: t.lr, epochs: t.epochs, batch_size: t.batch_size, warmup_ratio: t.warmup_ratio, seed: t.seed, ..base.clone() }
}

/// The study name `tune_teacher` keeps a task's recipe search under.
pub fn teacher_study_name(task: &Task) -> String {
    format!("teacher-{}", task.name())
}

fn holdout_rows(rows: usize) -> usize {
    (rows as f64 * HOLDOUT_FRACTION).floor() as usize
}

/// Checks a `tune_teacher` job before any work (and before a store is opened): the recipe, the
/// number of trials, and that the task has rows enough to hold some out. Returns the training rows.
pub fn check_tuning(job: &TeacherJob, trials: usize) -> Result<Vec<Example>> {
    job.validate()?;
    if trials == 0 {
        return Err(Error::InvalidOption { option: "trials", message: "must be at least 1".into() });
    }
    let rows = job.train_rows()?;
    if holdout_rows(rows.len()) < MIN_HOLDOUT_ROWS {
        let need = (MIN_HOLDOUT_ROWS as f64 / HOLDOUT_FRACTION).ceil() as usize;
        return Err(Error::InvalidOption {
            option: "trials",
            message: format!(
                "needs at least {need} training rows to hold out {MIN_HOLDOUT_ROWS} for scoring recipes; task {} has {} (train without a recipe search)",
                job.task.name(),
                rows.len()
            ),
        });
    }
    Ok(rows)
}

/// Searches the teacher's recipe ([`crate::search::TEACHER_SPACE`]) with `trials` trials of a
/// study in `storage` (BO, like `search`; a study resumes), each run fine-tuned on nine tenths of
/// the training rows and scored on the held-out tenth, then trains the workspace teacher on every
/// row with the best recipe ([`train_teacher`], `job.seeds` seeds).
pub fn tune_teacher(job: &TeacherJob, trials: usize, storage: &dyn Storage, device: &Device, log: &mut dyn FnMut(&str)) -> Result<TeacherOutcome> {
    let mut rows = check_tuning(job, trials)?;
    let holdout = holdout_rows(rows.len());
    let setup = setup(job)?;
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    rows.shuffle(&mut rand::rngs::StdRng::seed_from_u64(job.train.seed));
    let held = rows.split_off(rows.len() - holdout);
    let (fit_rows, held_rows) = (encode_split(&setup.encoder, &rows)?, encode_split(&setup.encoder, &held)?);
    let space = Space::parse(crate::search::TEACHER_SPACE, "the teacher's recipe space")?;
    let name = teacher_study_name(&job.task);
    let mut study = Study::open(storage, &name, &job.task.name(), space, "bo")?;
    study.mark(StudyKind::Teacher)?;
    log(&format!("teacher study `{name}`: {trials} recipes, each trained on {} rows and scored on {} held-out rows", rows.len(), held.len()));
    let mut sampler = crate::search::samplers::SamplerKind::Bo.build(job.train.seed, Default::default());
    let mut run = |pipeline: &crate::Pipeline, id: u64| -> Result<TrialOutcome> {
        let config = trial_recipe(&pipeline.train, &job.train);
        log(&format!("recipe #{id}: lr {:e}, {} epochs, batch {}, warm-up {}, seed {}", config.lr, config.epochs, config.batch_size, config.warmup_ratio, config.seed));
        let (epochs, best, _) = fit(job, &setup, &fit_rows, &held_rows, &config, None, device, log)?;
        Ok(TrialOutcome {
            score: best.dev.headline(),
            metrics: best.dev.clone(),
            student_dir: None,
            intermediate: epochs.iter().map(|e| (e.epoch, e.dev.headline())).collect(),
            fidelity: Some((rows.len(), config.epochs)),
            compression: None,
        })
    };
    let ran = study.run(sampler.as_mut(), &SearchLimits { trials, budget: None }, &mut run, &mut |_| {})?;
    let best = crate::search::study::best_trial(&name, &ran)?;
    let t = &best.pipeline.train;
    log(&format!(
        "best recipe: #{} (held-out {:.4}): lr {:e}, {} epochs, batch {}, warm-up {}; training the teacher on every row",
        best.id,
        best.score.unwrap_or(f64::NAN),
        t.lr,
        t.epochs,
        t.batch_size,
        t.warmup_ratio
    ));
    // The study's seed picked the recipe; the teacher runs with the job's seeds.
    let recipe = FineTuneConfig { seed: job.train.seed, ..trial_recipe(t, &job.train) };
    train_with(&TeacherJob { train: recipe, adaptive: false, ..job.clone() }, Some(name), device, log)
}
