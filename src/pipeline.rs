//! `Pipeline`: one plain serde record of every choice a distillation run makes — the unit the
//! search explores, `distiller best` prints and `distiller train --pipeline` runs.

use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::error::{Error, Result};

/// Prediction-layer KD loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KdLoss {
    /// Cross-entropy against the teacher's softened distribution.
    Ce,
    /// MSE between temperature-scaled logits (used for regression tasks).
    Mse,
    /// No prediction-layer KD (labels and/or intermediate objective only).
    None,
}

/// Intermediate-representation objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    None,
    HiddenMse,
    HiddenCe,
    Cos,
    Pkd,
    AttMse,
    AttKl,
    /// MI-α: the interpolated mutual-information bound of Poole et al. (2019).
    Mi,
}

/// Which student layer learns from which teacher layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mapping {
    Skip,
    Last,
    Emd,
}

/// Representation matched between layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    Hidden,
    Attention,
}

/// Critic of the MI objective: the paper's per-side transformer, or a cheaper mean-pooled MLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CriticKind {
    Transformer,
    Mlp,
}

/// How the student starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StudentInit {
    /// Copy evenly spaced teacher layers (DistilBERT-style); needs the teacher's width.
    TeacherLayers,
    /// BERT random initialisation, in any shape (`layers`, `hidden`, `heads`, `intermediate_size`).
    Random,
    /// A pretrained encoder of any supported family (`checkpoint`), read through its own
    /// tokenizer; `layers` evenly spaced layers of it are kept.
    Pretrained,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KdSection {
    pub loss: KdLoss,
    /// Softmax temperature τ (> 0).
    pub temperature: f64,
    /// Weight of the KD term.
    pub weight: f64,
    /// Weight of the cross-entropy (or MSE) on gold labels.
    pub hard_weight: f64,
    /// Multiply the KD term by τ² (Hinton et al.) so gradients keep their scale across τ.
    pub scale_by_t2: bool,
}

impl Default for KdSection {
    fn default() -> Self {
        Self { loss: KdLoss::Ce, temperature: 1.0, weight: 1.0, hard_weight: 0.0, scale_by_t2: false }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntermediateSection {
    pub objective: Objective,
    pub weight: f64,
    /// MI-α interpolation: 0 = NWJ end, 1 = InfoNCE end.
    pub alpha: f64,
    pub critic: CriticKind,
    pub mapping: Mapping,
    pub feature: Feature,
}

impl Default for IntermediateSection {
    fn default() -> Self {
        Self { objective: Objective::None, weight: 1.0, alpha: 0.9, critic: CriticKind::Transformer, mapping: Mapping::Skip, feature: Feature::Hidden }
    }
}

/// One data-augmentation operator (implemented in the `augment` module).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AugmentOp {
    /// Word-level swap / delete / insertion of a copied word, each word with probability `aug_p`.
    Random,
    /// Words replaced by a masked-LM's top-p sample, each word with probability `aug_p`.
    Contextual,
    /// Whole sentences replaced by a paraphrase read from `augment.paraphrases`.
    BackTranslation,
}

impl AugmentOp {
    pub fn name(self) -> &'static str {
        match self {
            AugmentOp::Random => "random",
            AugmentOp::Contextual => "contextual",
            AugmentOp::BackTranslation => "back_translation",
        }
    }
}

/// Data augmentation: `repeated_aug` copies of every training row, each passed through `chain`
/// in order, relabelled by the teacher and appended; `mixup` adds embedding-mixed rows per batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentSection {
    /// Ordered operators, each at most once.
    pub chain: Vec<AugmentOp>,
    /// Per-word probability of the word-level operators (`random`, `contextual`).
    pub aug_p: f64,
    /// Augmented copies made of every training row.
    pub repeated_aug: usize,
    pub mixup: bool,
    /// Paraphrase file for `back_translation`: TSV lines `original<TAB>paraphrase`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paraphrases: Option<std::path::PathBuf>,
}

