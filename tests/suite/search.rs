//! Search: shipped spaces, samplers on a synthetic objective, failures recorded, storage
//! round-trip and lock, resume, space mismatch, egobox's mixed-integer encoding.

use distiller::Pipeline;
use distiller::data::Metrics;
use distiller::pipeline::{KdLoss, Objective};
use distiller::search::samplers::{BoConfig, SamplerKind};
use distiller::search::{SearchLimits, Space, Study, TrialOutcome};
use distiller::store::{MemoryStorage, SledStorage, Storage, TrialState};
use std::path::Path;

fn shipped(name: &str) -> Space {
    Space::from_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("search-spaces").join(name)).unwrap()
}

#[test]
fn shipped_spaces_parse_and_compose() {
    use rand::SeedableRng;
    for name in ["default.toml", "paper.toml", "tiny.toml", "compress.toml"] {
        let space = shipped(name);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut augmentations = std::collections::HashSet::new();
        for _ in 0..50 {
            let point = distiller::search::samplers::random_valid_point(&space, &mut rng).unwrap();
            let pipeline = space.compose(&point).unwrap();
            pipeline.validate().unwrap();
            let a = &pipeline.augment;
            augmentations.insert((a.chain.len(), a.mixup, (a.aug_p * 10.0) as u32, a.repeated_aug));
        }
        if name == "paper.toml" {
            assert!(augmentations.len() > 8, "the paper space explores chains, aug_p, repeated_aug and mixup: {augmentations:?}");
        }
    }
    assert_eq!(shipped("default.toml").source, distiller::search::DEFAULT_SPACE);
    let e = Space::from_file(Path::new("/nonexistent/space.toml")).unwrap_err().to_string();
    assert!(e.contains("/nonexistent/space.toml"), "{e}");
}

/// Peaks at kd = ce, objective = cos, lr = 1e-3.
fn synthetic(p: &Pipeline) -> f64 {
    let mut s = 0.5;
    if p.kd.loss == KdLoss::Ce {
        s += 0.1;
    }
    if p.intermediate.objective == Objective::Cos {
        s += 0.2;
    }
    s - (p.train.lr.log10() + 3.0).abs() * 0.05
}

fn outcome(score: f64) -> TrialOutcome {
    TrialOutcome { score, metrics: Metrics(vec![("accuracy".into(), score)]), student_dir: None, intermediate: vec![], fidelity: None, compression: None }
}

/// A sampler by its `--sampler` name.
fn by_name(name: &str, seed: u64) -> Box<dyn distiller::search::Sampler> {
    use clap::ValueEnum;
    SamplerKind::from_str(name, true).unwrap().build(seed, BoConfig::default())
}

fn run(sampler: &str, trials: usize, seed: u64) -> (Vec<f64>, usize) {
    run_sampler(by_name(sampler, seed), trials)
}

fn run_sampler(mut s: Box<dyn distiller::search::Sampler>, trials: usize) -> (Vec<f64>, usize) {
    let storage = MemoryStorage::default();
    let study = Study::open(&storage, "s", "sst2", shipped("tiny.toml"), s.name()).unwrap();
    let mut calls = 0;
    let records = study
        .run(
            s.as_mut(),
            &SearchLimits { trials, budget: None },
            &mut |p, _| {
                calls += 1;
                Ok(outcome(synthetic(p)))
            },
            &mut |_| {},
        )
        .unwrap();
    (records.iter().map(|t| t.score.unwrap()).collect(), calls)
}

