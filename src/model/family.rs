//! The encoder families distiller reads and writes as HF transformers does: BERT, RoBERTa,
//! ELECTRA (discriminator), DistilBERT and MPNet. All are post-norm transformer encoders with the
//! same layer; they differ in
//!
//! - where a token's position comes from: BERT, ELECTRA and DistilBERT count from 0; RoBERTa and
//!   MPNet count real tokens from `pad_token_id + 1` (padding sits at `pad_token_id`);
//! - the embeddings: DistilBERT and MPNet have no segment (token-type) embedding, and ELECTRA's may
//!   be narrower than the encoder (`embedding_size`, projected by `embeddings_project`);
//! - MPNet's attention scores get a relative position bias, one table shared by every layer
//!   (T5's bidirectional buckets);
//! - the task head: a dense layer on the first token, then `tanh` (BERT's pooler, RoBERTa and
//!   MPNet), `gelu` (ELECTRA) or `relu` (DistilBERT), then the output layer;
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

/// A layer's parameters: BERT's names, then DistilBERT's and MPNet's for the same parts.
const LAYER_PARTS: [(&str, &str, &str); 8] = [
    ("attention.self.query", "attention.q_lin", "attention.attn.q"),
    ("attention.self.key", "attention.k_lin", "attention.attn.k"),
    ("attention.self.value", "attention.v_lin", "attention.attn.v"),
    ("attention.output.dense", "attention.out_lin", "attention.attn.o"),
    ("attention.output.LayerNorm", "sa_layer_norm", "attention.LayerNorm"),
    ("intermediate.dense", "ffn.lin1", "intermediate.dense"),
    ("output.dense", "ffn.lin2", "output.dense"),
    ("output.LayerNorm", "output_layer_norm", "output.LayerNorm"),
];

impl Family {
    pub const ALL: [Family; 5] = [Family::Bert, Family::Roberta, Family::Electra, Family::DistilBert, Family::MpNet];

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
        }
    }

    /// Every supported `model_type`, for messages.
    pub fn known() -> String {
        Self::ALL.map(Family::model_type).join(", ")
    }

    pub fn positions(self) -> Positions {
        match self {
            Family::Roberta | Family::MpNet => Positions::AfterPadding,
            Family::Bert | Family::Electra | Family::DistilBert => Positions::FromZero,
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
            Family::Electra => HeadActivation::Gelu,
            Family::DistilBert => HeadActivation::Relu,
        }
    }

    /// The prefix HF puts before the encoder's weights in a sequence-classification checkpoint.
    fn prefix(self) -> &'static str {
        self.model_type()
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
        };
        if let Some(head) = head {
            return format!("{head}.{leaf}");
        }
        if stem == "classifier" {
            return name.to_string();
        }
        let body = match stem.strip_prefix("encoder.layer.").and_then(|rest| rest.split_once('.')) {
            Some((layer, part)) => {
                let (layers, part) = match self {
                    Family::DistilBert => ("transformer.layer", LAYER_PARTS.iter().find(|p| p.0 == part).map_or(part, |p| p.1)),
                    Family::MpNet => ("encoder.layer", LAYER_PARTS.iter().find(|p| p.0 == part).map_or(part, |p| p.2)),
                    _ => ("encoder.layer", part),
                };
                format!("{layers}.{layer}.{part}")
            }
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
        match stem.strip_prefix(layers).and_then(|rest| rest.split_once('.')) {
            Some((layer, part)) => {
                let part = match self {
                    Family::DistilBert => LAYER_PARTS.iter().find(|p| p.1 == part).map_or(part, |p| p.0),
                    Family::MpNet => LAYER_PARTS.iter().find(|p| p.2 == part).map_or(part, |p| p.0),
                    _ => part,
                };
                format!("encoder.layer.{layer}.{part}.{leaf}")
            }
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
        assert_eq!(Family::from_model_type("deberta-v2"), None);
    }
}
