//! The total distillation loss of a [`Pipeline`]:
//! `L = w_kd·KD(z_S, z_T; τ) + Σ_(i,j)∈M w_inter·ℓ(H_S^i, H_T^j) + w_hard·CE(y, z_S)`,
//! and the small trainable parts it needs besides the student (projections, MI critic).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use std::collections::BTreeMap;

use super::adaptor::ModelOutputs;
use super::intermediate::{attention_kl, attention_mse, cosine, hidden_ce, hidden_mse, pkd};
use super::kd::{kd_ce, kd_mse};
use super::mapping::{fixed_pairs, uniform_transport};
use super::mi::Critic;
use crate::augment::mixup::Mixup;
use crate::data::{Label, LabelKind};
use crate::model::Bert;
use crate::pipeline::{Feature, KdLoss, Mapping, Objective, Pipeline};
use crate::train::task_loss;

/// The teacher's side of a batch: logits plus the hidden states / attention maps of the teacher
/// layers the mapping reads (keyed by layer index, 0 = embeddings).
#[derive(Debug, Clone)]
pub struct TeacherTargets {
    pub logits: Tensor<2>,
    pub hidden: BTreeMap<usize, Tensor<3>>,
    pub attentions: BTreeMap<usize, Tensor<4>>,
}

impl TeacherTargets {
    /// Targets from a live teacher forward pass (no cache), keeping only `layers`.
    pub fn from_outputs(out: ModelOutputs, layers: &[usize]) -> Self {
        let hidden = layers.iter().filter_map(|&l| out.hidden.get(l).map(|h| (l, h.clone().detach()))).collect();
        let attentions = layers.iter().filter(|&&l| l >= 1).filter_map(|&l| out.attentions.get(l - 1).map(|a| (l, a.clone().detach()))).collect();
        Self { logits: out.logits.detach(), hidden, attentions }
    }

    /// The same targets on another device (e.g. from the teacher's plain device to the
    /// student's autodiff device).
    pub fn to_device(self, device: &Device) -> Self {
        Self {
            logits: self.logits.to_device(device),
            hidden: self.hidden.into_iter().map(|(l, h)| (l, h.to_device(device))).collect(),
            attentions: self.attentions.into_iter().map(|(l, a)| (l, a.to_device(device))).collect(),
        }
    }
}

/// Trainable helpers of the intermediate objective: one `Linear(d_S → d_T)` per student layer when
/// widths differ (not for MI, whose critic embeds each side), and the MI critic.
#[derive(Module, Debug)]
pub struct DistillHeads {
    projections: Vec<Linear>,
    critic: Option<Critic>,
}

impl DistillHeads {
    pub fn new(pipeline: &Pipeline, student_hidden: usize, student_layers: usize, teacher_hidden: usize, device: &Device) -> Self {
        let i = &pipeline.intermediate;
        let hidden_objective = i.feature == Feature::Hidden && !matches!(i.objective, Objective::None | Objective::Mi);
        let projections = if hidden_objective && student_hidden != teacher_hidden {
            (0..=student_layers).map(|_| LinearConfig::new(student_hidden, teacher_hidden).init(device)).collect()
        } else {
            Vec::new()
        };
        let critic = (i.objective == Objective::Mi).then(|| Critic::new(i.critic, student_hidden, teacher_hidden, device));
        Self { projections, critic }
    }

    fn project(&self, layer: usize, h: Tensor<3>) -> Tensor<3> {
        match self.projections.get(layer) {
            Some(p) => p.forward(h),
            None => h,
        }
    }
}

/// The student and its distillation helpers: what the optimiser updates.
#[derive(Module, Debug)]
pub struct Learner {
    pub student: Bert,
    pub heads: DistillHeads,
}

/// Loss of one (student layer, teacher layer) pair.
fn pair_loss(pipeline: &Pipeline, heads: &DistillHeads, student: &ModelOutputs, teacher: &TeacherTargets, s: usize, t: usize) -> Tensor<1> {
    let i = &pipeline.intermediate;
    let mask = &student.mask;
    if i.feature == Feature::Attention {
        let (sa, ta) = (student.attentions[s - 1].clone(), teacher.attentions[&t].clone());
        return match i.objective {
            Objective::AttKl => attention_kl(sa, ta, mask),
            _ => attention_mse(sa, ta, mask),
        };
    }
    let th = teacher.hidden[&t].clone();
    let sh = student.hidden[s].clone();
    match i.objective {
        Objective::Mi => heads.critic.as_ref().expect("mi has a critic").loss(sh, th, mask, i.alpha),
        Objective::HiddenMse => hidden_mse(heads.project(s, sh), th, mask),
        Objective::HiddenCe => hidden_ce(heads.project(s, sh), th, mask),
        Objective::Cos => cosine(heads.project(s, sh), th, mask),
        Objective::Pkd => pkd(heads.project(s, sh), th),
        Objective::None | Objective::AttMse | Objective::AttKl => unreachable!("validated: {:?} with hidden states", i.objective),
    }
}

