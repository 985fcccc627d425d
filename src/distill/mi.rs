//! MI-α: the interpolated mutual-information lower bound of Poole et al. (2019), as the Distiller
//! paper uses it (α = 0 → NWJ/TUBA end, α = 1 → InfoNCE end; the loss is −I_α), and the critics
//! that score (student, teacher) pairs.

use burn::module::Module;
use burn::nn::transformer::{TransformerEncoder, TransformerEncoderConfig, TransformerEncoderInput};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Bool, Device, Tensor};

use super::intermediate::l2_normalise;
use crate::model::mean_pool;
use crate::pipeline::CriticKind;

/// Large negative stand-in for −∞ in masked log-sum-exps (finite, so gradients stay finite).
const NEG: f64 = -1e30;

/// `log Σ exp(x)` along `dim`, stabilised by the (detached) maximum.
fn logsumexp<const D: usize>(x: Tensor<D>, dim: usize) -> Tensor<D> {
    let max = x.clone().max_dim(dim).detach();
    (x - max.clone()).exp().sum_dim(dim).log() + max
}

/// `log(α·e^a + (1−α)·e^b)` elementwise, exact at α = 0 and α = 1.
fn log_interpolate(a: Tensor<2>, b: Tensor<2>, alpha: f64) -> Tensor<2> {
    if alpha >= 1.0 {
        return a;
    }
    if alpha <= 0.0 {
        return b;
    }
    let (a, b) = (a.add_scalar(alpha.ln()), b.add_scalar((1.0 - alpha).ln()));
    let max = a.clone().max_pair(b.clone()).detach();
    ((a - max.clone()).exp() + (b - max.clone()).exp()).log() + max
}

/// `I_α` from critic scores `S[i, j] = f(student_i, teacher_j)` (`[B, B]`, B ≥ 2) and the
/// baseline `b_i = log q(teacher_i)` (`[B]`):
///
/// 1. `loo[i,j] = log((1/(B−1)) Σ_{k≠j} exp S[i,k])`
/// 2. `A[i,j] = log(α·exp(loo[i,j]) + (1−α)·exp(b_i))`
/// 3. `marg = exp(logmeanexp_{i≠j}(S[i,j] − A[i,i]))`
/// 4. `joint = Σ_{i≠j}(S[i,i] − A[i,j]) / (B(B−1))`
/// 5. `I_α = 1 + joint − marg`
pub fn interpolated_bound(scores: Tensor<2>, baseline: Tensor<1>, alpha: f64) -> Tensor<1> {
    let [b, b2] = scores.dims();
    assert!(b == b2 && b >= 2, "MI bound needs a square score matrix with batch >= 2, got {b}x{b2}");
    let device = scores.device();
    let off_diag: Tensor<2, Bool> = Tensor::<2, Bool>::diag_mask([b, b], 0, &device); // true off the diagonal
    let on_diag = off_diag.clone().bool_not();
    // loo[i, j]: for each j drop column k = j from row i → a [B, B(j), B(k)] tensor.
    let expanded = scores.clone().unsqueeze_dim::<3>(1).expand([b, b, b]);
    let drop_k_eq_j = on_diag.clone().unsqueeze_dim::<3>(0).expand([b, b, b]);
    let loo = logsumexp(expanded.mask_fill(drop_k_eq_j, NEG), 2).squeeze_dim::<2>(2).sub_scalar(((b - 1) as f64).ln());
    let base = baseline.reshape([b, 1]).expand([b, b]);
    let interp = log_interpolate(loo, base, alpha);
    let diag = |m: Tensor<2>| (m * Tensor::<2>::eye(b, &device)).sum_dim(1); // [B, 1]
    let pairs = (b * (b - 1)) as f64;
    let critic_marg = (scores.clone() - diag(interp.clone())).mask_fill(on_diag.clone(), NEG);
    let marg = logsumexp(critic_marg.reshape([1, b * b]), 1).reshape([1]).sub_scalar(pairs.ln()).exp();
    let critic_joint = (diag(scores) - interp).mask_fill(on_diag, 0.0);
    let joint = critic_joint.sum().div_scalar(pairs);
    (joint - marg).add_scalar(1.0)
}

/// Per-side encoder of the transformer critic: 2 layers, FFN 512, dropout 0.1, output ×√d,
/// then a per-token projection.
#[derive(Module, Debug)]
struct SideEncoder {
    encoder: TransformerEncoder,
    project: Linear,
    scale: f64,
}

fn heads_for(d: usize) -> usize {
    [8, 4, 2, 1].into_iter().find(|&h| d.is_multiple_of(h)).unwrap_or(1)
}

impl SideEncoder {
    fn new(d: usize, out: usize, device: &Device) -> Self {
        Self {
            encoder: TransformerEncoderConfig::new(d, 512, heads_for(d), 2).with_dropout(0.1).init(device),
            project: LinearConfig::new(d, out).init(device),
            scale: (d as f64).sqrt(),
        }
    }

    /// `[B, T, out]` per-token outputs, zero at padding.
    fn forward(&self, x: Tensor<3>, mask: &Tensor<2>) -> Tensor<3> {
        let pad: Tensor<2, Bool> = mask.clone().lower_equal_elem(0.5);
        let h = self.encoder.forward(TransformerEncoderInput::new(x).mask_pad(pad)).mul_scalar(self.scale);
        self.project.forward(h) * mask.clone().unsqueeze_dim::<3>(2)
    }
}

/// Mean-pooled two-layer MLP, the cheap critic.
#[derive(Module, Debug)]
struct PooledMlp {
    hidden: Linear,
    out: Linear,
}