#[test]
fn samplers_find_the_synthetic_optimum() {
    let best = 0.8;
    // grid: exactly the 8 combinations, then nothing left
    let (scores, calls) = run("grid", 100, 0);
    assert_eq!(calls, 8);
    assert!((scores.iter().cloned().fold(f64::MIN, f64::max) - best).abs() < 1e-9);
    // random and bo: reach the optimum well within 100 trials; same seed, same sequence
    for sampler in ["random", "bo"] {
        let (scores, _) = run(sampler, 12, 3);
        assert!((scores.iter().cloned().fold(f64::MIN, f64::max) - best).abs() < 1e-9, "{sampler}: {scores:?}");
        assert_eq!(scores, run(sampler, 12, 3).0, "{sampler} is not reproducible");
    }
    // Thompson-sampling BO: also finds it and is reproducible per seed
    use distiller::search::Sampler;
    use distiller::search::samplers::{Acquisition, BoSampler, Observation};
    let thompson = BoConfig { acquisition: Acquisition::Thompson, initial: 2, ..BoConfig::default() };
    let scores = run_sampler(Box::new(BoSampler::with_config(3, thompson)), 8).0;
    assert!((scores.iter().cloned().fold(f64::MIN, f64::max) - best).abs() < 1e-9, "thompson: {scores:?}");
    assert_eq!(scores, run_sampler(Box::new(BoSampler::with_config(3, thompson)), 8).0, "thompson is not reproducible");
    // After the same scored history, EI's pick does not depend on the seed; Thompson's draws do.
    let space = shipped("tiny.toml");
    let pool = space.finite_points(100).unwrap();
    let history: Vec<Observation> = pool[..3].iter().map(|p| Observation { point: p.clone(), score: synthetic(&space.compose(p).unwrap()) }).collect();
    let tried: Vec<_> = history.iter().map(|o| o.point.clone()).collect();
    let picks = |config: BoConfig| {
        let mut seen: Vec<_> = (0..20).map(|seed| BoSampler::with_config(seed, config).ask(&space, &tried, &history).unwrap().unwrap()).collect();
        seen.sort_by_key(|p| serde_json::to_string(p).unwrap());
        seen.dedup();
        seen.len()
    };
    assert_eq!(picks(BoConfig { initial: 2, ..BoConfig::default() }), 1, "EI should be deterministic given the history");
    assert!(picks(thompson) > 1, "thompson ignores its seed after the initial design");
}

#[test]
fn failures_are_recorded_and_the_search_goes_on() {
    let storage = MemoryStorage::default();
    let study = Study::open(&storage, "s", "sst2", shipped("tiny.toml"), "grid").unwrap();
    let mut s = by_name("grid", 0);
    let trials = study
        .run(
            s.as_mut(),
            &SearchLimits { trials: 5, budget: None },
            &mut |p, id| match id {
                1 => Err(distiller::Error::Diverged("loss is NaN".into())),
                2 => panic!("dependency exploded"),
                3 => Ok(outcome(f64::NAN)),
                _ => Ok(outcome(synthetic(p))),
            },
            &mut |_| {},
        )
        .unwrap();
    let states: Vec<TrialState> = trials.iter().map(|t| t.state).collect();
    assert_eq!(states, [TrialState::Complete, TrialState::Fail, TrialState::Fail, TrialState::Fail, TrialState::Complete]);
    assert!(trials[1].error.as_deref().unwrap().contains("NaN"));
    assert!(trials[2].error.as_deref().unwrap().contains("dependency exploded"));
    assert!(study.best().unwrap().is_some());
}

