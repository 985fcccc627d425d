//! Every distillation loss against a naive f64 computation, and its gradient against finite
//! differences; MI-α against its five formulas and its known behaviour on Gaussians.

use burn::tensor::{Device, Tensor, TensorData};
use distiller::distill::intermediate::{attention_kl, attention_mse, cosine, hidden_ce, hidden_mse, pkd};
use distiller::distill::kd::{kd_ce, kd_mse};
use distiller::distill::mi::{gaussian, interpolated_bound};
use distiller::model::to_host;

fn dev() -> Device {
    distiller::backend::device(None).unwrap()
}

/// Deterministic pseudo-random values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 33) as f64 / (1u64 << 31) as f64 * 2.0 - 1.0) as f32
        })
        .collect()
}

fn t<const D: usize>(v: &[f32], shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(v.to_vec(), shape), device)
}

fn scalar(x: Tensor<1>) -> f64 {
    to_host(x)[0] as f64
}

/// Checks d loss / d x against central differences at every coordinate of `x`.
fn check_gradient<const D: usize>(x: &[f32], shape: [usize; D], loss: impl Fn(Tensor<D>) -> Tensor<1>) {
    let device = dev();
    let ad = device.clone().autodiff();
    let xt = t(x, shape, &ad).require_grad();
    let l = loss(xt.clone());
    let grads = l.backward();
    let analytic = to_host(xt.grad(&grads).expect("gradient reaches the input"));
    let h = 1e-2f32;
    for k in 0..x.len() {
        let mut plus = x.to_vec();
        plus[k] += h;
        let mut minus = x.to_vec();
        minus[k] -= h;
        let numeric = (scalar(loss(t(&plus, shape, &device))) - scalar(loss(t(&minus, shape, &device)))) / (2.0 * h as f64);
        let a = analytic[k] as f64;
        assert!((a - numeric).abs() <= 2e-3 + 2e-2 * numeric.abs(), "coordinate {k}: analytic {a} vs numeric {numeric}");
    }
}

