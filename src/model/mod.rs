//! The encoder (BERT, RoBERTa, ELECTRA, DistilBERT, MPNet, DeBERTa-v2/v3), its sizes and its
//! checkpoints.

pub mod bert;
pub mod checkpoint;
pub mod config;
pub mod disentangled;
pub mod dropout;
pub mod family;
pub mod footprint;
pub mod kernels;
pub mod weights;

pub use bert::{Bert, BertInput, ModelOutputs, mean_pool};
pub use checkpoint::{
    CheckpointMeta, DEFAULT_ENCODER, LoadedModel, PretrainedHead, base_model_name, find_encoder, find_pretrained_teacher, load, load_pretrained, read_meta, save,
};
pub use config::{BertConfig, Pooling};
pub use family::Family;
pub use footprint::{Compression, Footprint};
pub use weights::{CheckpointWeights, Init, LayerSubset, RandomInit, WeightSource, weights_file};

/// Copies a float tensor to the host as f32 (whatever the backend's float type).
pub fn to_host<const D: usize>(tensor: burn::tensor::Tensor<D>) -> Vec<f32> {
    tensor.into_data().try_into_vec_as::<f32>().expect("float tensor converts to f32")
}
