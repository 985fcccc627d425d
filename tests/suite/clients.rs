//! The clients users read distiller's output with, run for real: optuna-dashboard's HTTP API and
//! Optuna's analysis on studies `search` made and `import-trials` stored (in PostgreSQL), trials
//! Optuna itself writes into a study, and HF transformers on the models `teacher`, `train` and
//! `export` write. The Python scripts are in tests/clients/; `.ci/run` installs what they import.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common;
use crate::common::{fresh, optuna_python, python_with};
use crate::storage::test_database;

fn distiller(workspace: &Path, data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_distiller"));
    c.arg("--workspace").arg(workspace).arg("--data-dir").arg(data);
    c
}

/// Runs a command that must succeed and returns its stdout as JSON.
fn json_of(command: &mut Command) -> serde_json::Value {
    let out = command.output().unwrap();
    assert!(out.status.success(), "{command:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{command:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients").join(name)
}

/// A seconds-long space with a list-valued dimension (the augmentation chain) and an integer one.
const CHAIN_SPACE: &str = r#"
name = "tiny-chains"
[fixed]
"student.layers" = 2
"train.train_subset" = 16
"train.epochs" = 1
"train.batch_size" = 8
"train.max_len" = 16
[[dim]]
field = "kd.loss"
choices = ["ce", "mse"]
[[dim]]
field = "augment.chain"
choices = [[], ["random"]]
[[dim]]
field = "augment.repeated_aug"
values = [1, 2]
[[dim]]
field = "train.lr"
values = [1e-3, 3e-3]
"#;