#[test]
fn sled_round_trip_lock_resume_and_space_mismatch() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    {
        let storage = SledStorage::open(&dir).unwrap();
        // a second handle on the same store is refused, naming the holder
        let e = SledStorage::open(&dir).err().unwrap().to_string();
        assert!(e.contains(&format!("locked by pid {}", std::process::id())), "{e}");
        let study = Study::open(&storage, "s", "sst2", shipped("tiny.toml"), "random").unwrap();
        let mut s = by_name("random", 1);
        study.run(s.as_mut(), &SearchLimits { trials: 2, budget: None }, &mut |p, _| Ok(outcome(synthetic(p))), &mut |_| {}).unwrap();
        // simulate a process that died mid-trial, on a pipeline not run before
        let ran = storage.trials("s").unwrap();
        let mut dead = ran[1].clone();
        dead.point = shipped("tiny.toml").finite_points(100).unwrap().into_iter().find(|p| ran.iter().all(|t| &t.point != p)).unwrap();
        dead.pipeline = shipped("tiny.toml").compose(&dead.point).unwrap();
        dead.id = 2;
        dead.state = TrialState::Running;
        dead.score = None;
        storage.put_trial(&dead).unwrap();
        // while the store is held, readers get the snapshot the last write left
        let snapshot = distiller::store::sled::read_snapshots(&dir).unwrap();
        assert_eq!(snapshot.trials("s").unwrap(), storage.trials("s").unwrap());
        assert_eq!(snapshot.study("s").unwrap(), storage.study("s").unwrap());
    }
    let storage = SledStorage::open(&dir).unwrap();
    let before = storage.trials("s").unwrap();
    assert_eq!(before.len(), 3);
    let study = Study::open(&storage, "s", "sst2", shipped("tiny.toml"), "random").unwrap();
    assert_eq!(study.recover().unwrap(), 1);
    let mut s = by_name("random", 1);
    let mut calls = 0;
    let after = study
        .run(
            s.as_mut(),
            &SearchLimits { trials: 4, budget: None },
            &mut |p, _| {
                calls += 1;
                Ok(outcome(synthetic(p)))
            },
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(calls, 2, "completed trials are reused; the interrupted one runs again and does not count");
    assert_eq!(after[..2], before[..2]);
    assert_eq!(after[2].state, TrialState::Fail);
    assert!(after[2].error.as_deref().unwrap().contains("interrupted"));
    assert_eq!((after[3].point.clone(), after[3].state), (after[2].point.clone(), TrialState::Complete), "the interrupted pipeline ran again");
    // the same study with another space is refused
    let e = Study::open(&storage, "s", "sst2", shipped("default.toml"), "random").err().unwrap().to_string();
    assert!(e.contains("different search space"), "{e}");
    // ... but the same space with a comment added is the same search
    let commented = Space::parse(&format!("# tried again\n{}", shipped("tiny.toml").source), "commented").unwrap();
    assert!(Study::open(&storage, "s", "sst2", commented, "random").is_ok(), "a comment changed the space");
    let e = Study::open(&storage, "s", "cola", shipped("tiny.toml"), "random").err().unwrap().to_string();
    assert!(e.contains("task sst2"), "{e}");
    // not a store
    let file = tmp.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    assert!(SledStorage::open(&file).err().unwrap().to_string().contains("not a store"));
    std::fs::create_dir_all(tmp.path().join("other")).unwrap();
    std::fs::write(tmp.path().join("other/readme"), b"x").unwrap();
    assert!(SledStorage::open(&tmp.path().join("other")).err().unwrap().to_string().contains("not a distiller store"));
}

#[test]
fn egobox_mixed_encoding_round_trips_several_categoricals() {
    use distiller::search::samplers::bo::{decode, encode, xtypes};
    use egobox_ego::EgorServiceBuilder;
    let space = Space::parse(
        r#"
[[dim]]
field = "kd.loss"
choices = ["ce", "mse", "none"]
[[dim]]
field = "intermediate.mapping"
choices = ["skip", "last", "emd"]
[[dim]]
field = "intermediate.objective"
choices = ["hidden_mse", "cos", "pkd", "mi"]
[[dim]]
field = "kd.temperature"
values = [1.0, 2.0, 4.0]
[[dim]]
field = "train.lr"
range = [1e-5, 1e-3]
log = true
[[dim]]
field = "train.epochs"
int_range = [1, 3]
"#,
        "test space",
    )
    .unwrap();
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let points: Vec<_> = (0..8).map(|_| distiller::search::samplers::random_valid_point(&space, &mut rng).unwrap()).collect();
    for p in &points {
        let back = decode(&space, &encode(&space, p));
        assert_eq!(back[..4], p[..4]);
        assert!((back[4].as_ref().unwrap().as_f64().unwrap() - p[4].as_ref().unwrap().as_f64().unwrap()).abs() < 1e-12);
    }
    // egobox's own suggestion comes back in our discrete encoding, every column in its domain
    let x: Vec<f64> = points.iter().flat_map(|p| encode(&space, p)).collect();
    let x = ndarray::Array2::from_shape_vec((8, 6), x).unwrap();
    let y = ndarray::Array2::from_shape_vec((8, 1), (0..8).map(|i| i as f64).collect()).unwrap();
    let service = EgorServiceBuilder::optimize().configure(|c| c.seed(1)).min_within_mixint_space(&xtypes(&space)).unwrap();
    let s = service.suggest(&x, &y);
    assert_eq!(s.dim(), (1, 6), "one value per variable, not one-hot columns");
    let row = s.row(0);
    for (col, n) in [(0, 3.0), (1, 3.0), (2, 4.0)] {
        assert!(row[col] >= 0.0 && row[col] < n && row[col].fract() == 0.0, "enum column {col}: {}", row[col]);
    }
    assert!([1.0, 2.0, 4.0].contains(&row[3]), "ord column: {}", row[3]);
    assert!(row[4] >= (1e-5f64).ln() - 1e-9 && row[4] <= (1e-3f64).ln() + 1e-9, "float column: {}", row[4]);
    assert!([1.0, 2.0, 3.0].contains(&row[5]), "int column: {}", row[5]);
}

