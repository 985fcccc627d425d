//! One storage test suite, three engines: memory, sled and PostgreSQL (the last when
//! `$DISTILLER_TEST_PG` names a database; skipped with a message otherwise, failed under CI=true).

use std::path::Path;
use std::time::Duration;

use crate::common::{fresh, optuna_python};
use distiller::data::Metrics;
use distiller::search::samplers::{BoConfig, SamplerKind};
use distiller::search::study::fail_and_requeue;
use distiller::search::{SearchLimits, Space, Study, TrialOutcome};
use distiller::store::{MemoryStorage, NextTrial, SledStorage, Storage, TrialRecord, TrialState};

fn shipped(name: &str) -> Space {
    Space::from_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("search-spaces").join(name)).unwrap()
}

fn tiny() -> Space {
    shipped("tiny.toml")
}

fn scored(p: &distiller::Pipeline) -> distiller::Result<TrialOutcome> {
    let score = 0.5 + p.train.lr.log10() * 0.01 + if p.kd.loss == distiller::pipeline::KdLoss::Ce { 0.1 } else { 0.0 };
    Ok(TrialOutcome {
        score,
        metrics: Metrics(vec![("accuracy".into(), score)]),
        student_dir: None,
        intermediate: vec![(1, score - 0.1), (2, score)],
        fidelity: None,
        compression: None,
    })
}

/// What every engine must do.
fn contract(storage: &dyn Storage) {
    let name = fresh("contract");
    let study = Study::open(storage, &name, "sst2", tiny(), "random").unwrap();
    assert_eq!(storage.study(&name).unwrap().as_ref(), Some(&study.record), "the study reads back as written");
    assert!(storage.studies().unwrap().iter().any(|s| s.name == name));
    assert_eq!(storage.study("no-such-study").unwrap(), None);
    assert!(storage.trials("no-such-study").unwrap().is_empty());

    let mut sampler = SamplerKind::Random.build(3, BoConfig::default());
    let ran = study.run(sampler.as_mut(), &SearchLimits { trials: 4, budget: None }, &mut |p, _| scored(p), &mut |_| {}).unwrap();
    assert_eq!(ran.len(), 4);
    assert_eq!(ran.iter().map(|t| t.id).collect::<Vec<_>>(), [0, 1, 2, 3], "ids are the next free numbers, in order");
    assert!(ran.iter().all(|t| t.state == TrialState::Complete && t.intermediate.len() == 2));
    assert_eq!(storage.trials(&name).unwrap(), ran, "trials read back exactly as written");

    // add_trial: `None` adds nothing; a trial gets the next free id.
    assert_eq!(storage.add_trial(&name, &mut |_| Ok(None)).unwrap(), None);
    let running = storage
        .add_trial(&name, &mut |trials| {
            assert_eq!(trials.len(), 4, "add_trial sees the study's trials");
            let point = tiny().finite_points(100).unwrap().into_iter().find(|p| trials.iter().all(|t| &t.point != p)).unwrap();
            let pipeline = tiny().compose(&point).unwrap();
            Ok(Some(NextTrial::Add(TrialRecord { point, pipeline, state: TrialState::Running, score: None, metrics: None, ended: None, ..trials[0].clone() })))
        })
        .unwrap()
        .unwrap();
    assert_eq!(running.id, 4);
    storage.heartbeat(&name, running.id).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let stale = storage.fail_stale_trials(&name, Duration::ZERO, &fail_and_requeue).unwrap();
    assert_eq!(stale.iter().map(|t| t.id).collect::<Vec<_>>(), [4], "a beat older than the grace makes a trial stale");
    let stored = storage.trials(&name).unwrap();
    assert_eq!(stored[4].state, TrialState::Fail, "the stale trial is stored FAIL");
    assert_eq!((stored[5].state, stored[5].retry_of, &stored[5].point), (TrialState::Waiting, Some(4), &stored[4].point), "its pipeline is queued WAITING");
    assert!(storage.fail_stale_trials(&name, Duration::ZERO, &fail_and_requeue).unwrap().is_empty(), "a failed trial is not failed twice");
    // A trial another worker failed is not overwritten by its own worker's result.
    let mut late = stored[4].clone();
    late.state = TrialState::Complete;
    assert!(!storage.finish_trial(&late).unwrap(), "a trial failed under its worker stays failed");
    assert_eq!(storage.trials(&name).unwrap()[4].state, TrialState::Fail);

    // A resumed study claims the WAITING trial first and does not count the interrupted one.
    let again = study.run(sampler.as_mut(), &SearchLimits { trials: 5, budget: None }, &mut |p, _| scored(p), &mut |_| {}).unwrap();
    assert_eq!(again.len(), 6);
    assert_eq!((again[5].id, again[5].point.clone(), again[5].state), (5, again[4].point.clone(), TrialState::Complete), "the WAITING trial ran, as itself");
    // A re-run whose worker dies too is not queued a third time.
    let mut rerun = again[5].clone();
    rerun.state = TrialState::Running;
    storage.put_trial(&rerun).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(storage.fail_stale_trials(&name, Duration::ZERO, &fail_and_requeue).unwrap().len(), 1);
    assert!(storage.trials(&name).unwrap().iter().all(|t| t.state != TrialState::Waiting), "a failed re-run is not queued again");
}

