//! One distillation run end to end: load the teacher checkpoint, augment the training rows (from
//! the augmentation cache when it has them), build the student, fetch or build the teacher
//! cache, train with the pipeline's loss, evaluate, save the student.

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::adaptor::{Adaptor, attention_mask};
use super::alignment::{Pieces, TokenAlignment};
use super::loss::{DistillHeads, Learner, TeacherTargets, distillation_loss, mixup_loss};
use super::mapping::teacher_layers_needed;
use super::teacher_cache::{CacheSpec, TeacherCache, cache_key};
use crate::augment::mixup::Mixup;
use crate::augment::{AugmentContext, MlmHeadKind, augment};
use crate::data::{Label, LabelKind, Split, Task, TextEncoder, encode_split, load_split, subsample};
use crate::error::{Error, Result};
use crate::model::checkpoint::CONFIG_FILE;
use crate::model::footprint::Measured;
use crate::model::{Bert, BertConfig, CheckpointMeta, CheckpointWeights, Compression, LayerSubset, PretrainedHead, find_encoder, load, load_pretrained, save};
use crate::pipeline::{Feature, Objective, Pipeline, StudentInit};
use crate::train::{EpochReport, FineTuneConfig, evaluate, run_epochs};
use crate::workspace::Workspace;

/// Everything one `distiller train` needs.
#[derive(Debug, Clone)]
pub struct DistillJob {
    pub task: Task,
    pub pipeline: Pipeline,
    /// Fine-tuned teacher checkpoint directory.
    pub teacher_dir: PathBuf,
    pub data_dir: Option<PathBuf>,
    pub workspace: Workspace,
    /// Where the student checkpoint goes (default: `<workspace>/runs/<task>-<digest>`).
    pub out_dir: Option<PathBuf>,
    /// Read teacher outputs from the cache (default); `false` runs the teacher on every batch,
    /// as the paper's code does.
    pub use_cache: bool,
}

/// Where a batch's teacher outputs come from.
enum TeacherSource {
    Cache(TeacherCache),
    Live { model: Box<dyn Adaptor + Send + Sync>, layers: Vec<usize>, attention: bool },
}

impl TeacherSource {
    fn targets(&self, batch: &crate::data::HostBatch, device: &Device) -> TeacherTargets {
        match self {
            TeacherSource::Cache(cache) => cache.targets(batch, device),
            TeacherSource::Live { model, layers, attention } => {
                let out = model.outputs(batch, &device.clone().inner(), *attention);
                TeacherTargets::from_outputs(out, layers).to_device(device)
            }
        }
    }
}

/// The teacher's side of a student that reads text through its own tokenizer: the teacher's
/// encodings of the training rows, and the positions that correspond.
struct TeacherView {
    encoded: Vec<crate::data::Encoded>,
    pad: u32,
    alignment: Option<TokenAlignment>,
}

impl TeacherView {
    /// The teacher's targets for the rows of a student `batch`, its hidden states moved to the
    /// student's positions; `student`'s mask then keeps the paired positions only.
    fn targets(&self, source: &TeacherSource, batch: &crate::data::HostBatch, student: &mut crate::model::ModelOutputs, device: &Device) -> TeacherTargets {
        let targets = source.targets(&crate::data::HostBatch::pad(&self.encoded, &batch.indices, self.pad), device);
        match &self.alignment {
            None => targets,
            Some(alignment) => {
                let (targets, paired) = alignment.apply(targets, &batch.indices, batch.width, device);
                student.mask = student.mask.clone() * paired;
                targets
            }
        }
    }
}

/// What a run produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DistillOutcome {
    pub task: String,
    pub pipeline: Pipeline,
    pub dev: crate::data::Metrics,
    pub epochs: Vec<EpochReport>,
    /// Training rows, augmented copies included.
    pub train_rows: usize,
    #[serde(default)]
    pub augmented_rows: usize,
    /// Which masked-LM output layer contextual augmentation used, when it ran.
    #[serde(default)]
    pub masked_lm: Option<MlmHeadKind>,
    pub cache_hit: bool,
    pub cache_seconds: f64,
    pub wall_seconds: f64,
    pub student_dir: PathBuf,
    /// The student's size and speed beside the teacher's.
    pub compression: Compression,
}