#[test]
fn successive_halving_promotes_the_best_of_each_rung() {
    let space = Space::parse(
        r#"
[fidelity]
field = "train.train_subset"
rungs = [100, 300, 900]
eta = 3
[[dim]]
field = "kd.loss"
choices = ["ce", "mse"]
[[dim]]
field = "train.lr"
values = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3]
"#,
        "test space",
    )
    .unwrap();
    let storage = MemoryStorage::default();
    let study = Study::open(&storage, "s", "sst2", space, "grid").unwrap();
    let mut s = by_name("grid", 0);
    // more data helps a little; the ranking by lr and kd is the same at every budget
    let trials = study
        .run(s.as_mut(), &SearchLimits { trials: 100, budget: None }, &mut |p, _| Ok(outcome(synthetic(p) + p.train.train_subset.unwrap() as f64 * 1e-5)), &mut |_| {})
        .unwrap();
    let at = |r: usize| trials.iter().filter(|t| t.rung == r).count();
    assert_eq!((at(0), at(1), at(2)), (10, 3, 1), "10 points, the best 1/3 promoted twice");
    for t in &trials {
        assert_eq!(t.pipeline.train.train_subset, Some([100, 300, 900][t.rung]));
    }
    let best = study.best().unwrap().unwrap();
    assert_eq!(best.rung, 2);
    assert_eq!(best.pipeline.kd.loss, KdLoss::Ce);
    assert_eq!(best.pipeline.train.lr, 1e-3);
    // promotions wait for enough results: the first rung-1 trial comes after 3 rung-0 ones
    assert_eq!(trials.iter().position(|t| t.rung == 1), Some(3));
}