#[test]
fn optuna_dashboard_and_analysis_read_a_searched_and_an_imported_study() {
    let Some(url) = test_database() else { return };
    let Some(python) = optuna_python() else { return };
    let Some(glue) = common::shared_glue() else { return };
    let table = glue.join("../autodistiller/auto_distiller_tabular_data.csv");
    let f = common::fixture();
    let space = common::write(f._tmp.path(), "chains.toml", CHAIN_SPACE.as_bytes());

    // (a) a study `search` made, straight into the database.
    let searched = fresh("searched");
    let search = ["search", "--task", "sst2", "--sampler", "random", "--trials", "4", "--study", &searched, "--storage", &url];
    let out = distiller(&f.workspace, &f.glue).args(search).arg("--space").arg(&space).arg("--teacher").arg(&f.teacher).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // (b) the paper's released trials, imported into the workspace's store and copied over.
    let out = distiller(&f.workspace, &f.glue).arg("import-trials").arg(&table).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let imported = fresh("paper-qnli");
    let copy = ["copy-study", "--study", "paper-qnli-BERT_BASE-TinyBERT4", "--to", &url, "--as", &imported];
    let copied = json_of(distiller(&f.workspace, &f.glue).args(copy).args(["-f", "json"]));
    let imported_trials = copied["trials"].as_u64().unwrap();
    assert_eq!(imported_trials, 130, "the paper's QNLI rows for BERT-base → TinyBERT-4: {copied}");

    let seen = json_of(Command::new(python).arg(script("optuna_reads.py")).arg(&url).arg(&searched).arg(&imported));
    for (name, trials, space) in
        [(&searched, 4, distiller::search::Space::parse(CHAIN_SPACE, "chains").unwrap()), (&imported, imported_trials, distiller::search::Space::builtin_paper())]
    {
        let s = &seen[name.as_str()];
        assert_eq!(s["dashboard_trials"], trials, "optuna-dashboard shows every trial of {name}: {s}");
        assert_eq!(s["trials"], trials, "{s}");
        assert_eq!(s["warnings"], serde_json::json!([]), "Optuna reads {name} without a warning: {s}");
        assert_eq!(s["finished_without_end"], 0, "{s}");
        assert_eq!(s["durations"], s["trials"], "every finished trial has a duration: {s}");
        // Every dimension a trial has is a parameter, with an importance in Optuna and in the
        // dashboard (a dimension no trial activated, such as aug_p where no trial augments, has none).
        let fields: Vec<&str> = space.dims.iter().map(|d| d.field.as_str()).collect();
        let params: Vec<&str> = s["params"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
        assert!(params.iter().all(|p| fields.contains(p)), "{params:?}");
        for dim in space.dims.iter().filter(|d| d.when.is_empty()) {
            assert!(params.contains(&dim.field.as_str()), "no parameter for {}: {s}", dim.field);
        }
        assert_eq!(s["importances"], s["params"], "{s}");
        assert_eq!(s["dashboard_importances"], s["params"], "{s}");
        assert_eq!(s["dashboard_params"], s["params"], "{s}");
    }
    assert_eq!(seen[searched.as_str()]["params"], serde_json::json!(["augment.chain", "augment.repeated_aug", "kd.loss", "train.lr"]));
}

#[test]
fn a_trial_optuna_adds_is_a_trial_of_the_study_and_a_foreign_one_is_listed() {
    use distiller::search::samplers::{BoConfig, SamplerKind};
    use distiller::search::{SearchLimits, Space, Study, TrialOutcome};
    use distiller::store::{SledStorage, Storage};
    let Some(url) = test_database() else { return };
    let Some(python) = optuna_python() else { return };
    let name = fresh("optuna-adds");
    let space = Space::parse(CHAIN_SPACE, "chains").unwrap();
    let storage = crate::common::postgres(&url);
    let study = Study::open(&storage, &name, "sst2", space.clone(), "random").unwrap();
    let score = |p: &distiller::Pipeline| {
        let score = 0.5 + p.train.lr * 10.0;
        Ok(TrialOutcome {
            score,
            metrics: distiller::data::Metrics(vec![("accuracy".into(), score)]),
            student_dir: None,
            intermediate: vec![(1, score)],
            fidelity: None,
            compression: None,
        })
    };
    study.run(SamplerKind::Random.build(3, BoConfig::default()).as_mut(), &SearchLimits { trials: 3, budget: None }, &mut |p, _| score(p), &mut |_| {}).unwrap();

    let added = json_of(Command::new(python).arg(script("optuna_adds.py")).arg(&url).arg(&name).arg("0.99"));
    let (id, foreign, running) = (added["added"].as_u64().unwrap(), added["foreign"].as_u64().unwrap(), added["running"].as_u64().unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| json_of(distiller(tmp.path(), tmp.path()).args(args).args(["--storage", &url, "-f", "json"]));

    let best = cli(&["best", "--study", &name]);
    assert_eq!((best["id"].as_u64(), best["score"].as_f64()), (Some(id), Some(0.99)), "`best` sees Optuna's trial: {best}");
    let trials = cli(&["trials", "--study", &name]);
    let trials = trials.as_array().unwrap();
    assert_eq!(trials.len(), 6, "{trials:?}");
    let listed = trials.iter().find(|t| t["id"] == foreign).unwrap();
    assert!(listed["foreign"].as_str().unwrap().contains("dropout"), "the foreign trial says why: {listed}");
    assert_eq!(trials.iter().find(|t| t["id"] == running).unwrap()["state"], "RUNNING");
    let studies = cli(&["studies"]);
    let row = studies.as_array().unwrap().iter().find(|s| s["name"] == name.as_str()).unwrap().clone();
    assert_eq!((row["trials"].as_u64(), row["foreign"].as_u64(), row["best"].as_f64()), (Some(5), Some(1), Some(0.99)), "{row}");

    // A copy carries Optuna's trials and names the one it leaves out.
    let sled = SledStorage::open(&tmp.path().join("store")).unwrap();
    let copied = distiller::store::copy_study(&storage, &name, &sled, &name).unwrap();
    assert_eq!((copied.trials, copied.left_out.iter().map(|t| t.id).collect::<Vec<_>>()), (5, vec![foreign]));
    // The search counts Optuna's trials toward --trials, never runs their pipelines again, and
    // neither fails nor waits for the one Optuna left RUNNING.
    let before: Vec<String> = storage.trials(&name).unwrap().iter().map(|t| serde_json::to_string(&t.point).unwrap()).collect();
    let again = study.run(SamplerKind::Random.build(4, BoConfig::default()).as_mut(), &SearchLimits { trials: 6, budget: None }, &mut |p, _| score(p), &mut |_| {}).unwrap();
    assert_eq!(again.len(), 6, "one new trial joins the five");
    assert!(!before.contains(&serde_json::to_string(&again[5].point).unwrap()), "the new trial is a new point");
    assert_eq!(again.iter().find(|t| t.id == running).unwrap().state, distiller::store::TrialState::Running);
    assert_eq!(storage.foreign_trials(&name).unwrap().len(), 1);
}

/// `distiller eval` on `model` for `task`: its dev metrics, and its logits per dev row.
fn eval(workspace: &Path, glue: &Path, task: &str, model: &Path) -> (serde_json::Value, Vec<Vec<f64>>) {
    let predictions = workspace.join("predictions.jsonl");
    let out = json_of(distiller(workspace, glue).args(["eval", "--task", task, "-f", "json", "--model"]).arg(model).arg("--predictions").arg(&predictions));
    let logits = std::fs::read_to_string(&predictions)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["logits"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect())
        .collect();
    (out["dev"].clone(), logits)
}

/// HF transformers' scores of `model` on `task`'s dev rows, after checking its logits are
/// within 1e-4 of `distiller eval`'s; returns both tools' dev scores.
fn scored_alike(python: &str, workspace: &Path, glue: &Path, task: &str, dev: &str, model: &Path) -> (serde_json::Value, serde_json::Value) {
    let (metrics, ours) = eval(workspace, glue, task, model);
    let hf = json_of(Command::new(python).arg(script("hf_scores.py")).arg(model).arg(task).arg(glue.join(dev)));
    let theirs: Vec<Vec<f64>> = serde_json::from_value(hf["logits"].clone()).unwrap();
    assert_eq!(theirs.len(), ours.len());
    let worst = ours.iter().zip(&theirs).flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs())).fold(0.0, f64::max);
    assert!(worst < 1e-4, "{task}, {}: HF's logits differ from distiller's by up to {worst}", model.display());
    (metrics, hf)
}