fn softmax(v: &[f64]) -> Vec<f64> {
    let m = v.iter().cloned().fold(f64::MIN, f64::max);
    let e: Vec<f64> = v.iter().map(|x| (x - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|x| x / s).collect()
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

#[test]
fn kd_losses_match_hand_values_and_gradients() {
    let d = dev();
    let (zs, zt) = ([1.0f32, 2.0, 0.0, -1.0, 0.5, 0.25], [0.5f32, 0.5, 2.0, 1.0, 1.0, -2.0]);
    let tau = 2.0;
    let mut ce = 0.0;
    for r in 0..2 {
        let p = softmax(&f64s(&zt[r * 3..r * 3 + 3]).iter().map(|x| x / tau).collect::<Vec<_>>());
        let q = softmax(&f64s(&zs[r * 3..r * 3 + 3]).iter().map(|x| x / tau).collect::<Vec<_>>());
        ce -= p.iter().zip(&q).map(|(p, q)| p * q.ln()).sum::<f64>() / 2.0;
    }
    assert!((scalar(kd_ce(t(&zs, [2, 3], &d), t(&zt, [2, 3], &d), tau)) - ce).abs() < 1e-5);
    let mse: f64 = zs.iter().zip(&zt).map(|(a, b)| ((*a as f64 - *b as f64) / tau).powi(2)).sum::<f64>() / 6.0;
    assert!((scalar(kd_mse(t(&zs, [2, 3], &d), t(&zt, [2, 3], &d), tau)) - mse).abs() < 1e-5);
    check_gradient(&zs, [2, 3], |s| {
        let dv = s.device();
        kd_ce(s, t(&zt, [2, 3], &dv), tau)
    });
    check_gradient(&zs, [2, 3], |s| {
        let dv = s.device();
        kd_mse(s, t(&zt, [2, 3], &dv), tau)
    });
}

const B: usize = 2;
const T: usize = 3;
const H: usize = 4;
const MASK: [f32; 6] = [1.0, 1.0, 1.0, 1.0, 1.0, 0.0]; // second row has one padding token

/// Naive per-token reference over real tokens: returns the token mean of `f(s_tok, t_tok)`.
fn token_mean(s: &[f32], t: &[f32], f: impl Fn(&[f64], &[f64]) -> f64) -> f64 {
    let (mut sum, mut n) = (0.0, 0.0);
    for b in 0..B {
        for k in 0..T {
            if MASK[b * T + k] == 1.0 {
                let o = (b * T + k) * H;
                sum += f(&f64s(&s[o..o + H]), &f64s(&t[o..o + H]));
                n += 1.0;
            }
        }
    }
    sum / n
}

#[test]
fn hidden_losses_match_hand_values_and_gradients() {
    let d = dev();
    let (mut s, mut th) = (values(B * T * H, 1), values(B * T * H, 2));
    // padding carries zero vectors (as the teacher cache stores it): losses and gradients stay finite
    for k in (B * T - 1) * H..B * T * H {
        s[k] = 0.0;
        th[k] = 0.0;
    }
    let mask = t(&MASK, [B, T], &d);
    let shape = [B, T, H];
    let mse = token_mean(&s, &th, |a, b| a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / H as f64);
    assert!((scalar(hidden_mse(t(&s, shape, &d), t(&th, shape, &d), &mask)) - mse).abs() < 1e-5);
    let ce = token_mean(&s, &th, |a, b| {
        let (p, q) = (softmax(b), softmax(a));
        -p.iter().zip(&q).map(|(p, q)| p * q.ln()).sum::<f64>()
    });
    assert!((scalar(hidden_ce(t(&s, shape, &d), t(&th, shape, &d), &mask)) - ce).abs() < 1e-5);
    let cos = token_mean(&s, &th, |a, b| {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        1.0 - dot / (a.iter().map(|x| x * x).sum::<f64>().sqrt() * b.iter().map(|x| x * x).sum::<f64>().sqrt())
    });
    assert!((scalar(cosine(t(&s, shape, &d), t(&th, shape, &d), &mask)) - cos).abs() < 1e-5);
    let mut pk = 0.0;
    for b in 0..B {
        let o = b * T * H;
        let (a, c) = (f64s(&s[o..o + H]), f64s(&th[o..o + H]));
        let (na, nc) = (a.iter().map(|x| x * x).sum::<f64>().sqrt(), c.iter().map(|x| x * x).sum::<f64>().sqrt());
        pk += a.iter().zip(&c).map(|(x, y)| (x / na - y / nc).powi(2)).sum::<f64>() / B as f64;
    }
    assert!((scalar(pkd(t(&s, shape, &d), t(&th, shape, &d))) - pk).abs() < 1e-5);
    type Loss = fn(Tensor<3>, Tensor<3>, &Tensor<2>) -> Tensor<1>;
    let losses: [Loss; 4] = [hidden_mse, hidden_ce, cosine, |a, b, _| pkd(a, b)];
    for loss in losses {
        check_gradient(&s, shape, |x| {
            let dv = x.device();
            loss(x, t(&th, shape, &dv), &t(&MASK, [B, T], &dv))
        });
    }
}

/// Row-softmaxed attention maps `[B, heads, T, T]`.
fn attention(seed: u64, heads: usize) -> Vec<f32> {
    let raw = values(B * heads * T * T, seed);
    raw.chunks(T).flat_map(|row| softmax(&f64s(row)).into_iter().map(|x| x as f32)).collect()
}

#[test]
fn attention_losses_match_hand_values_and_gradients() {
    let d = dev();
    let heads = 2;
    let (s, ta) = (attention(3, heads), attention(4, heads));
    let shape = [B, heads, T, T];
    let mask = t(&MASK, [B, T], &d);
    let (mut se, mut pairs, mut kl, mut queries) = (0.0, 0.0, 0.0, 0.0);
    for b in 0..B {
        for h in 0..heads {
            for q in 0..T {
                if MASK[b * T + q] == 0.0 {
                    continue;
                }
                queries += 1.0;
                for k in 0..T {
                    if MASK[b * T + k] == 0.0 {
                        continue;
                    }
                    let i = ((b * heads + h) * T + q) * T + k;
                    let (x, y) = (s[i] as f64, ta[i] as f64);
                    se += (x - y).powi(2);
                    pairs += 1.0;
                    kl += y * (y.ln() - x.ln());
                }
            }
        }
    }
    assert!((scalar(attention_mse(t(&s, shape, &d), t(&ta, shape, &d), &mask)) - se / pairs).abs() < 1e-6);
    assert!((scalar(attention_kl(t(&s, shape, &d), t(&ta, shape, &d), &mask)) - kl / queries).abs() < 1e-5);
    for loss in [attention_mse as fn(Tensor<4>, Tensor<4>, &Tensor<2>) -> Tensor<1>, attention_kl] {
        check_gradient(&s, shape, |x| {
            let dv = x.device();
            loss(x, t(&ta, shape, &dv), &t(&MASK, [B, T], &dv))
        });
    }
}

/// The five formulas of DESIGN.md, naively in f64.
fn naive_bound(s: &[f64], base: &[f64], b: usize, alpha: f64) -> f64 {
    let loo = |i: usize, j: usize| ((0..b).filter(|&k| k != j).map(|k| s[i * b + k].exp()).sum::<f64>() / (b - 1) as f64).ln();
    let a = |i: usize, j: usize| (alpha * loo(i, j).exp() + (1.0 - alpha) * base[i].exp()).ln();
    let (mut marg, mut joint) = (0.0, 0.0);
    for i in 0..b {
        for j in 0..b {
            if i != j {
                marg += (s[i * b + j] - a(i, i)).exp();
                joint += s[i * b + i] - a(i, j);
            }
        }
    }
    let pairs = (b * (b - 1)) as f64;
    1.0 + joint / pairs - marg / pairs
}

#[test]
fn mi_alpha_matches_its_formulas_and_gradient() {
    let d = dev();
    let b = 5;
    let s = values(b * b, 7).iter().map(|x| x * 2.0).collect::<Vec<f32>>();
    let base = values(b, 8);
    for alpha in [0.0, 0.3, 0.9, 1.0] {
        let ours = scalar(interpolated_bound(t(&s, [b, b], &d), t(&base, [b], &d), alpha));
        let naive = naive_bound(&f64s(&s), &f64s(&base), b, alpha);
        assert!((ours - naive).abs() < 1e-5, "alpha {alpha}: {ours} vs {naive}");
    }
    for alpha in [0.0, 0.5, 1.0] {
        check_gradient(&s, [b, b], |x| {
            let dv = x.device();
            interpolated_bound(x, t(&base, [b], &dv), alpha)
        });
    }
    // large scores stay finite (log-space)
    let big: Vec<f32> = s.iter().map(|x| x * 200.0).collect();
    assert!(scalar(interpolated_bound(t(&big, [b, b], &d), t(&base, [b], &d), 0.7)).is_finite());
}

#[test]
fn mi_bounds_behave_as_theory_says_on_gaussians() {
    let d = dev();
    let (batch, dim, batches) = (128, 20, 12);
    let stats = |mi: f64, alpha: f64| {
        let v: Vec<f64> = (0..batches)
            .map(|seed| {
                let s = gaussian::optimal_scores(batch, dim, mi, 100 + seed as u64);
                scalar(interpolated_bound(t(&s, [batch, batch], &d), Tensor::zeros([batch], &d), alpha))
            })
            .collect();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt();
        (mean, std)
    };
    let log_b = (batch as f64).ln();
    for mi in [2.0, 6.0, 10.0] {
        let nce = stats(mi, 1.0);
        assert!(nce.0 <= log_b, "InfoNCE {} exceeds log B {log_b}", nce.0);
        let nwj = stats(mi, 0.0);
        let mid = stats(mi, 0.5);
        // With the optimal critic NWJ is unbiased (up to its heavy upper tail, a few per cent at
        // MI 10 with B = 128); InfoNCE saturates below log B. The tolerance is the mean's standard
        // error, not one batch's spread.
        let standard_error = nwj.1 / (batches as f64).sqrt();
        assert!((nwj.0 - mi).abs() < 3.0 * standard_error + 0.05 * mi, "NWJ mean {} ± {standard_error} for MI {mi}", nwj.0);
        assert!(nce.0 <= mid.0 + 1e-6 && mid.0 <= nwj.0 + 3.0 * nwj.1, "ordering at MI {mi}: nce {nce:?} mid {mid:?} nwj {nwj:?}");
        // variance falls as α → 1
        assert!(nwj.1 > mid.1 && mid.1 > nce.1, "spread at MI {mi}: {} {} {}", nwj.1, mid.1, nce.1);
    }
}

/// Student outputs and teacher targets of one fixed batch: 3 rows of width 5 (the last row
/// padded after 3 tokens), hidden width 4, a 2-layer student and a 4-layer teacher.
fn fixed_batch(device: &Device) -> (distiller::distill::ModelOutputs, distiller::distill::TeacherTargets) {
    let (b, s, d) = (3, 5, 4);
    let mask = t(&[1., 1., 1., 1., 1., 1., 1., 1., 1., 0., 1., 1., 1., 0., 0.], [b, s], device);
    let student = distiller::distill::ModelOutputs {
        logits: t(&values(b * 2, 1), [b, 2], device),
        hidden: (0..3).map(|l| t(&values(b * s * d, 10 + l), [b, s, d], device)).collect(),
        attentions: Vec::new(),
        mask,
    };
    let teacher = distiller::distill::TeacherTargets {
        logits: t(&values(b * 2, 2).iter().map(|v| 3.0 * v).collect::<Vec<_>>(), [b, 2], device),
        hidden: (0..5).map(|l| (l as usize, t(&values(b * s * d, 20 + l), [b, s, d], device))).collect(),
        attentions: Default::default(),
    };
    (student, teacher)
}

#[test]
fn the_total_loss_is_the_weighted_sum_of_its_parts() {
    use distiller::Pipeline;
    use distiller::data::{Label, LabelKind};
    use distiller::distill::mapping::{fixed_pairs, uniform_transport};
    use distiller::distill::{DistillHeads, distillation_loss};
    use distiller::pipeline::{KdLoss, Mapping, Objective};
    use distiller::train::task_loss;
    let device = dev();
    let (student, teacher) = fixed_batch(&device);
    let classes = LabelKind::Classification { labels: vec!["0".into(), "1".into()] };
    let gold = [Label::Class(1), Label::Class(0), Label::Class(1)];
    let total = |p: &Pipeline, kind: &LabelKind| {
        let heads = DistillHeads::new(p, 4, 2, 4, &device);
        scalar(distillation_loss(p, &heads, &student, &teacher, &gold, kind))
    };
    let close = |a: f64, b: f64| assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
    let (zs, zt) = (student.logits.clone(), teacher.logits.clone());

    // KD with τ and τ² scaling + hard labels + weighted cosine over the skip pairs.
    let mut p = Pipeline::default();
    (p.kd.loss, p.kd.temperature, p.kd.scale_by_t2, p.kd.weight, p.kd.hard_weight) = (KdLoss::Ce, 2.0, true, 0.7, 0.3);
    (p.intermediate.objective, p.intermediate.mapping, p.intermediate.weight) = (Objective::Cos, Mapping::Skip, 0.5);
    let pairs = fixed_pairs(Mapping::Skip, 2, 4);
    assert_eq!(pairs.len(), 2, "{pairs:?}");
    let inter: f64 = pairs.iter().map(|&(s, t)| scalar(cosine(student.hidden[s].clone(), teacher.hidden[&t].clone(), &student.mask))).sum();
    let expected = 0.7 * 4.0 * scalar(kd_ce(zs.clone(), zt.clone(), 2.0)) + 0.3 * scalar(task_loss(zs.clone(), &gold, &classes)) + 0.5 * inter;
    close(total(&p, &classes), expected);
    // Without τ² scaling, and with the last-layer mapping instead.
    p.kd.scale_by_t2 = false;
    p.intermediate.mapping = Mapping::Last;
    let inter: f64 = fixed_pairs(Mapping::Last, 2, 4).iter().map(|&(s, t)| scalar(cosine(student.hidden[s].clone(), teacher.hidden[&t].clone(), &student.mask))).sum();
    close(total(&p, &classes), 0.7 * scalar(kd_ce(zs.clone(), zt.clone(), 2.0)) + 0.3 * scalar(task_loss(zs.clone(), &gold, &classes)) + 0.5 * inter);

    // EMD: every (student, teacher) pair weighted by the optimal transport plan of the pair costs.
    let mut p = Pipeline::default();
    (p.kd.loss, p.kd.hard_weight) = (KdLoss::Mse, 0.0);
    (p.intermediate.objective, p.intermediate.mapping, p.intermediate.weight) = (Objective::HiddenMse, Mapping::Emd, 2.0);
    let costs: Vec<Vec<f64>> = (1..=2).map(|s| (1..=4).map(|t| scalar(hidden_mse(student.hidden[s].clone(), teacher.hidden[&t].clone(), &student.mask))).collect()).collect();
    let flow = uniform_transport(&costs);
    let emd: f64 = costs.iter().zip(&flow).flat_map(|(c, f)| c.iter().zip(f)).map(|(c, f)| c * f).sum();
    assert!(flow.iter().flatten().filter(|&&f| f > 1e-9).count() > 2, "the plan spreads over several pairs: {flow:?}");
    close(total(&p, &classes), scalar(kd_mse(zs.clone(), zt.clone(), 1.0)) + 2.0 * emd);

    // Regression: KD is MSE whatever `kd.loss` says; hard labels are the squared error.
    let mut p = Pipeline::default();
    (p.kd.loss, p.kd.temperature, p.kd.hard_weight) = (KdLoss::Ce, 2.0, 0.5);
    let scores = [Label::Score(0.5), Label::Score(-1.0), Label::Score(2.0)];
    let one = |v: &Tensor<2>| v.clone().slice([0..3, 0..1]);
    let heads = DistillHeads::new(&p, 4, 2, 4, &device);
    let regression_student = distiller::distill::ModelOutputs { logits: one(&zs), ..student.clone() };
    let regression_teacher = distiller::distill::TeacherTargets { logits: one(&zt), ..teacher.clone() };
    let got = scalar(distillation_loss(&p, &heads, &regression_student, &regression_teacher, &scores, &LabelKind::Regression));
    close(got, scalar(kd_mse(one(&zs), one(&zt), 2.0)) + 0.5 * scalar(task_loss(one(&zs), &scores, &LabelKind::Regression)));
}

#[test]
fn mixup_weighs_the_hard_labels_by_lambda() {
    use distiller::Pipeline;
    use distiller::augment::mixup::Mixup;
    use distiller::data::{Label, LabelKind};
    use distiller::distill::loss::mixup_loss;
    use distiller::pipeline::KdLoss;
    use distiller::train::task_loss;
    let device = dev();
    let (student, teacher) = fixed_batch(&device);
    let classes = LabelKind::Classification { labels: vec!["0".into(), "1".into()] };
    let gold = [Label::Class(1), Label::Class(0), Label::Class(0)];
    let mixup = Mixup { lambda: 0.8, partner: vec![2, 0, 1] };
    let mut p = Pipeline::default();
    (p.kd.loss, p.kd.weight, p.kd.hard_weight) = (KdLoss::Ce, 1.5, 0.25);
    let got = scalar(mixup_loss(&p, &mixup, student.logits.clone(), teacher.logits.clone(), &gold, &classes));
    let partner_gold: Vec<Label> = mixup.partner.iter().map(|&i| gold[i]).collect();
    let kd = 1.5 * scalar(kd_ce(student.logits.clone(), mixup.mix(teacher.logits.clone()), 1.0));
    let hard = 0.8 * scalar(task_loss(student.logits.clone(), &gold, &classes)) + 0.2 * scalar(task_loss(student.logits.clone(), &partner_gold, &classes));
    assert!((got - (kd + 0.25 * hard)).abs() < 1e-5, "{got} vs {}", kd + 0.25 * hard);
}