impl Default for AugmentSection {
    fn default() -> Self {
        Self { chain: Vec::new(), aug_p: 0.1, repeated_aug: 1, mixup: false, paraphrases: None }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StudentSection {
    pub layers: usize,
    /// Width; the teacher's (or the pretrained checkpoint's) when absent; only a random student
    /// chooses its own.
    pub hidden: Option<usize>,
    /// Attention heads of a random student (default: 64-wide heads); must divide `hidden`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heads: Option<usize>,
    /// Feed-forward width of a random student (default: 4 × hidden).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intermediate_size: Option<usize>,
    pub init: StudentInit,
    /// `init = "pretrained"`: a model directory, or the name of an installed encoder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
}

impl Default for StudentSection {
    fn default() -> Self {
        Self { layers: 4, hidden: None, heads: None, intermediate_size: None, init: StudentInit::TeacherLayers, checkpoint: None }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSection {
    pub lr: f64,
    pub epochs: usize,
    pub batch_size: usize,
    /// Truncation length; the task's default when absent.
    pub max_len: Option<usize>,
    /// Train on a seeded random subset of this many rows; all rows when absent.
    pub train_subset: Option<usize>,
    pub seed: u64,
    pub weight_decay: f32,
    pub warmup_ratio: f64,
}

impl Default for TrainSection {
    fn default() -> Self {
        Self { lr: 5e-5, epochs: 3, batch_size: 32, max_len: None, train_subset: None, seed: 42, weight_decay: 0.1, warmup_ratio: 0.1 }
    }
}

/// Every choice of one distillation run. All sections have defaults, so a file only lists what
/// it changes:
///
/// ```toml
/// [kd]
/// loss = "ce"            # ce | mse | none
/// temperature = 1.0
/// [intermediate]
/// objective = "mi"       # none | hidden_mse | hidden_ce | cos | pkd | att_mse | att_kl | mi
/// alpha = 0.9
/// mapping = "skip"       # skip | last | emd
/// [student]
/// layers = 4
/// hidden = 384             # default: the teacher's width
/// init = "teacher_layers"  # or random, or pretrained (with checkpoint = "<dir or encoder>")
/// [train]
/// epochs = 3
/// train_subset = 4000
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Pipeline {
    pub kd: KdSection,
    pub intermediate: IntermediateSection,
    pub augment: AugmentSection,
    pub student: StudentSection,
    pub train: TrainSection,
}

impl Pipeline {
    /// Reads a TOML (or `.json`) pipeline file and validates it.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = crate::data::read_utf8(path)?;
        let pipeline: Pipeline = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).map_err(|e| Error::malformed(path, e.line(), e.to_string()))?
        } else {
            crate::error::from_toml(&text).map_err(|(line, message)| Error::malformed(path, line, message))?
        };
        pipeline.validate().map_err(|e| Error::malformed(path, 0, e.to_string()))?;
        Ok(pipeline)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("pipeline serialises")
    }

    /// Checks ranges and combinations that cannot work, naming the field.
    pub fn validate(&self) -> Result<()> {
        let k = &self.kd;
        if !(k.temperature.is_finite() && k.temperature > 0.0) {
            return Err(Error::pipeline("kd.temperature", format!("{} must be > 0", k.temperature)));
        }
        for (name, w) in [("kd.weight", k.weight), ("kd.hard_weight", k.hard_weight), ("intermediate.weight", self.intermediate.weight)] {
            if !(w.is_finite() && w >= 0.0) {
                return Err(Error::pipeline(name, format!("{w} must be a finite number >= 0")));
            }
        }
        let i = &self.intermediate;
        if !(0.0..=1.0).contains(&i.alpha) {
            return Err(Error::pipeline("intermediate.alpha", format!("{} must lie in [0, 1]", i.alpha)));
        }
        let attention_objective = matches!(i.objective, Objective::AttMse | Objective::AttKl);
        if attention_objective && i.feature != Feature::Attention {
            return Err(Error::pipeline("intermediate.feature", format!("{:?} compares attention maps: set feature = \"attention\"", i.objective)));
        }
        if i.feature == Feature::Attention && !attention_objective && i.objective != Objective::None {
            return Err(Error::pipeline("intermediate.feature", format!("attention maps work with att_mse or att_kl, not {:?}", i.objective)));
        }
        if i.mapping == Mapping::Emd && i.feature == Feature::Attention {
            return Err(Error::pipeline("intermediate.mapping", "emd is defined over hidden states (feature = \"hidden\")"));
        }
        if k.loss == KdLoss::None && k.hard_weight == 0.0 && i.objective == Objective::None {
            return Err(Error::pipeline("kd.loss", "nothing to learn from: no KD, no hard labels, no intermediate objective"));
        }
        let a = &self.augment;
        if !(0.0..=1.0).contains(&a.aug_p) {
            return Err(Error::pipeline("augment.aug_p", format!("{} must lie in [0, 1]", a.aug_p)));
        }
        if a.repeated_aug < 1 {
            return Err(Error::pipeline("augment.repeated_aug", "must be >= 1"));
        }
        if let Some((i, op)) = a.chain.iter().enumerate().find(|(i, op)| a.chain[..*i].contains(op)) {
            return Err(Error::pipeline(
                "augment.chain",
                format!("operator `{}` appears twice (positions {} and {})", op.name(), a.chain.iter().position(|o| o == op).unwrap_or(0) + 1, i + 1),
            ));
        }
        if a.chain.contains(&AugmentOp::BackTranslation) && a.paraphrases.is_none() {
            return Err(Error::pipeline("augment.paraphrases", "back_translation needs a paraphrase file (TSV: original<TAB>paraphrase); no MT model runs offline"));
        }
        let s = &self.student;
        if s.layers == 0 || s.hidden == Some(0) || s.heads == Some(0) || s.intermediate_size == Some(0) {
            return Err(Error::pipeline("student", "layers, hidden, heads and intermediate_size must be positive"));
        }
        for (field, set) in [("student.heads", s.heads.is_some()), ("student.intermediate_size", s.intermediate_size.is_some())] {
            if set && s.init != StudentInit::Random {
                return Err(Error::pipeline(field, "only a random student (init = \"random\") chooses its own shape"));
            }
        }
        if let (Some(hidden), Some(heads)) = (s.hidden, s.heads)
            && !hidden.is_multiple_of(heads)
        {
            return Err(Error::pipeline("student.heads", format!("hidden {hidden} is not a multiple of {heads} heads")));
        }
        match (s.init, &s.checkpoint) {
            (StudentInit::Pretrained, None) => {
                return Err(Error::pipeline("student.checkpoint", "init = \"pretrained\" needs a checkpoint (a model directory or an installed encoder's name)"));
            }
            (StudentInit::TeacherLayers | StudentInit::Random, Some(_)) => {
                return Err(Error::pipeline("student.checkpoint", "a checkpoint is read only with init = \"pretrained\""));
            }
            _ => {}
        }
        let t = &self.train;
        if !(t.lr.is_finite() && t.lr > 0.0) {
            return Err(Error::pipeline("train.lr", format!("{} must be > 0", t.lr)));
        }
        if t.epochs == 0 || t.batch_size == 0 {
            return Err(Error::pipeline("train", "epochs and batch_size must be >= 1"));
        }
        if !(0.0..=1.0).contains(&t.warmup_ratio) {
            return Err(Error::pipeline("train.warmup_ratio", format!("{} must lie in [0, 1]", t.warmup_ratio)));
        }
        if !(t.weight_decay.is_finite() && t.weight_decay >= 0.0) {
            return Err(Error::pipeline("train.weight_decay", format!("{} must be a finite number >= 0", t.weight_decay)));
        }
        if t.max_len.is_some_and(|l| l < 3) {
            return Err(Error::pipeline("train.max_len", "must be at least 3 tokens ([CLS], a word, [SEP])"));
        }
        if t.train_subset == Some(0) {
            return Err(Error::pipeline("train.train_subset", "must be >= 1"));
        }
        Ok(())
    }

    /// Checks that the pipeline fits a concrete teacher (depth, width, heads).
    pub fn check_fits(&self, teacher_layers: usize, teacher_hidden: usize) -> Result<()> {
        if self.student.layers > teacher_layers && self.intermediate.objective != Objective::None && self.intermediate.mapping != Mapping::Emd {
            return Err(Error::pipeline(
                "student.layers",
                format!("{} student layers cannot map onto {teacher_layers} teacher layers with {:?}", self.student.layers, self.intermediate.mapping),
            ));
        }
        if self.student.init == StudentInit::TeacherLayers {
            if let Some(hidden) = self.student.hidden.filter(|&h| h != teacher_hidden) {
                return Err(Error::pipeline("student.init", format!("teacher_layers needs hidden = {teacher_hidden} (the teacher's), got {hidden}")));
            }
            if self.student.layers > teacher_layers {
                return Err(Error::pipeline("student.init", format!("the teacher has only {teacher_layers} layers to copy")));
            }
        }
        if let Some(heads) = self.student.heads.filter(|h| !self.student.hidden.unwrap_or(teacher_hidden).is_multiple_of(*h)) {
            return Err(Error::pipeline("student.heads", format!("hidden {} is not a multiple of {heads} heads", self.student.hidden.unwrap_or(teacher_hidden))));
        }
        Ok(())
    }

    /// A short stable digest of the pipeline, for run directories.
    pub fn digest(&self) -> String {
        use sha2::Digest;
        let hash = sha2::Sha256::digest(serde_json::to_vec(self).expect("pipeline serialises"));
        hash[..6].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// One line describing the pipeline (progress displays, logs).
    pub fn summary(&self) -> String {
        let i = &self.intermediate;
        let inter = match i.objective {
            Objective::None => "no-inter".to_string(),
            Objective::Mi => format!("mi(a={})/{:?}/{:?}", i.alpha, i.mapping, i.critic).to_lowercase(),
            o => format!("{o:?}/{:?}", i.mapping).to_lowercase(),
        };
        let a = &self.augment;
        let mut aug = String::new();
        if !a.chain.is_empty() {
            let chain: Vec<&str> = a.chain.iter().map(|op| op.name()).collect();
            aug = format!(" aug={}(p={},x{})", chain.join("+"), a.aug_p, a.repeated_aug);
        }
        if a.mixup {
            aug.push_str(" mixup");
        }
        // A pretrained student is named by its checkpoint; the others by width (T: the teacher's).
        let s = &self.student;
        let student = match (&s.init, &s.checkpoint) {
            (StudentInit::Pretrained, Some(checkpoint)) => format!("{}x{}", s.layers, checkpoint.trim_end_matches('/').rsplit('/').next().unwrap_or(checkpoint)),
            (init, _) => format!("{}x{}({init:?})", s.layers, s.hidden.map_or("T".to_string(), |h| h.to_string())),
        };
        format!("{student} kd={:?} t={} hard={} {inter}{aug} lr={:.1e} ep={}", self.kd.loss, self.kd.temperature, self.kd.hard_weight, self.train.lr, self.train.epochs)
            .to_lowercase()
    }
}