/// Hard labels of a batch: the data's for original rows, the teacher's prediction (argmax, or its
/// score for regression) for augmented copies, whose true label may have changed.
fn gold_labels(indices: &[usize], labels: &[Label], originals: usize, teacher_logits: &burn::tensor::Tensor<2>, kind: &LabelKind) -> Vec<Label> {
    if indices.iter().all(|&i| i < originals) {
        return indices.iter().map(|&i| labels[i]).collect();
    }
    let [_, c] = teacher_logits.dims();
    let logits = crate::model::to_host(teacher_logits.clone());
    indices
        .iter()
        .enumerate()
        .map(|(r, &i)| {
            if i < originals {
                return labels[i];
            }
            let row = &logits[r * c..(r + 1) * c];
            match kind {
                LabelKind::Regression => Label::Score(row[0]),
                LabelKind::Classification { .. } => Label::Class((0..c).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap_or(0)),
            }
        })
        .collect()
}

/// The model a pipeline trains, and where its tokenizer lives.
pub struct Student {
    pub model: Bert,
    pub config: BertConfig,
    /// The teacher's directory, or the pretrained student's: the student reads text through it.
    pub tokenizer_dir: PathBuf,
}

/// A pretrained student's directory: `name` as a path, else an installed encoder of that name.
pub fn find_student(name: &str) -> Result<PathBuf> {
    let path = Path::new(name);
    if path.is_dir() {
        return Ok(path.to_path_buf());
    }
    find_encoder(name).map_err(|e| {
        let why = match e {
            Error::TeacherNotFound(why) => why,
            other => other.to_string(),
        };
        Error::pipeline("student.checkpoint", format!("`{name}` is not a model directory, nor an installed encoder: {why}"))
    })
}

/// Builds the student a pipeline asks for: from the teacher's layers or at random (sharing the
/// teacher's vocabulary), or from a pretrained encoder (with its own).
pub fn build_student(pipeline: &Pipeline, teacher_dir: &Path, teacher: &BertConfig, device: &Device) -> Result<Student> {
    let s = &pipeline.student;
    let shared = |model: Bert, config: BertConfig| Student { model, config, tokenizer_dir: teacher_dir.to_path_buf() };
    match s.init {
        StudentInit::TeacherLayers => {
            let config = BertConfig { num_hidden_layers: s.layers, ..teacher.clone() };
            let mut src = LayerSubset::evenly_spaced(CheckpointWeights::open_dir(teacher_dir, teacher.family)?, s.layers, teacher.num_hidden_layers);
            Ok(shared(Bert::build(&config, &mut src, device)?, config))
        }
        StudentInit::Random => {
            // The teacher's family: its tokenizer's positions and padding, its head.
            let sized = BertConfig::sized(s.layers, s.hidden.unwrap_or(teacher.hidden_size), teacher.vocab_size, teacher.num_labels);
            let config = BertConfig {
                family: teacher.family,
                pad_token_id: teacher.pad_token_id,
                relative_attention_num_buckets: teacher.relative_attention_num_buckets,
                disentangled: teacher.disentangled.clone(),
                max_position_embeddings: teacher.max_position_embeddings,
                type_vocab_size: teacher.type_vocab_size,
                layer_norm_eps: teacher.layer_norm_eps,
                num_attention_heads: s.heads.unwrap_or(sized.num_attention_heads),
                intermediate_size: s.intermediate_size.unwrap_or(sized.intermediate_size),
                ..sized
            };
            Ok(shared(config.init(pipeline.train.seed, device), config))
        }
        StudentInit::Pretrained => {
            let dir = find_student(s.checkpoint.as_deref().unwrap_or_default())?;
            let found = BertConfig::from_file(&dir.join(CONFIG_FILE))?;
            if s.layers > found.num_hidden_layers {
                return Err(Error::pipeline("student.layers", format!("{} has {} layers, {} asked", dir.display(), found.num_hidden_layers, s.layers)));
            }
            if let Some(hidden) = s.hidden.filter(|&h| h != found.hidden_size) {
                return Err(Error::pipeline("student.hidden", format!("{} is {} wide, {hidden} asked", dir.display(), found.hidden_size)));
            }
            // The head reads the sequence as the teacher's does.
            let head =
                PretrainedHead { num_labels: teacher.num_labels, seed: pipeline.train.seed, fresh_pooler: false, pooling: teacher.classifier_pooling, layers: Some(s.layers) };
            let (model, config, _) = load_pretrained(&dir, head, device)?;
            Ok(Student { model, config, tokenizer_dir: dir })
        }
    }
}

