//! Fine-tuning: learns a learnable toy task, is reproducible for a seed, and the real-data
//! teacher smoke run works end to end when MiniLM and GLUE are present.

use crate::common;

use distiller::data::{Example, GlueTask, Label, LabelKind, MetricKind, Task, TextEncoder, encode_split};
use distiller::model::{BertConfig, Pooling};
use distiller::teacher::{TeacherJob, TeacherReport, train_teacher, tune_teacher};
use distiller::train::{FineTuneConfig, fine_tune};

fn toy(n: usize, offset: usize) -> Vec<Example> {
    let good = ["great", "good", "fun"];
    let bad = ["bad", "boring", "not good"];
    (0..n)
        .map(|i| {
            let j = i + offset;
            let positive = j.is_multiple_of(2);
            let word = if positive { good[j % 3] } else { bad[j % 3] };
            Example { text_a: format!("the movie is very {word}"), text_b: None, label: Label::Class(positive as usize) }
        })
        .collect()
}

fn run(seed: u64) -> (Vec<f64>, f64) {
    let device = distiller::backend::device(None).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    common::tiny_vocab(tmp.path());
    let enc = TextEncoder::from_model_dir(tmp.path(), 16).unwrap();
    let train = encode_split(&enc, &toy(96, 0)).unwrap();
    let dev = encode_split(&enc, &toy(40, 1)).unwrap();
    let mut config = BertConfig::sized(1, 32, enc.vocab_size(), 2);
    config.num_attention_heads = 2;
    config.intermediate_size = 64;
    let model = config.init(seed, &device);
    let kind = LabelKind::Classification { labels: vec!["0".into(), "1".into()] };
    let ft = FineTuneConfig { epochs: 6, batch_size: 8, lr: 3e-3, seed, ..FineTuneConfig::default() };
    let reports = fine_tune(model, &train, &dev, &kind, MetricKind::Accuracy, 0, &ft, &device, &mut |_, _| Ok(())).unwrap();
    (reports.iter().map(|r| r.mean_loss).collect(), reports.last().unwrap().dev.headline())
}

#[test]
fn fine_tuning_learns_and_is_reproducible() {
    let (losses, accuracy) = run(11);
    assert!(losses.last().unwrap() < &(losses[0] * 0.7), "loss did not fall: {losses:?}");
    assert!(accuracy >= 0.9, "dev accuracy {accuracy}");
    let (again, accuracy_again) = run(11);
    assert_eq!(losses, again, "same seed must give the same run");
    assert_eq!(accuracy, accuracy_again);
}

#[test]
fn teacher_smoke_run_on_sst2() {
    let (Some(glue), Some(_)) = (common::shared_glue(), common::minilm()) else { return };
    let device = distiller::backend::device(None).unwrap();
    let ws = tempfile::tempdir().unwrap();
    let job = TeacherJob {
        task: Task::Glue(GlueTask::Sst2),
        data_dir: Some(glue),
        workspace: distiller::workspace::Workspace::new(ws.path()),
        init: None,
        max_train: Some(512),
        max_len: Some(32),
        train: FineTuneConfig { epochs: 2, batch_size: 16, lr: 1e-4, ..FineTuneConfig::default() },
        adaptive: false,
        seeds: 2,
        fresh_pooler: false,
        pooling: Pooling::Mean,
    };
    let mut notes = Vec::new();
    let outcome = train_teacher(&job, &device, &mut |l| notes.push(l.to_string())).unwrap();
    // A head HF transformers cannot express is said so where it is chosen.
    assert!(notes.iter().any(|l| l.starts_with("note:") && l.contains("bert-mean-pooling")), "{notes:?}");
    // 512 rows are enough for the pretrained encoder to beat chance on SST-2 dev (50.9 % majority)
    assert!(outcome.best.dev.headline() > 0.7, "{}", outcome.best.dev);
    let loaded = distiller::model::load(&outcome.dir, &device).unwrap();
    assert_eq!(loaded.meta.unwrap().dev_metrics.unwrap(), outcome.best.dev);
    // The head reads the token mean, as asked, and the checkpoint says so.
    assert_eq!((loaded.config.classifier_pooling, outcome.report.pooling), (Pooling::Mean, Pooling::Mean));
    // Both seeds ran; the better one on dev is kept, and the report beside it says so.
    let report = TeacherReport::read(&outcome.dir).unwrap().unwrap();
    assert_eq!(report, outcome.report);
    assert_eq!(report.seeds.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [42, 43]);
    let top = report.seeds.iter().map(|(_, d)| *d).fold(f64::MIN, f64::max);
    assert_eq!((report.dev.headline(), report.recipe.seed), (top, report.seeds.iter().find(|(_, d)| *d == top).unwrap().0));
    assert!((report.mean - (report.seeds[0].1 + report.seeds[1].1) / 2.0).abs() < 1e-12);
    assert!(!ws.path().join("teachers/sst2.seed-43").exists(), "the other seed's checkpoint is not left behind");
}

