//! Pipelines (parsing, validation) and distillation runs end to end on a tiny teacher and
//! fixture data: every objective/mapping runs, the teacher cache hits and is reproducible,
//! divergence is an error without a checkpoint.

use crate::common;

use crate::common::{Fixture, fixture};
use distiller::Pipeline;
use distiller::data::{GlueTask, HostBatch, Split, Task, TextEncoder, load_split};
use distiller::distill::trainer::cache_spec;
use distiller::distill::{DistillJob, TeacherCache, TeacherTargets, distill};
use distiller::model::{BertInput, load, to_host};
use distiller::workspace::Workspace;
use std::path::Path;

fn parse(text: &str) -> distiller::Result<Pipeline> {
    let tmp = tempfile::tempdir().unwrap();
    let p = common::write(tmp.path(), "p.toml", text.as_bytes());
    Pipeline::from_file(&p)
}

#[test]
fn pipeline_files_parse_and_bad_ones_name_the_field() {
    let p = parse("[intermediate]\nobjective = \"mi\"\nalpha = 0.5\nmapping = \"emd\"\n[train]\nepochs = 2\n").unwrap();
    assert_eq!(p.intermediate.alpha, 0.5);
    assert_eq!(p.train.epochs, 2);
    assert_eq!(p.kd, Pipeline::default().kd);
    let round: Pipeline = toml::from_str(&p.to_toml()).unwrap();
    assert_eq!(round, p);
    let err = |text: &str| parse(text).unwrap_err().to_string();
    let e = err("[intermediate]\nobjective = \"telepathy\"\n");
    assert!(e.contains("p.toml:2") && e.contains("telepathy"), "{e}");
    let e = err("[kd]\ntemprature = 2.0\n");
    assert!(e.contains("temprature"), "{e}");
    assert!(err("[intermediate]\nobjective = \"mi\"\nalpha = 1.5\n").contains("field `intermediate.alpha`"));
    assert!(err("[kd]\ntemperature = 0.0\n").contains("field `kd.temperature`"));
    assert!(err("[kd]\nweight = -1.0\n").contains("field `kd.weight`"));
    assert!(err("[intermediate]\nobjective = \"att_kl\"\n").contains("field `intermediate.feature`"));
    assert!(err("[intermediate]\nobjective = \"cos\"\nfeature = \"attention\"\n").contains("field `intermediate.feature`"));
    assert!(err("[intermediate]\nobjective = \"att_mse\"\nfeature = \"attention\"\nmapping = \"emd\"\n").contains("field `intermediate.mapping`"));
    assert!(err("[augment]\naug_p = 2.0\n").contains("field `augment.aug_p`"));
    assert!(err("[augment]\nrepeated_aug = 0\n").contains("field `augment.repeated_aug`"));
    assert!(err("[kd]\nloss = \"none\"\n").contains("nothing to learn"));
    // combinations that don't fit a concrete teacher
    let deep = parse("[student]\nlayers = 8\n[intermediate]\nobjective = \"cos\"\n").unwrap();
    assert!(deep.check_fits(6, 384).unwrap_err().to_string().contains("student.layers"));
    let narrow = parse("[student]\nhidden = 312\n").unwrap();
    assert!(narrow.check_fits(6, 384).unwrap_err().to_string().contains("student.init"));
}

fn job(f: &Fixture, pipeline: &str) -> DistillJob {
    let base = "[train]\nepochs = 1\nbatch_size = 8\nmax_len = 16\nlr = 1e-3\n";
    let pipeline: Pipeline = toml::from_str(&format!("{base}{pipeline}")).unwrap();
    pipeline.validate().unwrap();
    DistillJob {
        task: Task::Glue(GlueTask::Sst2),
        pipeline,
        teacher_dir: f.teacher.clone(),
        data_dir: Some(f.glue.clone()),
        workspace: Workspace::new(&f.workspace),
        out_dir: None,
        use_cache: true,
    }
}

