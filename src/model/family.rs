//! The encoder families distiller reads and writes as HF transformers does: BERT, RoBERTa,
//! ELECTRA (discriminator), DistilBERT, MPNet and DeBERTa-v2/v3. All are post-norm transformer
//! encoders with the same layer; they differ in
//!
//! - where a token's position comes from: BERT, ELECTRA, DistilBERT and DeBERTa count from 0
//!   (DeBERTa-v3 adds no absolute position at all); RoBERTa and MPNet count real tokens from
//!   `pad_token_id + 1` (padding sits at `pad_token_id`);
//! - the embeddings: DistilBERT and MPNet have no segment (token-type) embedding, and ELECTRA's and
//!   DeBERTa's may be narrower than the encoder (`embedding_size`, projected to its width:
//!   ELECTRA after the embeddings' LayerNorm, DeBERTa before it);
//! - MPNet's attention scores get a relative position bias, one table shared by every layer
//!   (T5's bidirectional buckets); DeBERTa's get disentangled attention
//!   ([`super::disentangled`]);
//! - the task head: a dense layer on the first token, then `tanh` (BERT's pooler, RoBERTa and
//!   MPNet), `gelu` (ELECTRA, DeBERTa) or `relu` (DistilBERT), then the output layer;
//! - the names their weights carry ([`Family::file_name`]).
//!
//! The model is built under one set of names, BERT's (`encoder.layer.3.attention.self.query`,
//! `pooler.dense` for the head's dense layer, `classifier` for its output layer); each family
//! translates them to and from its files.

use serde::{Deserialize, Serialize};

/// An encoder family, by HF transformers' `model_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    #[default]
    Bert,
    Roberta,
    Electra,
    #[serde(rename = "distilbert")]
    DistilBert,
    #[serde(rename = "mpnet")]
    MpNet,
    #[serde(rename = "deberta-v2")]
    DebertaV2,
}

/// Where position ids come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Positions {
    /// 0, 1, 2, … for every slot.
    FromZero,
    /// Real tokens count from `pad_token_id + 1`; padding sits at `pad_token_id`.
    AfterPadding,
}

/// The activation between the task head's two dense layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadActivation {
    Tanh,
    Gelu,
    Relu,
}

/// A layer's parameters: BERT's names, then DistilBERT's, MPNet's and DeBERTa's for the same
/// parts.
const LAYER_PARTS: [[&str; 4]; 8] = [
    ["attention.self.query", "attention.q_lin", "attention.attn.q", "attention.self.query_proj"],
    ["attention.self.key", "attention.k_lin", "attention.attn.k", "attention.self.key_proj"],
    ["attention.self.value", "attention.v_lin", "attention.attn.v", "attention.self.value_proj"],
    ["attention.output.dense", "attention.out_lin", "attention.attn.o", "attention.output.dense"],
    ["attention.output.LayerNorm", "sa_layer_norm", "attention.LayerNorm", "attention.output.LayerNorm"],
    ["intermediate.dense", "ffn.lin1", "intermediate.dense", "intermediate.dense"],
    ["output.dense", "ffn.lin2", "output.dense", "output.dense"],
    ["output.LayerNorm", "output_layer_norm", "output.LayerNorm", "output.LayerNorm"],
];

impl Family {
    pub const ALL: [Family; 6] = [Family::Bert, Family::Roberta, Family::Electra, Family::DistilBert, Family::MpNet, Family::DebertaV2];