#[test]
fn adaptive_epochs_give_a_small_training_set_enough_steps() {
    use distiller::teacher::{MIN_STEPS, adaptive_epochs};
    assert_eq!(adaptive_epochs(3, 67_349, 32), 3, "SST-2 is large enough");
    let small = adaptive_epochs(3, 2_500, 32);
    assert!(small * 2_500usize.div_ceil(32) >= MIN_STEPS && (small - 1) * 2_500usize.div_ceil(32) < MIN_STEPS, "{small} epochs");
    assert_eq!(adaptive_epochs(3, 10, 32), distiller::teacher::MAX_ADAPTIVE_EPOCHS, "capped");
    assert_eq!(adaptive_epochs(30, 10, 32), 30, "never fewer epochs than asked");
}

/// `teacher --trials`: a study over the recipe on held-out training rows (a tiny encoder, a
/// 600-row task), then the teacher trained with the best recipe on every row.
#[test]
fn a_teacher_study_tunes_the_recipe_on_held_out_rows_and_trains_with_the_best() {
    let f = common::fixture();
    let glue = f.workspace.parent().unwrap().join("glue-600");
    let mut train = String::from("sentence\tlabel\n");
    let words = ["great", "good", "fun", "bad", "boring", "dull"];
    for i in 0..600 {
        train.push_str(&format!("the movie is very {} \t{}\n", words[i % 6], (i % 6 < 3) as u8));
    }
    common::write(&glue, "SST-2/train.tsv", train.as_bytes());
    common::write(&glue, "SST-2/dev.tsv", b"sentence\tlabel\na great film \t1\nthe plot is boring \t0\nvery fun \t1\nso dull \t0\n");
    let device = distiller::backend::device(None).unwrap();
    let workspace = distiller::workspace::Workspace::new(&f.workspace);
    let storage = distiller::ops::open_store(&workspace, &mut |_| {}).unwrap();
    let job = TeacherJob {
        task: Task::Glue(GlueTask::Sst2),
        data_dir: Some(glue),
        workspace: workspace.clone(),
        init: Some(f.teacher.clone()),
        max_train: None,
        max_len: Some(16),
        train: distiller::teacher::default_recipe(),
        adaptive: true,
        seeds: 1,
        fresh_pooler: false,
        pooling: distiller::model::Pooling::Cls,
    };
    let outcome = tune_teacher(&job, 3, storage.as_ref(), &device, &mut |l| eprintln!("{l}")).unwrap();
    let study = storage.study("teacher-sst2").unwrap().unwrap();
    assert_eq!(study.kind, distiller::store::StudyKind::Teacher);
    let trials = storage.trials("teacher-sst2").unwrap();
    assert_eq!(trials.len(), 3);
    assert!(trials.iter().all(|t| t.state == distiller::store::TrialState::Complete && t.fidelity.unwrap().0 == 540), "each recipe trains on 90 % of the rows");
    let best = distiller::search::study::best_of(&trials).unwrap();
    let recipe = &outcome.report.recipe;
    assert_eq!(
        (recipe.lr, recipe.epochs, recipe.batch_size, recipe.warmup_ratio),
        (best.pipeline.train.lr, best.pipeline.train.epochs, best.pipeline.train.batch_size, best.pipeline.train.warmup_ratio)
    );
    assert_eq!((outcome.report.train_rows, outcome.report.study.as_deref()), (600, Some("teacher-sst2")), "the teacher trains on every row");
    assert!(outcome.dir.join("teacher.json").is_file());
    // The recipe study teaches the recommender nothing about distillation.
    let space = distiller::search::Space::parse(distiller::search::TEACHER_SPACE, "teacher").unwrap();
    let history = distiller::recommend::history::history(storage.as_ref(), &space, None, distiller::recommend::history::Students::Any).unwrap();
    assert!(history.tasks.is_empty() && history.left_out.is_empty(), "the teacher study was read as a past task");
    // `distiller trials` lists a teacher study's recipes, not student pipelines.
    drop(storage);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_distiller")).args(["--workspace"]).arg(&f.workspace).args(["trials", "--study", "teacher-sst2"]).output().unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(table.lines().next().unwrap().ends_with("recipe"), "{table}");
    assert!(table.contains(&format!("lr={:.1e} ep={}", best.pipeline.train.lr, best.pipeline.train.epochs)), "{table}");
    assert!(!table.contains("kd="), "{table}");
}