#[test]
fn successive_halving_of_a_two_objective_study_promotes_by_pareto_rank() {
    use distiller::model::{Compression, Footprint};
    use distiller::store::{StudyObjective, TrialRecord};
    let space = Space::parse(
        "[fidelity]\nfield = \"train.train_subset\"\nrungs = [100, 300]\neta = 3\n[[dim]]\nfield = \"student.layers\"\nvalues = [1, 2, 3, 4, 5, 6]\n[[dim]]\nfield = \"train.lr\"\nvalues = [1e-5, 1e-3]\n",
        "test space",
    )
    .unwrap();
    // Deeper students score higher and cost more; lr 1e-3 adds 0.05 at any depth, so a student
    // with lr 1e-5 is always beaten by the same student with lr 1e-3.
    let run = |p: &Pipeline, _: u64| {
        let layers = p.student.layers;
        let score = 0.1 * layers as f64 + if p.train.lr > 1e-4 { 0.05 } else { 0.0 };
        let footprint = |params| Footprint { params, params_without_embeddings: params, checkpoint_mb: 1.0, latency_ms_batch1: 1.0, latency_ms_batch32: 1.0 };
        Ok(TrialOutcome { compression: Some(Compression { student: footprint(layers * 1_000_000), teacher: footprint(6_000_000), threads: 1 }), ..outcome(score) })
    };
    // Every first-rung trial done, then four promotions.
    let promoted = |objectives: &[StudyObjective]| {
        let storage = MemoryStorage::default();
        let study = Study::open_with(&storage, "s", "sst2", space.clone(), "grid", objectives).unwrap();
        for (id, point) in space.finite_points(100).unwrap().into_iter().enumerate() {
            let pipeline = space.compose_at(&point, 0).unwrap();
            let done = run(&pipeline, 0).unwrap();
            let trial = TrialRecord {
                id: id as u64,
                study: "s".into(),
                point,
                pipeline,
                state: TrialState::Complete,
                rung: 0,
                fidelity: None,
                intermediate: vec![],
                metrics: Some(done.metrics),
                score: Some(done.score),
                student_dir: None,
                host: None,
                error: None,
                retry_of: None,
                compression: done.compression,
                external: false,
                pid: 0,
                started: 0,
                ended: Some(0),
            };
            storage.put_trial(&trial).unwrap();
        }
        let trials = study.run(by_name("grid", 0).as_mut(), &SearchLimits { trials: 16, budget: None }, &mut { run }, &mut |_| {}).unwrap();
        let front: Vec<(usize, f64)> = distiller::search::study::pareto_set(&trials, objectives).iter().map(|t| (t.pipeline.student.layers, t.pipeline.train.lr)).collect();
        (trials.iter().filter(|t| t.rung == 1).map(|t| (t.pipeline.student.layers, t.pipeline.train.lr)).collect::<Vec<_>>(), front)
    };
    // By score alone, the best third holds dominated students; by Pareto rank, the front's best.
    let (by_score, _) = promoted(&[StudyObjective::Score]);
    assert_eq!(by_score, vec![(6, 1e-3), (6, 1e-5), (5, 1e-3), (5, 1e-5)]);
    let (by_rank, front) = promoted(&[StudyObjective::Score, StudyObjective::Params]);
    assert_eq!(by_rank, vec![(6, 1e-3), (5, 1e-3), (4, 1e-3), (3, 1e-3)]);
    assert_eq!(front, vec![(6, 1e-3), (5, 1e-3), (4, 1e-3), (3, 1e-3)], "the front at the top rung, in id order");
}

