//! Prediction-layer KD losses (batch means).

use burn::tensor::Tensor;
use burn::tensor::activation::{log_softmax, softmax};

/// `−Σ softmax(z_T/τ) · log_softmax(z_S/τ)`, averaged over the batch.
pub fn kd_ce(student: Tensor<2>, teacher: Tensor<2>, tau: f64) -> Tensor<1> {
    let p = softmax(teacher.div_scalar(tau), 1);
    let log_q = log_softmax(student.div_scalar(tau), 1);
    (p * log_q).sum_dim(1).mean().neg()
}

/// `MSE(z_S/τ, z_T/τ)` over all logits.
pub fn kd_mse(student: Tensor<2>, teacher: Tensor<2>, tau: f64) -> Tensor<1> {
    (student - teacher).div_scalar(tau).powf_scalar(2.0).mean()
}