/// Two layers, width 32, no dropout: runs from the same start are then comparable value by value.
fn dropout_free_tiny() -> BertConfig {
    let mut config = BertConfig::sized(2, 32, 40, 2);
    config.num_attention_heads = 2;
    config.intermediate_size = 64;
    config.hidden_dropout_prob = 0.0;
    config.attention_probs_dropout_prob = 0.0;
    config
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max)
}

/// The fused host AdamW must be burn's AdamW (clip, moments, bias correction, decoupled decay on
/// weights only, per-parameter rate factors): the same model stepped by both for a few steps on
/// the same batches, with one rate for all and with a faster head and layer-wise decay.
#[test]
fn host_adamw_matches_burns_adamw() {
    use burn::module::Module;
    use burn::optim::GradientsParams;
    use distiller::data::HostBatch;
    use distiller::model::BertInput;
    use distiller::train::{AdamW, HostAdamW, RateFactors, task_loss};
    let device = distiller::backend::device(None).unwrap().autodiff();
    let config = dropout_free_tiny();
    let kind = LabelKind::Classification { labels: vec!["0".into(), "1".into()] };
    let rows: Vec<_> = (0..6u32).map(|i| distiller::data::Encoded { ids: vec![2, 5 + i, 9 + 2 * i, 3], type_ids: vec![0; 4] }).collect();
    let batch = HostBatch::pad(&rows, &(0..6).collect::<Vec<_>>(), 0);
    let gold: Vec<Label> = (0..6).map(|i| Label::Class(i % 2)).collect();
    let initial = config.init(3, &device).valid().export();
    let rated = RateFactors::for_module(3.0, 0.5, &config.init(3, &device));
    assert_eq!(rated.layers, config.num_hidden_layers);
    let mut host_runs = Vec::new();
    for rates in [RateFactors::UNIFORM, rated] {
        let mut models = Vec::new();
        // A large gradient-norm bound would hide the clip; 0.05 makes it act on most parameters.
        for optim in [AdamW::Host(HostAdamW::new(0.1, Some(0.05))), AdamW::burn(0.1, Some(0.05))] {
            let mut optim = optim.with_rates(rates);
            let mut model = config.init(3, &device).train();
            for step in 0..4 {
                let loss = task_loss(model.forward(&BertInput::from_host(&batch, &device), false).logits, &gold, &kind);
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                model = optim.step(1e-2 * (step + 1) as f64, model, grads);
            }
            models.push(model.valid().export());
        }
        let (host, burn) = (&models[0], &models[1]);
        for ((name, _, a), ((_, _, b), (_, _, start))) in host.iter().zip(burn.iter().zip(initial.iter())) {
            if name.ends_with("key.bias") {
                continue; // softmax ignores it: its gradient is rounding noise, which Adam normalises
            }
            let (moved, diff) = (max_abs_diff(a, start), max_abs_diff(a, b));
            assert!(diff <= 1e-5 + 1e-3 * moved, "{name}: host and burn AdamW differ by {diff} (moved {moved}, rates {rates:?})");
            assert!(moved > 1e-5, "{name} did not move");
        }
        host_runs.push(models.swap_remove(0));
    }
    // Adam moves a parameter by about its rate a step: the factors must show in how far each moved.
    let moved = |run: usize, name: &str| {
        let i = initial.iter().position(|(n, _, _)| n == name).unwrap();
        max_abs_diff(&host_runs[run][i].2, &initial[i].2)
    };
    let ratio = |name: &str| moved(1, name) / moved(0, name);
    assert!(ratio("classifier.weight") > 2.0, "head factor 3 moved the classifier {}×", ratio("classifier.weight"));
    assert!(ratio("embeddings.word_embeddings.weight") < 0.3, "embeddings at 0.5^3 moved {}×", ratio("embeddings.word_embeddings.weight"));
}