/// The intermediate term summed over the mapping; `emd` weighs every pair by the optimal
/// transport plan of the current (detached) pair costs.
fn intermediate_loss(pipeline: &Pipeline, heads: &DistillHeads, student: &ModelOutputs, teacher: &TeacherTargets) -> Option<Tensor<1>> {
    let i = &pipeline.intermediate;
    if i.objective == Objective::None {
        return None;
    }
    let student_layers = student.hidden.len() - 1;
    let teacher_layers: Vec<usize> = match i.feature {
        Feature::Hidden => teacher.hidden.keys().copied().collect(),
        Feature::Attention => teacher.attentions.keys().copied().collect(),
    };
    let teacher_depth = teacher_layers.iter().copied().max().unwrap_or(0);
    let total = match i.mapping {
        Mapping::Emd => {
            let costs: Vec<Vec<Tensor<1>>> =
                (1..=student_layers).map(|s| teacher_layers.iter().filter(|&&t| t >= 1).map(|&t| pair_loss(pipeline, heads, student, teacher, s, t)).collect()).collect();
            let values: Vec<Vec<f64>> = costs.iter().map(|row| row.iter().map(|c| c.clone().into_scalar::<f32>() as f64).collect()).collect();
            let flow = uniform_transport(&values);
            costs.into_iter().zip(flow).flat_map(|(row, f)| row.into_iter().zip(f)).map(|(c, w)| c.mul_scalar(w)).reduce(|a, b| a + b)?
        }
        m => fixed_pairs(m, student_layers, teacher_depth).into_iter().map(|(s, t)| pair_loss(pipeline, heads, student, teacher, s, t)).reduce(|a, b| a + b)?,
    };
    Some(total.mul_scalar(i.weight))
}

/// The prediction-layer KD term (none when the pipeline has no KD loss).
fn kd_term(pipeline: &Pipeline, student_logits: Tensor<2>, teacher_logits: Tensor<2>, kind: &LabelKind) -> Option<Tensor<1>> {
    let k = &pipeline.kd;
    // Regression outputs have no class distribution: KD on them is always MSE.
    let kd_loss = if matches!(kind, LabelKind::Regression) && k.loss == KdLoss::Ce { KdLoss::Mse } else { k.loss };
    let scale = if k.scale_by_t2 { k.temperature * k.temperature } else { 1.0 };
    match kd_loss {
        KdLoss::Ce => Some(kd_ce(student_logits, teacher_logits, k.temperature).mul_scalar(k.weight * scale)),
        KdLoss::Mse => Some(kd_mse(student_logits, teacher_logits, k.temperature).mul_scalar(k.weight * scale)),
        KdLoss::None => None,
    }
}

/// The pipeline's total loss for one batch.
pub fn distillation_loss(pipeline: &Pipeline, heads: &DistillHeads, student: &ModelOutputs, teacher: &TeacherTargets, gold: &[Label], kind: &LabelKind) -> Tensor<1> {
    let k = &pipeline.kd;
    let device = student.logits.device();
    let mut total = Tensor::<1>::zeros([1], &device);
    if let Some(kd) = kd_term(pipeline, student.logits.clone(), teacher.logits.clone(), kind) {
        total = total + kd;
    }
    if k.hard_weight > 0.0 {
        total = total + task_loss(student.logits.clone(), gold, kind).mul_scalar(k.hard_weight);
    }
    if let Some(inter) = intermediate_loss(pipeline, heads, student, teacher) {
        total = total + inter;
    }
    total
}

/// The loss of a batch's mixup rows (`student_logits` of the mixed inputs): KD against the teacher
/// logits mixed the same way, hard labels as `λ·CE(y) + (1−λ)·CE(y_partner)`.
pub fn mixup_loss(pipeline: &Pipeline, mixup: &Mixup, student_logits: Tensor<2>, teacher_logits: Tensor<2>, gold: &[Label], kind: &LabelKind) -> Tensor<1> {
    let k = &pipeline.kd;
    let device = student_logits.device();
    let mut total = Tensor::<1>::zeros([1], &device);
    if let Some(kd) = kd_term(pipeline, student_logits.clone(), mixup.mix(teacher_logits), kind) {
        total = total + kd;
    }
    if k.hard_weight > 0.0 {
        let partner_gold: Vec<Label> = mixup.partner.iter().map(|&p| gold[p]).collect();
        let hard = task_loss(student_logits.clone(), gold, kind).mul_scalar(mixup.lambda) + task_loss(student_logits, &partner_gold, kind).mul_scalar(1.0 - mixup.lambda);
        total = total + hard.mul_scalar(k.hard_weight);
    }
    total
}
