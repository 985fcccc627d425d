//! BERT sizes, read from and written to HF's `config.json` (unknown keys ignored).

use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::error::{Error, Result};

/// The shape of a BERT encoder plus its task head. Field names follow HF's `config.json`, so a
/// checkpoint directory written here loads in `transformers` too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
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

    /// The `model_type` a checkpoint's `config.json` names: `bert` where HF transformers computes
    /// the same model, a type it does not know (so it refuses the checkpoint) where it cannot.
    fn hf_model_type(self) -> &'static str {
        match self {
            Pooling::Cls => "bert",
            Pooling::Mean => "bert-mean-pooling",
        }
    }
}

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
        }
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
        fields.insert("model_type".into(), self.classifier_pooling.hf_model_type().into());
        fields.insert("architectures".into(), serde_json::json!(["BertForSequenceClassification"]));
        fields.insert("hidden_act".into(), "gelu".into());
        fields.insert("position_embedding_type".into(), "absolute".into());
        serde_json::to_string_pretty(&json).expect("json values serialise")
    }

    pub fn from_file(path: &Path) -> Result<Self> {
        let text = crate::data::read_utf8(path)?;
        let config: BertConfig = serde_json::from_str(&text).map_err(|e| Error::malformed(path, e.line(), e.to_string()))?;
        config.validate().map_err(|e| Error::malformed(path, 0, e.to_string()))?;
        Ok(config)
    }
}
