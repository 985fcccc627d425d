//! Compression as a user searches for it: a two-objective `search` (score ↑, latency ↓) through
//! the CLI stores each student's size and speed with its trial, `best` gives the Pareto set, the
//! report plots score against latency, and Optuna reads one direction per objective and the same
//! front (`tests/clients/optuna_pareto.py`). Bad students and objectives are one line, exit 2,
//! and store nothing.

use std::path::Path;
use std::process::Command;

use crate::common;

/// Students of 1, 2 and 4 of the fixture teacher's 6 layers, two KD losses: seconds a trial.
const SHAPES: &str = r#"
name = "tiny-compress"
[fixed]
"train.train_subset" = 16
"train.epochs" = 1
"train.batch_size" = 8
"train.max_len" = 16
[[dim]]
field = "student.layers"
values = [1, 2, 4]
[[dim]]
field = "kd.loss"
choices = ["ce", "mse"]
"#;

fn json(out: std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The ids no other complete trial beats in both score and latency, computed here from the
/// stored values.
fn front_of(trials: &[serde_json::Value]) -> Vec<u64> {
    let values: Vec<(u64, f64, f64)> = trials
        .iter()
        .filter(|t| t["state"] == "COMPLETE")
        .map(|t| (t["id"].as_u64().unwrap(), t["score"].as_f64().unwrap(), t["compression"]["student"]["latency_ms_batch1"].as_f64().unwrap()))
        .collect();
    let beats = |a: &(u64, f64, f64), b: &(u64, f64, f64)| a.1 >= b.1 && a.2 <= b.2 && (a.1 > b.1 || a.2 < b.2);
    values.iter().filter(|b| !values.iter().any(|a| beats(a, b))).map(|t| t.0).collect()
}

fn search(f: &common::Fixture, space: &Path, study: &str, storage: Option<&str>) {
    let mut command = f.distiller();
    command.args(["search", "--task", "sst2", "--sampler", "bo", "--trials", "5", "--objectives", "score,latency", "--study", study]);
    command.arg("--space").arg(space).arg("--teacher").arg(&f.teacher);
    if let Some(url) = storage {
        command.args(["--storage", url]);
    }
    let out = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Pareto set of"), "{stdout}");
}

#[test]
fn a_two_objective_search_keeps_each_students_size_and_speed_and_its_pareto_set() {
    let f = common::fixture();
    let space = common::write(f._tmp.path(), "shapes.toml", SHAPES.as_bytes());
    search(&f, &space, "shapes", None);
    let trials = json(f.distiller().args(["trials", "--study", "shapes", "-f", "json"]).output().unwrap());
    let trials = trials.as_array().unwrap();
    assert_eq!(trials.iter().filter(|t| t["state"] == "COMPLETE").count(), 5, "{trials:?}");
    let mut shapes = Vec::new();
    for t in trials {
        let c = &t["compression"];
        let layers = t["pipeline"]["student"]["layers"].as_u64().unwrap();
        let (student, teacher) = (c["student"]["params"].as_u64().unwrap(), c["teacher"]["params"].as_u64().unwrap());
        assert!(student < teacher && c["student"]["params_without_embeddings"].as_u64().unwrap() < student, "{c}");
        assert!(c["student"]["checkpoint_mb"].as_f64().unwrap() > 0.0 && c["threads"].as_u64().unwrap() >= 1, "{c}");
        for side in ["student", "teacher"] {
            for key in ["latency_ms_batch1", "latency_ms_batch32"] {
                assert!(c[side][key].as_f64().unwrap() > 0.0, "{side}.{key}: {c}");
            }
        }
        shapes.push((layers, student));
    }
    // Every encoder layer of the fixture has the same parameters: a student's count falls by
    // one layer's worth per layer it lacks.
    shapes.sort();
    shapes.dedup();
    assert!(shapes.len() >= 2 && shapes.windows(2).all(|w| w[0].0 < w[1].0), "one count per depth, two depths at least: {shapes:?}");
    let per_layer = (shapes[1].1 - shapes[0].1) / (shapes[1].0 - shapes[0].0);
    assert!(per_layer > 0 && shapes.windows(2).all(|w| w[1].1 - w[0].1 == per_layer * (w[1].0 - w[0].0)), "{shapes:?}");
    let best = json(f.distiller().args(["best", "--study", "shapes", "-f", "json"]).output().unwrap());
    let mut ids: Vec<u64> = best.as_array().unwrap().iter().map(|t| t["id"].as_u64().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, front_of(trials), "best gives the Pareto set");
    let table = f.distiller().args(["best", "--study", "shapes"]).output().unwrap();
    assert!(String::from_utf8_lossy(&table.stdout).starts_with("# Pareto set of study shapes (score, latency)"));
    let out = f.distiller().args(["report", "--study", "shapes"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(f.workspace.join("reports/shapes/score_vs_latency.svg").is_file());
    let export = f._tmp.path().join("exported");
    let out = f.distiller().args(["export", "--study", "shapes", "--out"]).arg(&export).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let metrics: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(export.join("metrics.json")).unwrap()).unwrap();
    assert!(metrics["compression"]["student"]["params"].as_u64().unwrap() > 0, "{metrics}");
    // The study keeps its objectives: resumed with others, it is refused.
    let out = f.distiller().args(["search", "--task", "sst2", "--study", "shapes", "--trials", "6"]).arg("--space").arg(&space).arg("--teacher").arg(&f.teacher).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("optimises score,latency"), "{}", String::from_utf8_lossy(&out.stderr));

    // Optuna and optuna-dashboard read the same study from PostgreSQL.
    let Some(url) = crate::storage::test_database() else { return };
    let Some(python) = common::optuna_python() else { return };
    let name = common::fresh("pareto");
    search(&f, &space, &name, Some(&url));
    let trials = json(f.distiller().args(["trials", "--study", &name, "--storage", &url, "-f", "json"]).output().unwrap());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/optuna_pareto.py");
    let seen = json(Command::new(python).arg(script).arg(&url).arg(&name).output().unwrap());
    assert_eq!(seen["directions"], serde_json::json!(["MAXIMIZE", "MINIMIZE"]), "{seen}");
    let front = serde_json::json!(front_of(trials.as_array().unwrap()));
    assert_eq!(seen["best_trials"], front, "{seen}");
    assert_eq!(seen["dashboard_best_trials"], front, "{seen}");
    for attrs in seen["user_attrs"].as_object().unwrap().values() {
        for key in ["params", "params_without_embeddings", "checkpoint_mb", "latency_ms_batch1", "latency_ms_batch32", "teacher_params", "params_ratio", "latency_ratio", "threads"]
        {
            assert!(attrs.as_array().unwrap().iter().any(|a| a == key), "no user attribute {key}: {seen}");
        }
    }
}

#[test]
fn bad_students_and_objectives_are_one_line_and_store_nothing() {
    let f = common::fixture();
    let one_line = |args: &[&str], space: Option<&str>, needles: &[&str]| {
        let mut command = f.distiller();
        command.args(args).arg("--teacher").arg(&f.teacher);
        if let Some(text) = space {
            command.arg("--space").arg(common::write(f._tmp.path(), "space.toml", text.as_bytes()));
        }
        let out = command.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        for needle in needles {
            assert!(err.contains(needle), "{args:?}: `{needle}` not in {err}");
        }
    };
    let search = ["search", "--task", "sst2", "--trials", "2", "--study", "bad"];
    let unknown = "[fixed]\n\"student.init\" = \"pretrained\"\n\"student.checkpoint\" = \"no-such-encoder\"\n\"train.epochs\" = 1\n";
    one_line(&search, Some(unknown), &["student.checkpoint", "no-such-encoder"]);
    let undivided = "[fixed]\n\"student.init\" = \"random\"\n[[dim]]\nfield = \"student.hidden\"\nvalues = [30, 32]\n[[dim]]\nfield = \"student.heads\"\nvalues = [2, 4]\n";
    one_line(&search, Some(undivided), &["space.toml", "student.heads = 4 does not divide student.hidden = 30"]);
    let mut with_objectives = search.to_vec();
    with_objectives.extend(["--objectives", "latency"]);
    one_line(&with_objectives, None, &["--objectives", "score first"]);
    let pipeline = common::write(f._tmp.path(), "p.toml", b"[student]\ninit = \"random\"\nhidden = 30\nheads = 4\n");
    one_line(&["train", "--task", "sst2", "--pipeline", pipeline.to_str().unwrap()], None, &["p.toml", "student.heads", "30"]);
    let shared = common::write(f._tmp.path(), "q.toml", b"[student]\nheads = 4\n");
    one_line(&["train", "--task", "sst2", "--pipeline", shared.to_str().unwrap()], None, &["student.heads", "only a random student"]);
    // Nothing was stored: the store holds no study.
    let out = f.distiller().args(["studies", "-f", "json"]).output().unwrap();
    let studies: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::json!([]));
    assert_eq!(studies, serde_json::json!([]), "{studies}");
}