/// A batch split in halves across both cores must train like the whole batch: with dropout off,
/// one step from the same start gives the same parameters split or not.
#[test]
fn split_batches_step_like_the_whole_batch() {
    use burn::module::Module;
    use distiller::data::{HostBatch, Metrics};
    use distiller::model::BertInput;
    use distiller::train::{run_epochs, task_loss};
    let device = distiller::backend::device(None).unwrap();
    let config = dropout_free_tiny();
    let kind = LabelKind::Classification { labels: vec!["0".into(), "1".into()] };
    // Rows of different lengths: each half is padded to its own longest row.
    let rows: Vec<_> = (0..7u32).map(|i| distiller::data::Encoded { ids: (0..3 + i).map(|t| 4 + (t * 7 + i) % 30).collect(), type_ids: vec![0; 3 + i as usize] }).collect();
    let gold: Vec<Label> = (0..7).map(|i| Label::Class(i % 2)).collect();
    let loss = |model: &distiller::model::Bert, batch: &HostBatch, _: u64, device: &burn::tensor::Device| {
        let labels: Vec<Label> = batch.indices.iter().map(|&i| gold[i]).collect();
        task_loss(model.forward(&BertInput::from_host(batch, device), false).logits, &labels, &kind)
    };
    let mut trained = Vec::new();
    // Two threads, so the split path runs whatever machine runs the test.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    for split in [true, false] {
        let ft = FineTuneConfig { epochs: 1, batch_size: 7, lr: 1e-2, weight_decay: 0.0, max_grad_norm: None, split_batches: split, ..FineTuneConfig::default() };
        let (model, reports) = pool.install(|| run_epochs(config.init(5, &device), &rows, 0, &ft, &device, &loss, &mut |_| Metrics(Vec::new()), &mut |_, _| Ok(())).unwrap());
        trained.push((model.valid().export(), reports[0].mean_loss));
    }
    let ((split, split_loss), (whole, whole_loss)) = (&trained[0], &trained[1]);
    assert!((split_loss - whole_loss).abs() < 1e-5, "loss {split_loss} vs {whole_loss}");
    let start = config.init(5, &device).valid().export();
    let mut moved = 0;
    for ((name, _, a), ((_, _, b), (_, _, s))) in split.iter().zip(whole.iter().zip(start.iter())) {
        if name.ends_with("key.bias") {
            continue; // softmax ignores it: its gradient is rounding noise, which Adam normalises
        }
        let diff = max_abs_diff(a, b);
        assert!(diff < 1e-5, "{name}: split and whole batch differ by {diff}");
        moved += a.iter().zip(s).filter(|(x, y)| (*x - *y).abs() > 1e-3).count();
    }
    assert!(moved > 1000, "the step moved only {moved} values");
}

/// Dropout masks belong to the (half) batch, not to the thread: a run with dropout gives the same
/// parameters alone and while two copies of it train in the same 2-thread pool.
#[test]
fn dropout_runs_are_reproducible_while_others_train() {
    use distiller::data::Metrics;
    let device = distiller::backend::device(None).unwrap();
    // Wide enough that a half batch's dropout mask and matmuls run as parallel jobs, so workers
    // wait inside a forward pass and steal other halves.
    let mut config = BertConfig::sized(2, 128, 40, 2);
    config.num_attention_heads = 4;
    config.intermediate_size = 256;
    config.max_position_embeddings = 32;
    config.hidden_dropout_prob = 0.2;
    config.attention_probs_dropout_prob = 0.2;
    let kind = LabelKind::Classification { labels: vec!["0".into(), "1".into()] };
    let rows: Vec<_> =
        (0..48u32).map(|i| distiller::data::Encoded { ids: (0..4 + i % 9).map(|t| 4 + (t * 7 + i) % 30).collect(), type_ids: vec![0; 4 + (i % 9) as usize] }).collect();
    let gold: Vec<Label> = (0..48).map(|i| Label::Class(i % 2)).collect();
    let loss = |model: &distiller::model::Bert, batch: &distiller::data::HostBatch, _: u64, device: &burn::tensor::Device| {
        let labels: Vec<Label> = batch.indices.iter().map(|&i| gold[i]).collect();
        distiller::train::task_loss(model.forward(&distiller::model::BertInput::from_host(batch, device), false).logits, &labels, &kind)
    };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let train = |config: &distiller::model::BertConfig| {
        let ft = FineTuneConfig { epochs: 1, batch_size: 16, lr: 1e-3, ..FineTuneConfig::default() };
        let (model, _) =
            pool.install(|| distiller::train::run_epochs(config.init(7, &device), &rows, 0, &ft, &device, &loss, &mut |_| Metrics(Vec::new()), &mut |_, _| Ok(())).unwrap());
        burn::module::Module::valid(&model).export()
    };
    let alone = train(&config);
    // Dropout ran: without it the same run ends elsewhere.
    let without = train(&distiller::model::BertConfig { hidden_dropout_prob: 0.0, attention_probs_dropout_prob: 0.0, ..config.clone() });
    assert!(alone.iter().zip(&without).any(|((_, _, a), (_, _, b))| a != b), "dropout changed nothing");
    let together: Vec<_> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..3).map(|_| s.spawn(|| train(&config))).collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    for run in together {
        assert_eq!(run.len(), alone.len(), "every parameter is compared");
        for ((name, _, a), (_, _, b)) in alone.iter().zip(&run) {
            assert_eq!(a, b, "{name} differs when other runs train at the same time");
        }
    }
}
