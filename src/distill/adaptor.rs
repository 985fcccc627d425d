//! The adaptor: anything that turns a padded batch into {logits, hidden states, attentions, mask}
//! can be a teacher or a student, so the distiller never depends on a model class.

use burn::tensor::Device;

use crate::data::HostBatch;
pub use crate::model::ModelOutputs;
use crate::model::{Bert, BertInput};

/// A model the distiller can read.
pub trait Adaptor {
    /// Runs the model on a batch; attention maps only when `with_attention`.
    fn outputs(&self, batch: &HostBatch, device: &Device, with_attention: bool) -> ModelOutputs;
    /// Number of layers (hidden states are `layers + 1`, index 0 = embeddings).
    fn layers(&self) -> usize;
}

impl Adaptor for Bert {
    fn outputs(&self, batch: &HostBatch, device: &Device, with_attention: bool) -> ModelOutputs {
        self.forward(&BertInput::from_host(batch, device), with_attention)
    }

    fn layers(&self) -> usize {
        self.num_layers()
    }
}
