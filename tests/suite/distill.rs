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
    f.job(GlueTask::Sst2, &f.teacher, pipeline)
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
    // the same pipeline again: cache hit, same numbers (same seed). The MLP critic: the
    // transformer critic's dropout draws from burn's process-wide generator, which tests running
    // at the same time share (docs/testing.md).
    let text = pipelines[8];
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
    // a corrupt file is an error, not a panic: one byte short, one byte over, garbage
    let whole = std::fs::read(&path).unwrap();
    for damaged in [&whole[..whole.len() - 1], &[whole.as_slice(), &[0]].concat()[..]] {
        std::fs::write(&path, damaged).unwrap();
        assert!(TeacherCache::load(&path, "k").err().unwrap().to_string().contains("truncated or oversized"));
    }
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

#[test]
fn the_teacher_cache_misses_whenever_its_inputs_change() {
    use distiller::model::{BertConfig, save};
    let f = fixture();
    let dev = distiller::backend::device(None).unwrap();
    let base = "[intermediate]\nobjective = \"cos\"\nmapping = \"skip\"\n[student]\nlayers = 2\n";
    let with_rows = |text: &str, rows: usize| {
        let mut j = job(&f, text);
        j.pipeline.train.train_subset = Some(rows);
        j
    };
    let hit = |j: &DistillJob| distill(j, &dev, &mut |_| {}).unwrap().cache_hit;
    assert!(!hit(&job(&f, base)), "a new workspace starts cold");
    assert!(hit(&job(&f, base)), "the same run again hits");
    // Other rows (train_subset), other mapped layers, augmentation: each a different entry.
    assert!(!hit(&with_rows(base, 20)), "train_subset");
    assert!(!hit(&job(&f, &base.replace("mapping = \"skip\"", "mapping = \"last\""))), "mapped layers");
    assert!(!hit(&job(&f, &format!("{base}[augment]\nchain = [\"random\"]\naug_p = 0.3\n"))), "augmentation");
    assert!(hit(&job(&f, base)), "the first entry is still there");
    // The teacher's weights rewritten in place (same folder, same config): a miss.
    let config = BertConfig::from_file(&f.teacher.join("config.json")).unwrap();
    let meta = common::random_checkpoint_meta(GlueTask::Sst2, 16, 2);
    save(&f.teacher, &config.init(2, &dev), &config, &meta, &f.teacher).unwrap();
    assert!(!hit(&job(&f, base)), "new teacher weights");
    assert!(hit(&job(&f, base)));
    // A corrupt entry is rebuilt, not trusted.
    let entries: Vec<_> = std::fs::read_dir(f.workspace.join("cache/teacher")).unwrap().map(|e| e.unwrap().path()).collect();
    for path in &entries {
        std::fs::write(path, b"DSTLTC01 truncated").unwrap();
    }
    let mut lines = Vec::new();
    let rebuilt = distill(&job(&f, base), &dev, &mut |l| lines.push(l.to_string())).unwrap();
    assert!(!rebuilt.cache_hit && lines.iter().any(|l| l.contains("miss, built")), "{lines:?}");
    assert!(hit(&job(&f, base)), "the rebuilt entry is used");
}

#[test]
fn sentence_pair_and_regression_tasks_distil_end_to_end() {
    use distiller::model::{BertConfig, save};
    let f = fixture();
    let dev = distiller::backend::device(None).unwrap();
    let words = ["great", "good", "fun", "bad", "boring", "not good"];
    // MRPC layout: label first, two sentences last; BOM before the header.
    let mut mrpc = String::from("\u{feff}Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n");
    // STS-B layout: ten columns, the score last.
    let mut stsb = String::from("index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n");
    for i in 0..24 {
        let (a, b) = (words[i % 6], words[(i / 2) % 6]);
        mrpc.push_str(&format!("{}\t{i}\t{}\tthe movie is {a}\tthe film is {b}\n", (a == b) as u8, i + 100));
        stsb.push_str(&format!("{i}\tmain\tf\t2012\t{i}\tnone\tnone\tthe movie is {a}\tthe film is {b}\t{}\n", if a == b { 4.5 } else { 1.0 + (i % 3) as f64 }));
    }
    for (dir, text) in [("MRPC", &mrpc), ("STS-B", &stsb)] {
        common::write(&f.glue, &format!("{dir}/train.tsv"), text.as_bytes());
        let dev_rows: String = text.lines().take(9).map(|l| format!("{l}\n")).collect();
        common::write(&f.glue, &format!("{dir}/dev.tsv"), dev_rows.as_bytes());
    }
    // A one-output teacher for the regression task.
    let stsb_teacher = f.workspace.join("stsb-teacher");
    let mut config = BertConfig::sized(4, 32, 20, 1);
    config.num_attention_heads = 4;
    config.intermediate_size = 64;
    config.max_position_embeddings = 64;
    let meta = common::random_checkpoint_meta(GlueTask::Stsb, 24, 3);
    save(&stsb_teacher, &config.init(3, &dev), &config, &meta, &f.teacher).unwrap();
    let pipeline: Pipeline = toml::from_str(
        "[kd]\nloss = \"ce\"\nhard_weight = 0.5\n[intermediate]\nobjective = \"hidden_mse\"\n[student]\nlayers = 2\n[train]\nepochs = 2\nbatch_size = 8\nmax_len = 24\nlr = 1e-3\n",
    )
    .unwrap();
    for (task, teacher, metrics) in [(GlueTask::Mrpc, f.teacher.clone(), ["f1", "accuracy"]), (GlueTask::Stsb, stsb_teacher, ["pearson", "spearman"])] {
        let job = f.job(task, &teacher, pipeline.clone());
        let outcome = distill(&job, &dev, &mut |_| {}).unwrap();
        assert_eq!(outcome.train_rows, 24, "{task:?}");
        assert_eq!(outcome.dev.0.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), metrics, "{task:?}");
        assert!(outcome.epochs.iter().all(|e| e.mean_loss.is_finite() && e.mean_loss > 0.0), "{task:?}: {:?}", outcome.epochs);
        let student = load(&outcome.student_dir, &dev).unwrap();
        assert_eq!(student.config.num_labels, Task::Glue(task).label_kind().num_outputs(), "{task:?}");
    }
}
