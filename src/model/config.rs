//! An encoder's sizes, read from and written to HF's `config.json` (unknown keys ignored), for
//! every [`Family`].

use serde::{Deserialize, Serialize};
use std::path::Path;

use super::disentangled::DisentangledConfig;
use super::family::Family;
use crate::error::{Error, Result};

/// The shape of an encoder plus its task head. Field names follow HF's BERT `config.json` (a
/// DistilBERT file's own names are translated on reading and writing), so a checkpoint
/// directory written here loads in `transformers` too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    /// The encoder family (`model_type`; BERT where a file names none). Read and written by
    /// [`BertConfig::from_file`] and [`BertConfig::to_hf_json`].
    #[serde(skip)]
    pub family: Family,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_max_positions")]
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    /// Output width of the task head (1 for regression).
    #[serde(default = "default_labels")]
    pub num_labels: usize,
    /// What the task head reads (ModernBERT's `config.json` name for the same choice).
    #[serde(default)]
    pub classifier_pooling: Pooling,
    /// ELECTRA's embedding width, projected to `hidden_size` (absent: `hidden_size`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_size: Option<usize>,
    /// The padding token's id; RoBERTa and MPNet count positions after it.
    #[serde(default)]
    pub pad_token_id: usize,
    /// MPNet's relative-position buckets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative_attention_num_buckets: Option<usize>,
    /// DeBERTa's attention settings (its own `config.json` fields); `None` for other families.
    #[serde(skip)]
    pub disentangled: Option<DisentangledConfig>,
}

/// The sequence representation the task head reads: BERT's `[CLS]` vector, or the mean over
/// the tokens, which is what sentence-transformers models such as all-MiniLM-L6-v2 were
/// trained to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    #[default]
    Cls,
    Mean,
}

impl Pooling {
    /// What HF transformers makes of a checkpoint whose head reads this way: `None` where it
    /// computes the same model.
    pub fn hf_note(self) -> Option<&'static str> {
        match self {
            Pooling::Cls => None,
            Pooling::Mean => Some(
                "the task head reads the token mean, which HF transformers' BertForSequenceClassification cannot express (it reads [CLS]): \
                 config.json names model type `bert-mean-pooling`, so transformers refuses the checkpoint rather than compute another model; \
                 distiller reads it (--pooling cls makes a checkpoint transformers loads)",
            ),
        }
    }

    /// The `model_type` a checkpoint's `config.json` names: the family's where HF transformers
    /// computes the same model, a type it does not know (so it refuses the checkpoint) where it
    /// cannot.
    fn hf_model_type(self, family: Family) -> String {
        match self {
            Pooling::Cls => family.model_type().to_string(),
            Pooling::Mean => format!("{}{MEAN_POOLING}", family.model_type()),
        }
    }
}

/// What a mean-pooling checkpoint's `model_type` ends with.
const MEAN_POOLING: &str = "-mean-pooling";

/// DistilBERT's `config.json` names for BERT's.
const DISTILBERT_NAMES: [(&str, &str); 6] = [
    ("hidden_size", "dim"),
    ("num_hidden_layers", "n_layers"),
    ("num_attention_heads", "n_heads"),
    ("intermediate_size", "hidden_dim"),
    ("hidden_dropout_prob", "dropout"),
    ("attention_probs_dropout_prob", "attention_dropout"),
];

fn default_max_positions() -> usize {
    512
}
fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_dropout() -> f64 {
    0.1
}
fn default_labels() -> usize {
    2
}

impl BertConfig {
    /// A randomly initialisable size: `layers × hidden` with BERT's usual ratios (FFN = 4×hidden,
    /// 64-wide heads, at least one head). `4 × 312` is TinyBERT-4's shape (12 heads, FFN 1200).
    pub fn sized(layers: usize, hidden: usize, vocab_size: usize, num_labels: usize) -> Self {
        let (heads, ffn) = if hidden == 312 { (12, 1200) } else { ((hidden / 64).max(1), hidden * 4) };
        Self {
            vocab_size,
            hidden_size: hidden,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            intermediate_size: ffn,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            hidden_dropout_prob: 0.1,
            attention_probs_dropout_prob: 0.1,
            num_labels,
            classifier_pooling: Pooling::Cls,
            family: Family::Bert,
            embedding_size: None,
            pad_token_id: 0,
            relative_attention_num_buckets: None,
            disentangled: None,
        }
    }