    /// The family a `config.json`'s `model_type` names.
    pub fn from_model_type(model_type: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.model_type() == model_type)
    }

    /// HF transformers' `model_type`.
    pub fn model_type(self) -> &'static str {
        match self {
            Family::Bert => "bert",
            Family::Roberta => "roberta",
            Family::Electra => "electra",
            Family::DistilBert => "distilbert",
            Family::MpNet => "mpnet",
            Family::DebertaV2 => "deberta-v2",
        }
    }

    /// The sequence-classification class HF transformers builds for a checkpoint of this family.
    pub fn architecture(self) -> &'static str {
        match self {
            Family::Bert => "BertForSequenceClassification",
            Family::Roberta => "RobertaForSequenceClassification",
            Family::Electra => "ElectraForSequenceClassification",
            Family::DistilBert => "DistilBertForSequenceClassification",
            Family::MpNet => "MPNetForSequenceClassification",
            Family::DebertaV2 => "DebertaV2ForSequenceClassification",
        }
    }

    /// Every supported `model_type`, for messages.
    pub fn known() -> String {
        Self::ALL.map(Family::model_type).join(", ")
    }

    pub fn positions(self) -> Positions {
        match self {
            Family::Roberta | Family::MpNet => Positions::AfterPadding,
            Family::Bert | Family::Electra | Family::DistilBert | Family::DebertaV2 => Positions::FromZero,
        }
    }

    /// Whether the embeddings add a segment (token-type) embedding.
    pub fn has_token_types(self) -> bool {
        !matches!(self, Family::DistilBert | Family::MpNet)
    }

    /// Whether attention scores get MPNet's relative position bias.
    pub fn has_relative_bias(self) -> bool {
        self == Family::MpNet
    }

    pub fn head_activation(self) -> HeadActivation {
        match self {
            Family::Bert | Family::Roberta | Family::MpNet => HeadActivation::Tanh,
            Family::Electra | Family::DebertaV2 => HeadActivation::Gelu,
            Family::DistilBert => HeadActivation::Relu,
        }
    }

    /// Whether the head drops out the first token's vector before its dense layer (BERT's pooler
    /// and DeBERTa's, whose `pooler_dropout` is 0, do not).
    pub fn drops_before_head(self) -> bool {
        !matches!(self, Family::Bert | Family::DebertaV2)
    }

    /// Whether a narrower embedding is projected before the embeddings' LayerNorm (DeBERTa's
    /// `embed_proj`, no bias) rather than after it (ELECTRA's `embeddings_project`).
    pub fn projects_before_norm(self) -> bool {
        self == Family::DebertaV2
    }

    /// The prefix HF puts before the encoder's weights in a sequence-classification checkpoint.
    fn prefix(self) -> &'static str {
        match self {
            Family::DebertaV2 => "deberta",
            _ => self.model_type(),
        }
    }

    /// This family's column of [`LAYER_PARTS`].
    fn layer_column(self) -> usize {
        match self {
            Family::DistilBert => 1,
            Family::MpNet => 2,
            Family::DebertaV2 => 3,
            Family::Bert | Family::Roberta | Family::Electra => 0,
        }
    }

    /// The name a parameter has in this family's HF checkpoint, from its BERT name.
    pub fn file_name(self, name: &str) -> String {
        let (stem, leaf) = name.rsplit_once('.').unwrap_or((name, ""));
        let head = |dense: &str, out: &str| match stem {
            "pooler.dense" => Some(dense.to_string()),
            "classifier" => Some(out.to_string()),
            _ => None,
        };
        let head = match self {
            Family::Bert => None,
            Family::Roberta | Family::Electra | Family::MpNet => head("classifier.dense", "classifier.out_proj"),
            Family::DistilBert => head("pre_classifier", "classifier"),
            Family::DebertaV2 => head("pooler.dense", "classifier"),
        };
        if let Some(head) = head {
            return format!("{head}.{leaf}");
        }
        if stem == "classifier" {
            return name.to_string();
        }
        let column = self.layer_column();
        let body = match stem.strip_prefix("encoder.layer.").and_then(|rest| rest.split_once('.')) {
            Some((layer, part)) => {
                let layers = if self == Family::DistilBert { "transformer.layer" } else { "encoder.layer" };
                let part = LAYER_PARTS.iter().find(|p| p[0] == part).map_or(part, |p| p[column]);
                format!("{layers}.{layer}.{part}")
            }
            None if self == Family::DebertaV2 && stem == "embeddings_project" => "embeddings.embed_proj".to_string(),
            None => stem.to_string(),
        };
        format!("{}.{body}.{leaf}", self.prefix())
    }

    /// The BERT name of a parameter this family's checkpoint names `name` (with or without the
    /// family's prefix, as a base model or a classifier was saved); the inverse of
    /// [`Family::file_name`].
    pub fn model_name(self, name: &str) -> String {
        let name = name.strip_prefix(&format!("{}.", self.prefix())).unwrap_or(name);
        let (stem, leaf) = name.rsplit_once('.').unwrap_or((name, ""));
        let head = match (self, stem) {
            (Family::Roberta | Family::Electra | Family::MpNet, "classifier.dense") | (Family::DistilBert, "pre_classifier") => Some("pooler.dense"),
            (Family::Roberta | Family::Electra | Family::MpNet, "classifier.out_proj") => Some("classifier"),
            _ => None,
        };
        if let Some(head) = head {
            return format!("{head}.{leaf}");
        }
        let layers = if self == Family::DistilBert { "transformer.layer." } else { "encoder.layer." };
        let column = self.layer_column();
        match stem.strip_prefix(layers).and_then(|rest| rest.split_once('.')) {
            Some((layer, part)) => {
                let part = LAYER_PARTS.iter().find(|p| p[column] == part).map_or(part, |p| p[0]);
                format!("encoder.layer.{layer}.{part}.{leaf}")
            }
            None if self == Family::DebertaV2 && stem == "embeddings.embed_proj" => format!("embeddings_project.{leaf}"),
            None => name.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_go_to_each_family_and_back() {
        let names = [
            "embeddings.word_embeddings.weight",
            "embeddings.LayerNorm.bias",
            "embeddings_project.weight",
            "encoder.layer.3.attention.self.query.weight",
            "encoder.layer.0.attention.output.LayerNorm.weight",
            "encoder.layer.11.output.dense.bias",
            "encoder.relative_attention_bias.weight",
            "encoder.rel_embeddings.weight",
            "encoder.layer.1.attention.self.pos_key_proj.bias",
            "pooler.dense.weight",
            "classifier.bias",
        ];
        for family in Family::ALL {
            for name in names {
                assert_eq!(family.model_name(&family.file_name(name)), name, "{family:?}");
            }
        }
        assert_eq!(Family::Bert.file_name("encoder.layer.3.attention.self.query.weight"), "bert.encoder.layer.3.attention.self.query.weight");
        assert_eq!(Family::DistilBert.file_name("encoder.layer.3.attention.self.query.weight"), "distilbert.transformer.layer.3.attention.q_lin.weight");
        assert_eq!(Family::DistilBert.file_name("encoder.layer.1.output.LayerNorm.bias"), "distilbert.transformer.layer.1.output_layer_norm.bias");
        assert_eq!(Family::MpNet.file_name("encoder.layer.0.attention.output.dense.weight"), "mpnet.encoder.layer.0.attention.attn.o.weight");
        assert_eq!(Family::Roberta.file_name("pooler.dense.weight"), "classifier.dense.weight");
        assert_eq!(Family::Roberta.file_name("classifier.weight"), "classifier.out_proj.weight");
        assert_eq!(Family::DistilBert.file_name("pooler.dense.bias"), "pre_classifier.bias");
        assert_eq!(Family::Bert.file_name("classifier.weight"), "classifier.weight");
        // A base model saved without the prefix reads the same.
        assert_eq!(Family::MpNet.model_name("encoder.layer.0.attention.attn.q.bias"), "encoder.layer.0.attention.self.query.bias");
        assert_eq!(Family::DebertaV2.file_name("encoder.layer.2.attention.self.key.weight"), "deberta.encoder.layer.2.attention.self.key_proj.weight");
        assert_eq!(Family::DebertaV2.file_name("embeddings_project.weight"), "deberta.embeddings.embed_proj.weight");
        assert_eq!(Family::DebertaV2.file_name("pooler.dense.weight"), "pooler.dense.weight");
        assert_eq!(Family::DebertaV2.file_name("classifier.bias"), "classifier.bias");
        assert_eq!(Family::from_model_type("deberta"), None);
    }
}