#[test]
fn memory_storage_passes_the_storage_suite() {
    contract(&MemoryStorage::default());
}

#[test]
fn sled_storage_passes_the_storage_suite() {
    let tmp = tempfile::tempdir().unwrap();
    contract(&SledStorage::open(&tmp.path().join("store")).unwrap());
}

/// The test database, or `None` (with a message) when there is none.
pub fn test_database() -> Option<String> {
    match std::env::var("DISTILLER_TEST_PG").ok().filter(|u| !u.is_empty()) {
        Some(url) => Some(url),
        None => crate::common::skip("$DISTILLER_TEST_PG is unset: set it to postgresql://user@host:port/db to run the PostgreSQL storage tests (.ci/run starts one)"),
    }
}

#[test]
fn postgres_storage_passes_the_storage_suite() {
    let Some(url) = test_database() else { return };
    contract(&crate::common::postgres(&url));
}

#[test]
fn postgres_workers_share_one_study_and_its_trial_cap() {
    let Some(url) = test_database() else { return };
    let name = fresh("workers");
    // The workers open the new study at the same moment: it is created once.
    let start = std::sync::Barrier::new(3);
    std::thread::scope(|scope| {
        for worker in 0..3 {
            let (url, name, start) = (url.clone(), name.clone(), &start);
            scope.spawn(move || {
                let storage = crate::common::postgres(&url);
                start.wait();
                let study = Study::open(&storage, &name, "sst2", shipped("default.toml"), "bo").unwrap();
                let mut sampler = SamplerKind::Bo.build(worker, BoConfig::default());
                let run = |p: &distiller::Pipeline, _| {
                    std::thread::sleep(Duration::from_millis(100));
                    scored(p)
                };
                study.run(sampler.as_mut(), &SearchLimits { trials: 9, budget: None }, &mut { run }, &mut |_| {}).unwrap();
            });
        }
    });
    let trials = crate::common::postgres(&url).trials(&name).unwrap();
    assert_eq!(trials.len(), 9, "--trials caps the study, all workers together");
    assert!(trials.iter().all(|t| t.state == TrialState::Complete), "none left RUNNING");
    let mut seen = std::collections::HashSet::new();
    for t in &trials {
        assert!(seen.insert((serde_json::to_string(&t.point).unwrap(), t.rung)), "trial #{} re-ran a pipeline at rung {}", t.id, t.rung);
    }
}

/// A study copied from one engine to another reads back with the same trials, and a copy never
/// overwrites a study the target has.
fn copies_unchanged(from: &dyn Storage, to: &dyn Storage) {
    let name = fresh("copy");
    let study = Study::open(from, &name, "sst2", tiny(), "random").unwrap();
    let ran = study.run(SamplerKind::Random.build(5, BoConfig::default()).as_mut(), &SearchLimits { trials: 3, budget: None }, &mut |p, _| scored(p), &mut |_| {}).unwrap();
    let copy = format!("{name}-copy");
    assert_eq!(distiller::store::copy_study(from, &name, to, &copy).unwrap().trials, 3);
    let renamed = |t: &TrialRecord| TrialRecord { study: copy.clone(), ..t.clone() };
    assert_eq!(to.trials(&copy).unwrap(), ran.iter().map(renamed).collect::<Vec<_>>());
    assert_eq!(to.study(&copy).unwrap().unwrap().space, study.record.space);
    let e = distiller::store::copy_study(from, &name, to, &copy).unwrap_err().to_string();
    assert!(e.contains("already has a study"), "{e}");
    assert_eq!(to.trials(&copy).unwrap().len(), 3, "the refused copy changed nothing");
    // The copy is a study like any other: a search resumes it there.
    let resumed = Study::open(to, &copy, "sst2", tiny(), "random").unwrap();
    let more = resumed.run(SamplerKind::Random.build(5, BoConfig::default()).as_mut(), &SearchLimits { trials: 4, budget: None }, &mut |p, _| scored(p), &mut |_| {}).unwrap();
    assert_eq!(more.len(), 4);
}

