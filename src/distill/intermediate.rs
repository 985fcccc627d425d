//! Intermediate-representation losses between one student and one teacher layer, with padding
//! masked out. Hidden states are `[batch, seq, dim]`, attention maps `[batch, heads, seq, seq]`,
//! masks `[batch, seq]` with 1 for real tokens.

use burn::tensor::Tensor;
use burn::tensor::activation::{log_softmax, softmax};

fn token_count(mask: &Tensor<2>) -> Tensor<1> {
    mask.clone().sum().clamp_min(1.0)
}

/// Sum of squared errors over real tokens / (#tokens · dim).
pub fn hidden_mse(s: Tensor<3>, t: Tensor<3>, mask: &Tensor<2>) -> Tensor<1> {
    let [_, _, d] = s.dims();
    let m = mask.clone().unsqueeze_dim::<3>(2);
    ((s - t).powf_scalar(2.0) * m).sum() / token_count(mask).mul_scalar(d as f64)
}

/// Cross-entropy between softmaxes over the hidden dimension (teacher as target), token mean.
pub fn hidden_ce(s: Tensor<3>, t: Tensor<3>, mask: &Tensor<2>) -> Tensor<1> {
    let per_token = (softmax(t, 2) * log_softmax(s, 2)).sum_dim(2).squeeze_dim::<2>(2).neg();
    (per_token * mask.clone()).sum() / token_count(mask)
}

/// Mean over real tokens of `1 − cos(s, t)`.
pub fn cosine(s: Tensor<3>, t: Tensor<3>, mask: &Tensor<2>) -> Tensor<1> {
    let dot = (s.clone() * t.clone()).sum_dim(2);
    // clamp before the square root: padding carries all-zero vectors, where sqrt' is infinite
    let norms = (s.powf_scalar(2.0).sum_dim(2) * t.powf_scalar(2.0).sum_dim(2)).clamp_min(1e-16).sqrt();
    let cos = (dot / norms).squeeze_dim::<2>(2);
    ((cos.neg() + 1.0) * mask.clone()).sum() / token_count(mask)
}

/// Rows scaled to unit L2 norm (clamped before the square root, so zero rows keep finite gradients).
pub(crate) fn l2_normalise(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powf_scalar(2.0).sum_dim(1).clamp_min(1e-16).sqrt();
    x / norm
}

/// Patient KD: `‖ŝ_cls − t̂_cls‖²` of L2-normalised [CLS] vectors, batch mean.
pub fn pkd(s: Tensor<3>, t: Tensor<3>) -> Tensor<1> {
    let cls = |x: Tensor<3>| {
        let [b, _, d] = x.dims();
        l2_normalise(x.slice([0..b, 0..1, 0..d]).reshape([b, d]))
    };
    (cls(s) - cls(t)).powf_scalar(2.0).sum_dim(1).mean()
}

/// Averages heads when the two models have different head counts.
fn align_heads(s: Tensor<4>, t: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
    if s.dims()[1] == t.dims()[1] { (s, t) } else { (s.mean_dim(1), t.mean_dim(1)) }
}

/// `[batch, 1, seq, seq]` mask of (real query, real key) pairs.
fn pair_mask(mask: &Tensor<2>) -> Tensor<4> {
    let [b, n] = mask.dims();
    mask.clone().reshape([b, 1, n, 1]) * mask.clone().reshape([b, 1, 1, n])
}

/// MSE between attention maps over real (query, key) pairs.
pub fn attention_mse(s: Tensor<4>, t: Tensor<4>, mask: &Tensor<2>) -> Tensor<1> {
    let (s, t) = align_heads(s, t);
    let heads = s.dims()[1];
    let pm = pair_mask(mask);
    let pairs = pm.clone().sum().clamp_min(1.0).mul_scalar(heads as f64);
    ((s - t).powf_scalar(2.0) * pm).sum() / pairs
}

/// KL(teacher ‖ student) of each real query's attention row, mean over real queries and heads.
pub fn attention_kl(s: Tensor<4>, t: Tensor<4>, mask: &Tensor<2>) -> Tensor<1> {
    let (s, t) = align_heads(s, t);
    let heads = s.dims()[1];
    let pm = pair_mask(mask);
    let kl = t.clone() * (t.clamp_min(1e-12).log() - s.clamp_min(1e-12).log());
    (kl * pm).sum() / token_count(mask).mul_scalar(heads as f64)
}