#[test]
fn successive_halving_with_bo_resumes_after_a_kill_mid_rung() {
    use distiller::store::TrialRecord;
    let space = Space::parse(
        "[fidelity]\nfield = \"train.train_subset\"\nrungs = [100, 300, 900]\neta = 3\n[[dim]]\nfield = \"kd.loss\"\nchoices = [\"ce\", \"mse\"]\n[[dim]]\nfield = \"train.lr\"\nvalues = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3]\n",
        "test space",
    )
    .unwrap();
    let score = |p: &Pipeline| synthetic(p) + p.train.train_subset.unwrap() as f64 * 1e-5;
    let storage = MemoryStorage::default();
    // First process: 5 trials, then killed while running a sixth, first-rung one.
    let study = Study::open(&storage, "s", "sst2", space.clone(), "bo").unwrap();
    study.run(by_name("bo", 4).as_mut(), &SearchLimits { trials: 5, budget: None }, &mut |p, _| Ok(outcome(score(p))), &mut |_| {}).unwrap();
    let before = storage.trials("s").unwrap();
    assert!(before.iter().any(|t| t.rung == 1), "the kill comes after a promotion: {:?}", before.iter().map(|t| t.rung).collect::<Vec<_>>());
    let killed_point = vec![Some(serde_json::json!("mse")), Some(serde_json::json!(1e-5))];
    assert!(before.iter().all(|t| t.point != killed_point), "the killed point is a new one");
    let killed = TrialRecord {
        id: before.len() as u64,
        study: "s".into(),
        pipeline: space.compose_at(&killed_point, 0).unwrap(),
        point: killed_point,
        state: TrialState::Running,
        rung: 0,
        fidelity: None,
        intermediate: vec![],
        metrics: None,
        score: None,
        student_dir: None,
        host: None,
        error: None,
        retry_of: None,
        compression: None,
        external: false,
        pid: 0,
        started: 0,
        ended: None,
    };
    storage.put_trial(&killed).unwrap();
    // Second process: the same command.
    let study = Study::open(&storage, "s", "sst2", space, "bo").unwrap();
    assert_eq!(study.recover().unwrap(), 1);
    let trials = study.run(by_name("bo", 4).as_mut(), &SearchLimits { trials: 100, budget: None }, &mut |p, _| Ok(outcome(score(p))), &mut |_| {}).unwrap();
    assert_eq!(trials[..before.len()], before[..], "completed trials are kept as they were");
    let complete: Vec<&TrialRecord> = trials.iter().filter(|t| t.state == TrialState::Complete).collect();
    let mut seen = std::collections::HashSet::new();
    for t in &complete {
        assert!(seen.insert((serde_json::to_string(&t.point).unwrap(), t.rung)), "trial #{} re-ran a point at rung {}", t.id, t.rung);
        if t.rung > 0 {
            assert!(complete.iter().any(|u| u.rung == t.rung - 1 && u.point == t.point), "#{} was promoted without a result below", t.id);
        }
    }
    // In the end the best third of each rung ran at the next one (ASHA may have promoted more
    // while the rung was filling).
    for rung in 0..2 {
        let mut here: Vec<&&TrialRecord> = complete.iter().filter(|t| t.rung == rung).collect();
        here.sort_by(|a, b| b.score.unwrap().total_cmp(&a.score.unwrap()));
        for t in here.iter().take(here.len() / 3) {
            assert!(complete.iter().any(|u| u.rung == rung + 1 && u.point == t.point), "#{} is in the best third of rung {rung} but was not promoted", t.id);
        }
    }
    let killed = trials.iter().find(|t| t.state == TrialState::Fail).unwrap();
    assert!(complete.iter().any(|t| t.rung == 0 && t.point == killed.point), "the killed pipeline ran again");
    let best = study.best().unwrap().unwrap();
    assert_eq!((best.rung, best.pipeline.kd.loss, best.pipeline.train.lr), (2, KdLoss::Ce, 1e-3));
}

#[test]
fn warm_start_learns_from_other_tasks_over_the_same_space() {
    use distiller::recommend::{Query, rank};
    use distiller::search::Sampler;
    use distiller::search::samplers::BoSampler;
    let storage = MemoryStorage::default();
    let space = shipped("tiny.toml");
    // What `search --task sst2 --warm-start K` asks the recommender.
    let request = |exclude: &str| Query { top: usize::MAX, exclude_task: Some(exclude.into()), ..Query::new(distiller::data::DatasetMeta::glue("sst2").unwrap(), space.clone()) };
    // Nothing stored yet: a clear error.
    let e = rank(&storage, &request("sst2")).unwrap_err().to_string();
    assert!(e.contains("nothing to learn from"), "{e}");
    // A finished study of another task over the same space.
    let study = Study::open(&storage, "rte-study", "rte", space.clone(), "grid").unwrap();
    let mut grid = by_name("grid", 0);
    study.run(grid.as_mut(), &SearchLimits { trials: 100, budget: None }, &mut |p, _| Ok(outcome(synthetic(p))), &mut |_| {}).unwrap();
    let answer = rank(&storage, &request("sst2")).unwrap();
    assert_eq!(answer.learnt_from.len(), 1);
    let e = rank(&storage, &request("rte")).unwrap_err().to_string();
    assert!(e.contains("nothing to learn from"), "a task never learns from its own study: {e}");
    let points: Vec<_> = answer.picks.iter().take(2).map(|p| p.prediction.point.clone()).collect();
    let best = space.compose(&points[0]).unwrap();
    assert_eq!((best.kd.loss, best.intermediate.objective), (KdLoss::Ce, Objective::Cos), "the best of the other task comes first");
    let mut bo = BoSampler::new(3).warm_started(points.clone());
    assert_eq!(bo.ask(&space, &[], &[]).unwrap().unwrap(), points[0]);
    assert_eq!(bo.ask(&space, &[points[0].clone()], &[]).unwrap().unwrap(), points[1]);
}