    /// The embeddings' width.
    pub fn embedding_width(&self) -> usize {
        self.embedding_size.unwrap_or(self.hidden_size)
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    pub fn validate(&self) -> Result<()> {
        if self.hidden_size == 0 || self.num_attention_heads == 0 || !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(Error::ModelConfig(format!("hidden_size {} is not a multiple of num_attention_heads {}", self.hidden_size, self.num_attention_heads)));
        }
        if self.num_labels == 0 || self.vocab_size == 0 || self.max_position_embeddings == 0 {
            return Err(Error::ModelConfig("num_labels, vocab_size and max_position_embeddings must be positive".into()));
        }
        Ok(())
    }

    /// The `config.json` text: these fields plus what HF transformers needs to build the same
    /// model with `AutoModelForSequenceClassification` (model type, architecture, activation).
    pub fn to_hf_json(&self) -> String {
        let mut json = serde_json::to_value(self).expect("config serialises");
        let fields = json.as_object_mut().expect("config is an object");
        fields.insert("model_type".into(), self.classifier_pooling.hf_model_type(self.family).into());
        fields.insert("architectures".into(), serde_json::json!([self.family.architecture()]));
        fields.insert("hidden_act".into(), "gelu".into());
        match self.family {
            Family::DistilBert => {
                for (bert, own) in DISTILBERT_NAMES {
                    let value = fields.remove(bert).expect("every BERT name is a field");
                    fields.insert(own.into(), value);
                }
                fields.insert("activation".into(), "gelu".into());
                fields.insert("seq_classif_dropout".into(), self.hidden_dropout_prob.into());
                fields.insert("sinusoidal_pos_embds".into(), false.into());
            }
            // HF's ELECTRA default embedding width is not the hidden size: always say it.
            Family::Electra => {
                fields.insert("embedding_size".into(), self.embedding_width().into());
            }
            Family::DebertaV2 => {
                let own = serde_json::to_value(self.disentangled.clone().unwrap_or_default()).expect("config serialises");
                fields.extend(own.as_object().expect("config is an object").clone());
            }
            _ => {}
        }
        if matches!(self.family, Family::Bert | Family::Roberta | Family::Electra) {
            fields.insert("position_embedding_type".into(), "absolute".into());
        }
        serde_json::to_string_pretty(&json).expect("json values serialise")
    }

    /// Reads a `config.json` that HF transformers or distiller wrote, for any [`Family`]: the
    /// family from `model_type`, DistilBERT's names translated, the number of labels from
    /// `id2label` where `num_labels` is absent (HF writes only the former).
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = crate::data::read_utf8(path)?;
        let mut json: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::malformed(path, e.line(), e.to_string()))?;
        let fields = json.as_object_mut().ok_or_else(|| Error::malformed(path, 1, "not a JSON object"))?;
        let model_type = fields.get("model_type").and_then(|t| t.as_str()).unwrap_or("bert").to_string();
        let mean = model_type.ends_with(MEAN_POOLING);
        let family = Family::from_model_type(model_type.trim_end_matches(MEAN_POOLING))
            .ok_or_else(|| Error::malformed(path, 0, format!("model_type `{model_type}` is not supported (supported: {})", Family::known())))?;
        if family == Family::DistilBert {
            for (bert, own) in DISTILBERT_NAMES {
                if let (false, Some(value)) = (fields.contains_key(bert), fields.get(own).cloned()) {
                    fields.insert(bert.into(), value);
                }
            }
        }
        if let (false, Some(labels)) = (fields.contains_key("num_labels"), fields.get("id2label").and_then(|l| l.as_object()).map(|l| l.len())) {
            fields.insert("num_labels".into(), labels.into());
        }
        if family == Family::MpNet && !fields.contains_key("relative_attention_num_buckets") {
            fields.insert("relative_attention_num_buckets".into(), 32.into());
        }
        let disentangled = if family == Family::DebertaV2 {
            // DeBERTa's defaults where they are not BERT's.
            for (name, value) in [("type_vocab_size", 0.into()), ("layer_norm_eps", 1e-7.into())] {
                fields.entry(name).or_insert(value);
            }
            Some(DisentangledConfig::from_fields(fields).map_err(|e| Error::malformed(path, 0, e))?)
        } else {
            None
        };
        let mut config: BertConfig = serde_json::from_value(json).map_err(|e| Error::malformed(path, 0, e.to_string()))?;
        config.family = family;
        config.disentangled = disentangled;
        if mean {
            config.classifier_pooling = Pooling::Mean;
        }
        config.validate().map_err(|e| Error::malformed(path, 0, e.to_string()))?;
        Ok(config)
    }
}