#[test]
fn hf_transformers_scores_a_teacher_and_students_as_distiller_eval_does() {
    let Some(glue) = common::shared_glue() else { return };
    let Some(_) = common::minilm() else { return };
    let Some(python) = python_with("torch, transformers") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    let run = |args: &[&str]| {
        let out = distiller(&ws, &glue).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&["teacher", "--task", "sst2", "--max-train", "64", "--epochs", "1"]);
    let teacher = ws.join("teachers/sst2");
    let pipeline = common::write(tmp.path(), "student.toml", b"[student]\nlayers = 2\n[train]\nepochs = 1\ntrain_subset = 64\n");
    let student = tmp.path().join("student");
    run(&["train", "--task", "sst2", "--pipeline", pipeline.to_str().unwrap(), "--out", student.to_str().unwrap()]);
    // A search's student, exported.
    let space = common::write(
        tmp.path(),
        "space.toml",
        b"[fixed]\n\"student.layers\" = 3\n\"train.train_subset\" = 64\n\"train.epochs\" = 1\n[[dim]]\nfield = \"kd.loss\"\nchoices = [\"ce\"]\n",
    );
    run(&["search", "--task", "sst2", "--study", "s", "--trials", "1", "--space", space.to_str().unwrap()]);
    let exported = tmp.path().join("exported");
    run(&["export", "--study", "s", "--out", exported.to_str().unwrap()]);

    for model in [&teacher, &student, &exported] {
        let (ours, theirs) = scored_alike(python, &ws, &glue, "sst2", "SST-2/dev.tsv", model);
        assert_eq!(theirs["accuracy"], ours["accuracy"], "{}", model.display());
    }
    // Sentence pairs (segment ids) and a regression head.
    for (task, dev) in [("mrpc", "MRPC/dev.tsv"), ("stsb", "STS-B/dev.tsv")] {
        run(&["teacher", "--task", task, "--max-train", "64", "--epochs", "1"]);
        scored_alike(python, &ws, &glue, task, dev, &ws.join("teachers").join(task));
    }

    // A mean-pooling head, which HF's BERT classifier cannot express: transformers refuses it.
    let mean = tmp.path().join("mean");
    std::fs::create_dir_all(&mean).unwrap();
    for entry in std::fs::read_dir(&teacher).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), mean.join(entry.file_name())).unwrap();
    }
    let mut config = distiller::model::BertConfig::from_file(&mean.join("config.json")).unwrap();
    config.classifier_pooling = distiller::model::Pooling::Mean;
    std::fs::write(mean.join("config.json"), config.to_hf_json()).unwrap();
    let out: Output = Command::new(python).arg(script("hf_scores.py")).arg(&mean).arg("sst2").arg(glue.join("SST-2/dev.tsv")).output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("bert-mean-pooling"), "{}", String::from_utf8_lossy(&out.stderr));
    eval(&ws, &glue, "sst2", &mean);
}