/// A smooth objective over the default space with one best pipeline: CE-KD at τ = 2, MI-α 0.9 on
/// the skip mapping, lr 1e-4.
fn synthetic_default(p: &Pipeline) -> f64 {
    use distiller::pipeline::Mapping;
    let mut s = 0.5;
    s += if p.kd.loss == KdLoss::Ce { 0.03 } else { 0.0 };
    s += match p.kd.temperature as i64 {
        2 => 0.02,
        1 => 0.01,
        _ => 0.0,
    };
    let i = &p.intermediate;
    s += match i.objective {
        Objective::Mi => 0.05 - (i.alpha - 0.9).abs() * 0.1,
        Objective::Cos => 0.04,
        Objective::HiddenMse => 0.035,
        Objective::Pkd => 0.02,
        _ => 0.0,
    };
    if i.objective != Objective::None && i.mapping == Mapping::Skip {
        s += 0.015;
    }
    s - (p.train.lr.log10() + 4.0).abs() * 0.04
}

/// Trials a sampler needs on the default space (without its fidelity rungs; each pipeline at
/// most once) to run the best pipeline of [`synthetic_default`].
fn trials_to_best_on_default_space(mut sampler: Box<dyn distiller::search::Sampler>) -> usize {
    let text = distiller::search::DEFAULT_SPACE.split("[fidelity]").next().unwrap();
    let mut space = Space::parse(text, "default space without fidelity").unwrap();
    let points = space.finite_points(usize::MAX).unwrap();
    assert_eq!(points.len(), 390);
    let table: Vec<_> = points.iter().map(|p| (p.clone(), synthetic_default(&space.compose(p).unwrap()))).collect();
    let best = table.iter().map(|(_, s)| *s).fold(f64::MIN, f64::max);
    assert_eq!(table.iter().filter(|(_, s)| *s == best).count(), 1, "one best pipeline");
    space.candidates = Some(points);
    let replay = crate::tabular::harness::replay(sampler.as_mut(), &space, &table, 1).unwrap();
    replay.trials_to(best).unwrap()
}

#[test]
fn bo_finds_the_optimum_of_a_large_space_sooner_than_random() {
    let seeds = 0..5u64;
    let median = |mut v: Vec<usize>| {
        v.sort();
        v[v.len() / 2]
    };
    // 390 pipelines: random needs about half of them on average, BO far fewer.
    let bo: Vec<usize> = seeds.clone().map(|seed| trials_to_best_on_default_space(by_name("bo", seed))).collect();
    let random: Vec<usize> = seeds.map(|seed| trials_to_best_on_default_space(by_name("random", seed))).collect();
    eprintln!("trials to best: bo {bo:?}, random {random:?}");
    assert!(bo.iter().all(|&n| n <= 40), "bo: {bo:?} (random: {random:?})");
    assert!(median(bo.clone()) * 4 <= median(random.clone()), "bo {bo:?} vs random {random:?}");
}