/// What the teacher cache must hold for a pipeline.
pub fn cache_spec(pipeline: &Pipeline, teacher_layers: usize) -> CacheSpec {
    let i = &pipeline.intermediate;
    if i.objective == Objective::None {
        return CacheSpec { hidden_layers: Vec::new(), attention_layers: Vec::new() };
    }
    let layers = teacher_layers_needed(i.mapping, pipeline.student.layers, teacher_layers);
    match i.feature {
        Feature::Hidden => CacheSpec { hidden_layers: layers, attention_layers: Vec::new() },
        Feature::Attention => CacheSpec { hidden_layers: Vec::new(), attention_layers: layers },
    }
}

/// Runs one distillation; `log` receives progress lines (cache hit/miss, epochs).
pub fn distill(job: &DistillJob, device: &Device, log: &mut dyn FnMut(&str)) -> Result<DistillOutcome> {
    let started = Instant::now();
    let pipeline = &job.pipeline;
    pipeline.validate()?;
    let teacher = load(&job.teacher_dir, device)?;
    let (tl, th) = (teacher.config.num_hidden_layers, teacher.config.hidden_size);
    pipeline.check_fits(tl, th)?;
    let kind = job.task.label_kind();
    if teacher.config.num_labels != kind.num_outputs() {
        return Err(Error::checkpoint(&job.teacher_dir, format!("teacher head has {} outputs, task {} needs {}", teacher.config.num_labels, job.task.name(), kind.num_outputs())));
    }
    let max_len = pipeline.train.max_len.unwrap_or_else(|| job.task.default_max_len());
    if max_len > teacher.config.max_position_embeddings {
        return Err(Error::pipeline("train.max_len", format!("{max_len} exceeds the teacher's {} positions", teacher.config.max_position_embeddings)));
    }
    let train_rows = subsample(load_split(&job.task, Split::Train, job.data_dir.as_deref())?, pipeline.train.train_subset, pipeline.train.seed);
    let context = AugmentContext { workspace: &job.workspace, masked_lm_dir: &job.teacher_dir, max_len, device };
    let augmented = augment(train_rows, &pipeline.augment, pipeline.train.seed, &context, log)?;
    let (originals, masked_lm) = (augmented.originals, augmented.masked_lm);
    let train_rows = augmented.rows;
    let dev_rows = load_split(&job.task, Split::Dev, job.data_dir.as_deref())?;
    let teacher_encoder = TextEncoder::from_model_dir(&job.teacher_dir, max_len)?;
    let teacher_train = teacher_encoder.encode_all(&train_rows)?;

    let teacher_config = teacher.config.clone();
    let student = build_student(pipeline, &job.teacher_dir, &teacher_config, device)?;
    let student_config = student.config.clone();
    if max_len > student_config.max_position_embeddings {
        return Err(Error::pipeline("train.max_len", format!("{max_len} exceeds the student's {} positions", student_config.max_position_embeddings)));
    }
    // A pretrained student reads text through its own tokenizer; the teacher's side of each batch
    // is then padded from the teacher's encodings of the same rows.
    let student_encoder = (student.tokenizer_dir != job.teacher_dir).then(|| TextEncoder::from_model_dir(&student.tokenizer_dir, max_len)).transpose()?;
    let encoder = student_encoder.as_ref().unwrap_or(&teacher_encoder);
    let dev = encode_split(encoder, &dev_rows)?;
    let (train, teacher_view) = match &student_encoder {
        None => (crate::data::EncodedSplit { encoded: teacher_train, labels: train_rows.iter().map(|e| e.label).collect() }, None),
        Some(own) => {
            let train = encode_split(own, &train_rows)?;
            if train.encoded == teacher_train {
                (train, None)
            } else {
                let alignment = match (pipeline.intermediate.objective, pipeline.intermediate.feature) {
                    (Objective::None, _) => None,
                    (_, Feature::Attention) => {
                        return Err(Error::pipeline(
                            "intermediate.feature",
                            "attention maps pair every two positions and need one tokenizer: a student that reads text through its own takes hidden-state objectives (aligned by word piece) or none",
                        ));
                    }
                    (_, Feature::Hidden) => Some(TokenAlignment::build(&train.encoded, &teacher_train, &Pieces::of(own), &Pieces::of(&teacher_encoder))?),
                };
                log(&format!(
                    "the student reads text through its own tokenizer ({}){}",
                    student.tokenizer_dir.display(),
                    if alignment.is_some() { "; hidden states aligned by word piece" } else { "" }
                ));
                (train, Some(TeacherView { encoded: teacher_train, pad: teacher_encoder.pad_id(), alignment }))
            }
        }
    };
    // The teacher reads the rows as its own tokenizer encodes them.
    let teacher_encoded = teacher_view.as_ref().map_or(&train.encoded, |view| &view.encoded);

    let spec = cache_spec(pipeline, tl);
    let cache_started = Instant::now();
    let (source, cache_hit) = if job.use_cache {
        let key = cache_key(&job.teacher_dir, &job.task.name(), &train_rows, max_len, &spec)?;
        let path = job.workspace.teacher_cache(&key);
        let (cache, hit) = match TeacherCache::load(&path, &key) {
            Ok(cache) => (cache, true),
            Err(_) => {
                let cache = TeacherCache::build(key, &teacher.model.valid(), teacher_encoded, spec, teacher_encoder.pad_id(), device);
                cache.save(&path)?;
                (cache, false)
            }
        };
        log(&format!(
            "teacher cache {} ({} rows, {:.1} MB, {:.1}s): {}",
            if hit { "hit" } else { "miss, built" },
            cache.rows(),
            cache.bytes() as f64 / 1e6,
            cache_started.elapsed().as_secs_f64(),
            path.display()
        ));
        (TeacherSource::Cache(cache), hit) // the teacher model is dropped: the cache replaces it
    } else {
        log("teacher cache off: the teacher runs on every batch");
        let attention = !spec.attention_layers.is_empty();
        let layers = if attention { spec.attention_layers } else { spec.hidden_layers };
        (TeacherSource::Live { model: Box::new(teacher.model.valid()), layers, attention }, false)
    };
    let cache_seconds = cache_started.elapsed().as_secs_f64();

    log(&format!("student {}: {}", student_config.num_hidden_layers, pipeline.summary()));
    // Seeded so a pipeline's heads (projections, MI critic) start the same on every run.
    let heads = crate::backend::seeded_init(device, pipeline.train.seed ^ 0x4845_4144, || {
        DistillHeads::new(pipeline, student_config.hidden_size, student_config.num_hidden_layers, th, device)
    });
    let learner = Learner { student: student.model, heads };
    let need_attention = pipeline.intermediate.objective != Objective::None && pipeline.intermediate.feature == Feature::Attention;
    let batch_loss = |learner: &Learner, batch: &crate::data::HostBatch, draw: u64, device: &Device| {
        let student: &dyn Adaptor = &learner.student;
        let embedded = student.embed(batch, device);
        let mask = attention_mask(batch, device);
        let mut out = student.encode(embedded.clone(), mask.clone(), need_attention);
        let targets = match &teacher_view {
            None => source.targets(batch, device),
            Some(view) => view.targets(&source, batch, &mut out, device),
        };
        let gold = gold_labels(&batch.indices, &train.labels, originals, &targets.logits, &kind);
        let mut loss = distillation_loss(pipeline, &learner.heads, &out, &targets, &gold, &kind);
        if pipeline.augment.mixup {
            let mixup = Mixup::draw(pipeline.train.seed, draw, batch.rows);
            let mixed = student.encode(mixup.mix(embedded), mixup.mask(mask), false);
            loss = loss + mixup_loss(pipeline, &mixup, mixed.logits, targets.logits, &gold, &kind);
        }
        loss
    };
    let metric = job.task.metric();
    let pad = encoder.pad_id();
    let mut eval = |learner: &Learner| evaluate(&learner.student, &dev.encoded, &dev.labels, &kind, metric, pad, device);
    let t = &pipeline.train;
    let config = FineTuneConfig {
        epochs: t.epochs,
        batch_size: t.batch_size,
        lr: t.lr,
        weight_decay: t.weight_decay,
        warmup_ratio: t.warmup_ratio,
        max_grad_norm: Some(1.0),
        seed: t.seed,
        split_batches: pipeline.intermediate.objective != Objective::Mi,
        ..FineTuneConfig::default()
    };
    let mut on_epoch = |r: &EpochReport, _: &Learner| {
        log(&format!("epoch {}: loss {:.4}, dev {}, {:.1} samples/s", r.epoch, r.mean_loss, r.dev, r.samples_per_sec));
        Ok(())
    };
    let (learner, epochs) = run_epochs(learner, &train.encoded, pad, &config, device, &batch_loss, &mut eval, &mut on_epoch)?;
    let dev_metrics = epochs.last().expect("at least one epoch").dev.clone();
    let student_dir = job.out_dir.clone().unwrap_or_else(|| job.workspace.run_dir(&job.task.name(), &pipeline.digest()));
    let meta = CheckpointMeta {
        task: job.task.name(),
        label_kind: kind.clone(),
        max_len,
        dev_metrics: Some(dev_metrics.clone()),
        epochs_done: t.epochs,
        seed: t.seed,
        init_from: format!("distilled from {}", job.teacher_dir.display()),
    };
    save(&student_dir, &learner.student.valid(), &student_config, &meta, &student.tokenizer_dir)?;
    let latency_rows = &dev_rows[..dev_rows.len().min(crate::model::footprint::LATENCY_BATCH)];
    let (student_dev, teacher_dev) = (encoder.encode_all(latency_rows)?, teacher_encoder.encode_all(latency_rows)?);
    let compression = Compression::measure(
        Measured { model: &learner.student, dir: &student_dir, dev: &student_dev, pad_id: encoder.pad_id() },
        Measured { model: &teacher.model, dir: &job.teacher_dir, dev: &teacher_dev, pad_id: teacher_encoder.pad_id() },
        device,
    )?;
    log(&format!("student: {}", compression.summary()));
    let outcome = DistillOutcome {
        task: job.task.name(),
        pipeline: pipeline.clone(),
        dev: dev_metrics,
        epochs,
        train_rows: train.encoded.len(),
        augmented_rows: train.encoded.len() - originals,
        masked_lm,
        cache_hit,
        cache_seconds,
        wall_seconds: started.elapsed().as_secs_f64(),
        student_dir: student_dir.clone(),
        compression,
    };
    std::fs::write(student_dir.join("pipeline.toml"), pipeline.to_toml()).map_err(|e| Error::io(&student_dir, e))?;
    std::fs::write(student_dir.join("outcome.json"), serde_json::to_string_pretty(&outcome).expect("outcome serialises")).map_err(|e| Error::io(&student_dir, e))?;
    Ok(outcome)
}