#[test]
fn a_study_copies_from_sled_to_memory_and_resumes_there() {
    let tmp = tempfile::tempdir().unwrap();
    copies_unchanged(&SledStorage::open(&tmp.path().join("store")).unwrap(), &MemoryStorage::default());
}

#[test]
fn a_study_copies_between_sled_and_postgres_both_ways() {
    let Some(url) = test_database() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (sled, pg) = (SledStorage::open(&tmp.path().join("store")).unwrap(), crate::common::postgres(&url));
    copies_unchanged(&sled, &pg);
    copies_unchanged(&pg, &sled);
}

#[test]
fn a_bad_database_url_is_refused_without_its_password() {
    let e = distiller::store::StoreLocation::parse("postgresql://user:secret@host:notaport/db").err().unwrap().to_string();
    assert!(e.contains("not a PostgreSQL URL") && e.contains("user:***@host") && !e.contains("secret"), "{e}");
}

#[test]
fn optuna_load_study_reads_a_distiller_study() {
    let Some(url) = test_database() else { return };
    let Some(python) = optuna_python() else { return };
    let name = fresh("interop");
    let storage = crate::common::postgres(&url);
    let study = Study::open(&storage, &name, "sst2", shipped("default.toml"), "random").unwrap();
    let mut sampler = SamplerKind::Random.build(5, BoConfig::default());
    let mut n = 0;
    let mut run = |p: &distiller::Pipeline, _| {
        n += 1;
        if n == 3 { Err(distiller::Error::Diverged("a failing trial".into())) } else { scored(p) }
    };
    let mut trials = study.run(sampler.as_mut(), &SearchLimits { trials: 5, budget: None }, &mut run, &mut |_| {}).unwrap();
    // A worker that died: its trial FAIL, its pipeline WAITING, as Optuna has them.
    let mut dead = trials[0].clone();
    (dead.id, dead.state) = (5, TrialState::Running);
    storage.put_trial(&dead).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    storage.fail_stale_trials(&name, Duration::ZERO, &fail_and_requeue).unwrap();
    trials = storage.trials(&name).unwrap();
    assert_eq!(trials.last().unwrap().state, TrialState::Waiting);
    let best = distiller::search::study::best_of(&trials).unwrap();
    let script = r#"
import json, sys, optuna
study = optuna.load_study(study_name=sys.argv[2], storage=sys.argv[1])
print(json.dumps({"n": len(study.trials), "states": [t.state.name for t in study.trials], "direction": study.direction.name,
                  "best": study.best_value, "params": study.best_params, "steps": sorted(study.best_trial.intermediate_values)}))
"#;
    let out = std::process::Command::new(python).args(["-c", script, &url, &name]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["n"], 7);
    let states: Vec<String> = trials.iter().map(|t| format!("{:?}", t.state).to_uppercase()).collect();
    assert_eq!(seen["states"], serde_json::json!(states));
    assert_eq!(seen["direction"], "MAXIMIZE");
    assert_eq!(seen["best"].as_f64(), best.score);
    assert_eq!(seen["steps"], serde_json::json!([1, 2]));
    // Optuna's best params are the best trial's active dimensions, each its own value.
    let params = seen["params"].as_object().unwrap();
    let active: Vec<(&distiller::search::Dim, &serde_json::Value)> = study.space.dims.iter().zip(&best.point).filter_map(|(d, v)| v.as_ref().map(|v| (d, v))).collect();
    assert_eq!(params.len(), active.len(), "{params:?}");
    for (dim, value) in active {
        assert_eq!(&params[&dim.field], value, "{}", dim.field);
    }
}