#[test]
fn spaces_refuse_out_of_range_values_and_huge_ranges_are_not_enumerated() {
    let err = |text: &str| Space::parse(text, "s.toml").unwrap_err().to_string();
    let e = err("[fixed]\n\"train.lr\" = 0.0\n[[dim]]\nfield = \"kd.loss\"\nchoices = [\"ce\"]\n");
    assert!(e.contains("s.toml:2") && e.contains("fixed `train.lr`") && e.contains("must be > 0"), "{e}");
    let e = err("[fixed]\n\"kd.temperature\" = \"hot\"\n");
    assert!(e.contains("s.toml:2") && e.contains("kd.temperature"), "{e}");
    let e = err("[[dim]]\nfield = \"intermediate.alpha\"\nvalues = [0.5, 2.0]\n");
    assert!(e.contains("s.toml:2") && e.contains("value 2 is invalid") && e.contains("[0, 1]"), "{e}");
    let e = err("[[dim]]\nfield = \"augment.repeated_aug\"\nint_range = [0, 4]\n");
    assert!(e.contains("augment.repeated_aug") && e.contains("value 0"), "{e}");
    // A 4-billion-value integer range: counted, never listed.
    let space = Space::parse("[[dim]]\nfield = \"train.seed\"\nint_range = [0, 4000000000]\n[[dim]]\nfield = \"kd.loss\"\nchoices = [\"ce\", \"mse\"]\n", "s.toml").unwrap();
    assert_eq!(space.grid_size(), Some(8_000_000_002));
    assert!(space.finite_points(distiller::search::space::POOL_LIMIT).is_none());
    let e = by_name("grid", 0).ask(&space, &[], &[]).unwrap_err().to_string();
    assert!(e.contains("too many to enumerate") && e.contains("train.seed"), "{e}");
    for sampler in ["random", "bo"] {
        let storage = MemoryStorage::default();
        let study = Study::open(&storage, "s", "sst2", space.clone(), sampler).unwrap();
        let trials = study.run(by_name(sampler, 1).as_mut(), &SearchLimits { trials: 7, budget: None }, &mut |p, _| Ok(outcome(p.train.seed as f64 / 4e9)), &mut |_| {}).unwrap();
        assert_eq!(trials.iter().filter(|t| t.state == TrialState::Complete).count(), 7, "{sampler}: {trials:?}");
        assert!(trials.iter().all(|t| t.pipeline.train.seed <= 4_000_000_000));
    }
}

#[test]
fn readers_never_lock_the_store_and_survive_a_damaged_database() {
    use distiller::workspace::Workspace;
    let tmp = tempfile::tempdir().unwrap();
    let ws = Workspace::new(tmp.path());
    // Nothing stored yet: readers see an empty store and create nothing.
    assert!(distiller::ops::open_store_to_read(&ws, &mut |_| {}).unwrap().studies().unwrap().is_empty());
    assert!(!ws.store_dir().exists());
    {
        let store = distiller::ops::open_store(&ws, &mut |_| {}).unwrap();
        Study::open(store.as_ref(), "s", "sst2", shipped("tiny.toml"), "grid").unwrap();
    }
    let reader = distiller::ops::open_store_to_read(&ws, &mut |_| {}).unwrap();
    // A search can take the store while a reader is reading it.
    let writer = distiller::ops::open_store(&ws, &mut |_| {}).unwrap();
    assert_eq!(reader.studies().unwrap()[0].name, "s");
    drop(writer);
    // A damaged database: readers still show what the snapshots hold.
    std::fs::write(ws.store_dir().join("db"), b"not a sled database").unwrap();
    let mut notes = Vec::new();
    let reader = distiller::ops::open_store_to_read(&ws, &mut |l| notes.push(l.to_string())).unwrap();
    assert_eq!(reader.studies().unwrap().len(), 1, "{notes:?}");
    // A writer gets one line naming the store and the way back, which rebuilds it.
    let e = distiller::ops::open_store(&ws, &mut |_| {}).err().unwrap().to_string();
    assert!(e.contains("store") && e.contains("rebuild-store"), "{e}");
    let rebuilt = distiller::ops::rebuild_store(&ws).unwrap();
    assert_eq!(rebuilt.studies, 1);
    assert!(rebuilt.aside.join("db").is_file(), "the damaged database is kept");
    let store = distiller::ops::open_store(&ws, &mut |_| {}).unwrap();
    assert_eq!(store.study("s").unwrap().unwrap().task, "sst2");
    drop(store);
    assert!(distiller::ops::rebuild_store(&ws).unwrap_err().to_string().contains("nothing to rebuild"));
}
