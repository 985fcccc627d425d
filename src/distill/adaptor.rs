//! The adaptor: anything that turns a padded batch into {logits, hidden states, attentions} can be
//! a teacher or a student, so the distillation run never depends on a model class. The run reads
//! the teacher only through [`Adaptor::outputs`] and the student through [`Adaptor::embed`] and
//! [`Adaptor::encode`] (split so mixup can mix input embeddings between the two).

use burn::tensor::{Device, Tensor, TensorData};

use crate::data::HostBatch;
pub use crate::model::ModelOutputs;
use crate::model::{Bert, BertInput};

/// A model the distiller can read.
pub trait Adaptor {
    /// Runs the model on a batch; attention maps only when `with_attention`.
    fn outputs(&self, batch: &HostBatch, device: &Device, with_attention: bool) -> ModelOutputs {
        let embedded = self.embed(batch, device);
        self.encode(embedded, attention_mask(batch, device), with_attention)
    }
    /// The input embeddings of a batch, `[rows, width, hidden]`.
    fn embed(&self, batch: &HostBatch, device: &Device) -> Tensor<3>;
    /// Runs the encoder and head on (possibly mixed) input embeddings under a `[rows, width]` mask.
    fn encode(&self, embedded: Tensor<3>, mask: Tensor<2>, with_attention: bool) -> ModelOutputs;
    /// Number of layers (hidden states are `layers + 1`, index 0 = embeddings).
    fn layers(&self) -> usize;
    /// The logits alone (`outputs(..).logits`): a model may skip work the logits do not read.
    fn logits(&self, batch: &HostBatch, device: &Device) -> Tensor<2> {
        self.outputs(batch, device, false).logits
    }
}

/// The `[rows, width]` attention mask of a batch (1 = token, 0 = padding).
pub fn attention_mask(batch: &HostBatch, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(batch.mask.clone(), [batch.rows, batch.width]), device)
}

impl Adaptor for Bert {
    fn outputs(&self, batch: &HostBatch, device: &Device, with_attention: bool) -> ModelOutputs {
        self.forward(&BertInput::from_host(batch, device), with_attention)
    }

    fn logits(&self, batch: &HostBatch, device: &Device) -> Tensor<2> {
        Bert::logits(self, &BertInput::from_host(batch, device))
    }

    fn embed(&self, batch: &HostBatch, device: &Device) -> Tensor<3> {
        Bert::embed(self, &BertInput::from_host(batch, device))
    }

    fn encode(&self, embedded: Tensor<3>, mask: Tensor<2>, with_attention: bool) -> ModelOutputs {
        Bert::encode(self, embedded, mask, with_attention)
    }

    fn layers(&self) -> usize {
        self.num_layers()
    }
}