#[test]
fn studies_older_releases_stored_open_and_optuna_reads_them() {
    use distiller::search::{Domain, Space, Study};
    use distiller::store::{Storage, TrialRecord, TrialState};
    let Some(url) = test_database() else { return };
    let Some(python) = optuna_python() else { return };
    let name = fresh("old-release");
    let space = Space::builtin_paper();
    let storage = crate::common::postgres(&url);
    Study::open(&storage, &name, "sst2", space.clone(), "random").unwrap();
    let given =
        [("intermediate.objective", serde_json::json!("mi")), ("augment.chain", serde_json::json!(["random", "contextual"])), ("augment.repeated_aug", serde_json::json!(4))];
    let point = space.point_of(&given.map(|(f, v)| (f.to_string(), v))).unwrap();
    let trial = TrialRecord {
        id: 0,
        study: name.clone(),
        pipeline: space.compose_unchecked(&point).unwrap(),
        point,
        state: TrialState::Complete,
        rung: 0,
        fidelity: None,
        intermediate: Vec::new(),
        metrics: None,
        score: Some(0.8),
        student_dir: None,
        host: None,
        error: None,
        retry_of: None,
        compression: None,
        external: false,
        pid: 1,
        started: 1_700_000_000,
        ended: None,
    };
    let plain = space.point_of(&[("intermediate.objective".to_string(), serde_json::json!("cos"))]).unwrap();
    let other = TrialRecord { id: 1, pipeline: space.compose_unchecked(&plain).unwrap(), point: plain, score: Some(0.7), ..trial.clone() };
    storage.put_trial(&trial).unwrap();
    storage.put_trial(&other).unwrap();
    // What an older release left: list-valued choices, an integer field's values as floats, a
    // finished trial without an end, no mark of the encoding.
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let study_id: i32 = db.query_one("SELECT study_id FROM studies WHERE study_name = $1", &[&name]).unwrap().get(0);
    for dim in &space.dims {
        let choices = match &dim.domain {
            Domain::Categorical(c) => serde_json::json!(c),
            Domain::Ordered(v) => serde_json::json!(v),
            _ => continue,
        };
        let old = serde_json::json!({"name": "CategoricalDistribution", "attributes": {"choices": choices}}).to_string();
        db.execute(
            "UPDATE trial_params SET distribution_json = $1 WHERE param_name = $2 AND trial_id IN (SELECT trial_id FROM trials WHERE study_id = $3)",
            &[&old, &dim.field, &study_id],
        )
        .unwrap();
    }
    db.execute("UPDATE trials SET datetime_complete = NULL WHERE study_id = $1", &[&study_id]).unwrap();
    db.execute("DELETE FROM study_system_attributes WHERE study_id = $1 AND key = 'distiller:params_encoding'", &[&study_id]).unwrap();
    let lists: i64 = db
        .query_one("SELECT count(*) FROM trial_params p JOIN trials t ON t.trial_id = p.trial_id WHERE t.study_id = $1 AND p.distribution_json LIKE '%[[%'", &[&study_id])
        .unwrap()
        .get(0);
    assert_eq!(lists, 2, "the chains are stored as an older release stored them");

    let reopened = crate::common::postgres(&url);
    assert_eq!(reopened.trials(&name).unwrap(), vec![trial, other], "nothing lost");
    let seen = json_of(Command::new(python).arg(script("optuna_reads.py")).arg(&url).arg(&name));
    let s = &seen[name.as_str()];
    assert_eq!((s["dashboard_trials"].as_u64(), s["finished_without_end"].as_u64()), (Some(2), Some(0)), "{s}");
    assert_eq!(s["warnings"], serde_json::json!([]), "{s}");
}