#[test]
fn every_objective_and_mapping_runs_and_the_cache_is_reused() {
    let f = fixture();
    let dev = distiller::backend::device(None).unwrap();
    let pipelines = [
        "[kd]\nloss = \"ce\"\ntemperature = 2.0\nhard_weight = 0.5\nscale_by_t2 = true\n",
        "[kd]\nloss = \"mse\"\n[intermediate]\nobjective = \"hidden_mse\"\nmapping = \"skip\"\n[student]\nlayers = 2\nhidden = 16\ninit = \"random\"\n",
        "[intermediate]\nobjective = \"hidden_ce\"\nmapping = \"last\"\n[student]\nlayers = 2\nhidden = 32\n",
        "[intermediate]\nobjective = \"cos\"\nmapping = \"emd\"\n[student]\nlayers = 2\nhidden = 32\n",
        "[intermediate]\nobjective = \"pkd\"\n",
        "[intermediate]\nobjective = \"att_kl\"\nfeature = \"attention\"\nmapping = \"last\"\n",
        "[intermediate]\nobjective = \"att_mse\"\nfeature = \"attention\"\n[student]\nlayers = 2\nhidden = 16\ninit = \"random\"\n",
        "[intermediate]\nobjective = \"mi\"\nalpha = 0.9\n[student]\nlayers = 2\nhidden = 16\ninit = \"random\"\n",
        "[intermediate]\nobjective = \"mi\"\nalpha = 0.0\ncritic = \"mlp\"\nmapping = \"emd\"\n[student]\nlayers = 2\nhidden = 32\n",
    ];
    for text in pipelines {
        let first = distill(&job(&f, text), &dev, &mut |_| {}).unwrap();
        assert!(first.dev.headline().is_finite(), "{text}");
        assert!(first.epochs[0].mean_loss.is_finite(), "{text}");
        let student = load(&first.student_dir, &dev).unwrap();
        assert_eq!(student.config.num_hidden_layers, first.pipeline.student.layers);
        assert!(first.student_dir.join("pipeline.toml").is_file());
    }
    // the same pipeline again: cache hit, same numbers (same seed)
    let text = pipelines[7];
    let mut lines = Vec::new();
    let again = distill(&job(&f, text), &dev, &mut |l| lines.push(l.to_string())).unwrap();
    assert!(again.cache_hit, "{lines:?}");
    assert!(lines.iter().any(|l| l.starts_with("teacher cache hit")));
    let third = distill(&job(&f, text), &dev, &mut |_| {}).unwrap();
    assert_eq!(again.epochs[0].mean_loss, third.epochs[0].mean_loss);
    assert_eq!(again.dev, third.dev);
    // without the cache the teacher runs live: same targets up to f16 rounding, so nearly the same run
    let mut live = job(&f, text);
    live.use_cache = false;
    let live = distill(&live, &dev, &mut |_| {}).unwrap();
    assert!(!live.cache_hit);
    assert!((live.epochs[0].mean_loss - again.epochs[0].mean_loss).abs() < 1e-2, "{} vs {}", live.epochs[0].mean_loss, again.epochs[0].mean_loss);
    // a different max_len is a different cache entry
    let mut other = job(&f, text);
    other.pipeline.train.max_len = Some(12);
    assert!(!distill(&other, &dev, &mut |_| {}).unwrap().cache_hit);
}

#[test]
fn cached_targets_equal_the_live_teacher() {
    let f = fixture();
    let dev = distiller::backend::device(None).unwrap();
    let teacher = load(&f.teacher, &dev).unwrap();
    let rows = load_split(&Task::Glue(GlueTask::Sst2), Split::Train, Some(&f.glue)).unwrap();
    let enc = TextEncoder::from_model_dir(&f.teacher, 16).unwrap();
    let encoded = enc.encode_all(&rows).unwrap();
    let pipeline: Pipeline = toml::from_str("[intermediate]\nobjective = \"att_mse\"\nfeature = \"attention\"\n[student]\nlayers = 2\n").unwrap();
    let mut spec = cache_spec(&pipeline, 3);
    spec.hidden_layers = vec![0, 2, 3];
    let cache = TeacherCache::build("k".into(), &teacher.model, &encoded, spec, 0, &dev);
    let path = f.workspace.join("c.bin");
    cache.save(&path).unwrap();
    let cache = TeacherCache::load(&path, "k").unwrap();
    assert!(TeacherCache::load(&path, "other").err().unwrap().to_string().contains("key mismatch"));
    let batch = HostBatch::pad(&encoded, &[3, 0, 7], 0);
    let cached = cache.targets(&batch, &dev);
    let live = TeacherTargets::from_outputs(teacher.model.forward(&BertInput::from_host(&batch, &dev), true), &[0, 1, 2, 3]);
    let close = |a: Vec<f32>, b: Vec<f32>| {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() <= 2e-3 * (1.0 + y.abs()), "{x} vs {y}");
        }
    };
    close(to_host(cached.logits.clone()), to_host(live.logits.clone()));
    // compare real tokens only: zero the live tensors at padding the same way the cache does
    let mask = BertInput::from_host(&batch, &dev).mask;
    for layer in [0, 2, 3] {
        let live_h = live.hidden[&layer].clone() * mask.clone().unsqueeze_dim::<3>(2);
        close(to_host(cached.hidden[&layer].clone()), to_host(live_h));
    }
    assert_eq!(cached.attentions.keys().copied().collect::<Vec<_>>(), vec![1, 3]);
    for layer in cached.attentions.keys() {
        let pm = mask.clone().reshape([batch.rows, 1, batch.width, 1]) * mask.clone().reshape([batch.rows, 1, 1, batch.width]);
        close(to_host(cached.attentions[layer].clone()), to_host(live.attentions[layer].clone() * pm));
    }
    // a corrupt file is an error, not a panic
    std::fs::write(&path, b"DSTLTC01garbage").unwrap();
    assert!(TeacherCache::load(&path, "k").err().unwrap().to_string().contains("teacher cache"));
}

#[test]
fn divergence_stops_the_run_without_a_checkpoint() {
    let f = fixture();
    let dev = distiller::backend::device(None).unwrap();
    let mut j = job(&f, "[kd]\nloss = \"mse\"\ntemperature = 0.001\n");
    j.pipeline.train.lr = 1e12;
    j.pipeline.train.warmup_ratio = 0.0;
    j.out_dir = Some(f.workspace.join("diverged"));
    let e = distill(&j, &dev, &mut |_| {}).unwrap_err();
    assert!(matches!(e, distiller::Error::Diverged(_)), "{e}");
    assert!(!Path::new(&f.workspace.join("diverged")).exists());
}