impl PooledMlp {
    fn new(d: usize, out: usize, device: &Device) -> Self {
        Self { hidden: LinearConfig::new(d, 256).init(device), out: LinearConfig::new(256, out).init(device) }
    }

    fn forward(&self, x: Tensor<3>, mask: &Tensor<2>) -> Tensor<2> {
        self.out.forward(relu(self.hidden.forward(mean_pool(x, mask))))
    }
}

/// The critic `f(student, teacher)` and baseline `q(teacher)`, trained with the student. One
/// critic serves every layer pair.
#[derive(Module, Debug)]
pub struct Critic {
    student_tf: Option<SideEncoder>,
    teacher_tf: Option<SideEncoder>,
    student_mlp: Option<PooledMlp>,
    teacher_mlp: Option<PooledMlp>,
    /// The MLP critic's baseline q; the transformer critic has it as an extra output channel.
    mlp_baseline: Option<Linear>,
}

/// Width of the per-token critic embedding (the paper's 16).
const TOKEN_EMBED: usize = 16;

impl Critic {
    pub fn new(kind: CriticKind, student_dim: usize, teacher_dim: usize, device: &Device) -> Self {
        match kind {
            CriticKind::Transformer => Self {
                student_tf: Some(SideEncoder::new(student_dim, TOKEN_EMBED, device)),
                teacher_tf: Some(SideEncoder::new(teacher_dim, TOKEN_EMBED + 1, device)),
                student_mlp: None,
                teacher_mlp: None,
                mlp_baseline: None,
            },
            CriticKind::Mlp => Self {
                student_tf: None,
                teacher_tf: None,
                student_mlp: Some(PooledMlp::new(student_dim, 64, device)),
                teacher_mlp: Some(PooledMlp::new(teacher_dim, 64, device)),
                mlp_baseline: Some(LinearConfig::new(teacher_dim, 1).init(device)),
            },
        }
    }

    /// Scores `[B, B]` (rows = students) and baseline `[B]` for one layer pair.
    pub fn score(&self, student: Tensor<3>, teacher: Tensor<3>, mask: &Tensor<2>) -> (Tensor<2>, Tensor<1>) {
        let [b, t, _] = student.dims();
        match (&self.student_tf, &self.teacher_tf, &self.student_mlp, &self.teacher_mlp, &self.mlp_baseline) {
            (Some(s_enc), Some(t_enc), _, _, _) => {
                let s = s_enc.forward(student, mask).reshape([b, t * TOKEN_EMBED]);
                let t_out = t_enc.forward(teacher, mask);
                // the teacher side's extra output channel is the baseline q, mean-pooled
                let t_embed = t_out.clone().slice([0..b, 0..t, 0..TOKEN_EMBED]).reshape([b, t * TOKEN_EMBED]);
                let q = mean_pool(t_out.slice([0..b, 0..t, TOKEN_EMBED..TOKEN_EMBED + 1]), mask).reshape([b]);
                (l2_normalise(s).matmul(l2_normalise(t_embed).transpose()), q)
            }
            (_, _, Some(s_mlp), Some(t_mlp), Some(baseline)) => {
                let q = baseline.forward(mean_pool(teacher.clone(), mask)).reshape([b]);
                let s = l2_normalise(s_mlp.forward(student, mask));
                let t = l2_normalise(t_mlp.forward(teacher, mask));
                (s.matmul(t.transpose()), q)
            }
            _ => unreachable!("a critic always has one kind of side networks"),
        }
    }

    /// The MI-α loss for one layer pair: `−I_α`.
    pub fn loss(&self, student: Tensor<3>, teacher: Tensor<3>, mask: &Tensor<2>, alpha: f64) -> Tensor<1> {
        let (scores, baseline) = self.score(student, teacher, mask);
        interpolated_bound(scores, baseline, alpha).neg()
    }
}

/// Correlated Gaussians with known mutual information, to check the bounds: `x, y ∈ R^dim`, each
/// coordinate pair with correlation ρ, so `I(x; y) = −dim/2 · log(1 − ρ²)`.
pub mod gaussian {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    /// ρ giving `mi_nats` of mutual information over `dim` coordinate pairs.
    pub fn rho_for(mi_nats: f64, dim: usize) -> f64 {
        (1.0 - (-2.0 * mi_nats / dim as f64).exp()).sqrt()
    }

    /// Scores of the optimal critic `S[i, j] = log p(y_j | x_i) − log p(y_j)` for one batch of
    /// `batch` pairs (row-major `[batch, batch]`).
    pub fn optimal_scores(batch: usize, dim: usize, mi_nats: f64, seed: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        let rho = rho_for(mi_nats, dim);
        let sd = (1.0 - rho * rho).sqrt();
        let mut x = vec![0.0f64; batch * dim];
        let mut y = vec![0.0f64; batch * dim];
        for k in 0..batch * dim {
            x[k] = crate::model::weights::standard_normal(&mut rng) as f64;
            y[k] = rho * x[k] + sd * crate::model::weights::standard_normal(&mut rng) as f64;
        }
        let var = 1.0 - rho * rho;
        let mut scores = vec![0.0f32; batch * batch];
        for i in 0..batch {
            for j in 0..batch {
                let mut s = -0.5 * dim as f64 * var.ln();
                for d in 0..dim {
                    let (xi, yj) = (x[i * dim + d], y[j * dim + d]);
                    s += -(yj - rho * xi).powi(2) / (2.0 * var) + yj * yj / 2.0;
                }
                scores[i * batch + j] = s as f32;
            }
        }
        scores
    }
}