#[test]
fn export_names_the_host_of_a_checkpoint_that_is_not_here() {
    let tmp = tempfile::tempdir().unwrap();
    let workspace = distiller::workspace::Workspace::new(tmp.path().join("ws"));
    let storage = distiller::ops::open_store(&workspace, &mut |_| {}).unwrap();
    let storage = storage.as_ref();
    let study = Study::open(storage, "s", "sst2", tiny(), "random").unwrap();
    let mut sampler = SamplerKind::Random.build(1, BoConfig::default());
    study.run(sampler.as_mut(), &SearchLimits { trials: 1, budget: None }, &mut |p, _| scored(p), &mut |_| {}).unwrap();
    let mut trial = storage.trials("s").unwrap().remove(0);
    trial.host = Some("gpu-box-7".into());
    trial.student_dir = Some("/nonexistent/studies/s/trial-0".into());
    storage.put_trial(&trial).unwrap();
    let request = distiller::ops::ExportRequest { workspace, study: "s".into(), trial: None, out: tmp.path().join("out") };
    let e = distiller::ops::export(&request, &mut |_| {}).unwrap_err().to_string();
    assert!(e.contains("gpu-box-7") && e.contains("/nonexistent/studies/s/trial-0"), "{e}");
}

/// A PostgreSQL server of a test's own, on a free loopback port, which the test may stop and
/// start again; stopped when dropped. `None` (with a message) where the server binaries are not
/// installed.
struct OwnServer {
    dir: tempfile::TempDir,
    bin: std::path::PathBuf,
    port: u16,
}

impl OwnServer {
    fn start() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql").ok().and_then(|versions| versions.flatten().map(|v| v.path().join("bin")).find(|b| b.join("initdb").is_file()));
        let Some(bin) = bin else { return crate::common::skip("PostgreSQL's server binaries are not installed (.ci/run installs them)") };
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        assert!(std::process::Command::new("chown").arg("postgres").arg(dir.path()).status().unwrap().success());
        let server = Self { dir, bin, port };
        // initdb refuses root: the server runs as the `postgres` user.
        assert!(server.as_postgres(&format!("{}/initdb -D {}/data -U postgres -A trust --no-sync", server.bin.display(), server.dir.path().display())), "initdb");
        assert!(server.ctl("start"), "the server starts");
        Some(server)
    }

    fn as_postgres(&self, command: &str) -> bool {
        std::process::Command::new("su").args(["postgres", "-c", command]).stdout(std::process::Stdio::null()).status().is_ok_and(|s| s.success())
    }

    fn ctl(&self, action: &str) -> bool {
        let (bin, dir) = (self.bin.display(), self.dir.path().display());
        let options = format!("-o '-p {} -k {dir} -c listen_addresses=127.0.0.1' -l {dir}/log", self.port);
        self.as_postgres(&format!("{bin}/pg_ctl -D {dir}/data {} -w {action}", if action == "stop" { "-m fast".to_string() } else { options }))
    }

    fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.ctl("stop");
    }
}

#[test]
fn a_search_rides_out_a_database_restart() {
    use std::io::{BufRead, BufReader};
    let Some(server) = OwnServer::start() else { return };
    let f = crate::common::fixture();
    let space = concat!(env!("CARGO_MANIFEST_DIR"), "/search-spaces/tiny.toml");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_distiller"))
        .arg("--workspace")
        .arg(&f.workspace)
        .arg("--data-dir")
        .arg(&f.glue)
        .args(["--storage", &server.url(), "search", "--task", "sst2", "--space", space, "--sampler", "grid", "--trials", "8", "--teacher"])
        .arg(&f.teacher)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen: Vec<String> = lines.by_ref().map_while(Result::ok).take_while(|l| !l.starts_with("trial 3/8")).collect();
    // The database goes away for two seconds while the search runs.
    assert!(server.ctl("stop"), "the server stops");
    std::thread::sleep(Duration::from_secs(2));
    assert!(server.ctl("start"), "the server starts again");
    seen.extend(lines.map_while(Result::ok));
    let status = child.wait().unwrap();
    assert!(status.success(), "{}", seen.join("\n"));
    // Eight complete trials. A trial the restart cut off mid-write may be left behind: then it is
    // FAIL, and its pipeline ran again.
    let trials = crate::common::postgres(&server.url()).trials("sst2").unwrap();
    let complete = trials.iter().filter(|t| t.state == TrialState::Complete).count();
    assert_eq!(complete, 8, "{}", seen.join("\n"));
    assert!(trials.iter().all(|t| matches!(t.state, TrialState::Complete | TrialState::Fail)), "{trials:?}");
    assert!(trials.len() <= 9, "{}", seen.join("\n"));
}
