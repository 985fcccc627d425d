//! `distiller search` as a user runs it: killed mid-trial and restarted, it marks the dead trial
//! FAIL, reuses completed trials and finishes; `trials`, `best`, `studies` print JSON for scripts;
//! `recommend` learns from the study over every field of its space.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const TINY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/search-spaces/tiny.toml");

/// A fixture whose `sst2` study was searched, killed as its second trial started, and resumed:
/// five trials, #1 FAIL (interrupted) and run again as #2. Returns the resumed run's stderr.
fn killed_and_resumed() -> (common::Fixture, String) {
    let f = common::fixture();
    let space = TINY;
    let search_args = ["search", "--task", "sst2", "--space", space, "--sampler", "grid", "--trials", "4", "--teacher"];
    // first run: kill it as soon as its second trial starts
    let mut child = f.distiller().args(search_args).arg(&f.teacher).stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    for line in stderr.lines() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.starts_with("trial 2/4") {
            child.kill().unwrap();
            break;
        }
    }
    assert!(seen.iter().any(|l| l.starts_with("trial 2/4")), "never reached trial 2: {seen:?}");

    // second run, started at once (the killed one not even reaped): the RUNNING trial becomes FAIL
    // and its pipeline runs again (the kill costs no trial), trial #0 is not re-run, the study
    // completes
    let out = f.distiller().args(search_args).arg(&f.teacher).output().unwrap();
    child.wait().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    (f, err.to_string())
}

#[test]
fn a_killed_search_resumes_where_it_stopped() {
    let (f, err) = killed_and_resumed();
    assert!(err.contains("1 trial(s) whose worker stopped were marked FAIL"), "{err}");
    assert_eq!(err.lines().filter(|l| l.starts_with("trial ") && l.contains('/')).count(), 3, "{err}");
    let out = f.distiller().args(["trials", "--study", "sst2", "-f", "json"]).output().unwrap();
    assert!(out.status.success());
    let trials: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let trials = trials.as_array().unwrap();
    assert_eq!(trials.len(), 5);
    let states: Vec<&str> = trials.iter().map(|t| t["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE", "COMPLETE"], "{trials:?}");
    assert!(trials[1]["error"].as_str().unwrap().contains("interrupted"));
    assert_eq!(trials[2]["point"], trials[1]["point"], "the interrupted pipeline ran again, once");
    for t in trials {
        for key in ["id", "study", "point", "pipeline", "state", "fidelity", "intermediate", "metrics", "score", "student_dir", "error", "pid", "started", "ended"] {
            assert!(t.get(key).is_some(), "trial JSON lacks `{key}`: {t}");
        }
    }
}

#[test]
fn best_and_export_give_the_best_trial() {
    let (f, _) = killed_and_resumed();
    let out = f.distiller().args(["best", "--study", "sst2", "-f", "json"]).output().unwrap();
    let best: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(best["state"], "COMPLETE");
    assert!(std::path::Path::new(best["student_dir"].as_str().unwrap()).join("model.safetensors").is_file());
    let out = f.distiller().args(["best", "--study", "sst2"]).output().unwrap();
    let toml_text = String::from_utf8_lossy(&out.stdout);
    let _: distiller::Pipeline = toml::from_str(&toml_text).expect("`best` prints a pipeline file");
    let export = f.workspace.join("exported");
    let out = f.distiller().args(["export", "--study", "sst2", "--out"]).arg(&export).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for file in ["model.safetensors", "config.json", "vocab.txt", "pipeline.toml", "metrics.json"] {
        assert!(export.join(file).is_file(), "export lacks {file}");
    }
    // What was exported is the best trial's: its id, score, pipeline and weights.
    let metrics: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(export.join("metrics.json")).unwrap()).unwrap();
    assert_eq!((&metrics["trial"], &metrics["score"]), (&best["id"], &best["score"]), "{metrics} vs {best}");
    let exported: distiller::Pipeline = toml::from_str(&std::fs::read_to_string(export.join("pipeline.toml")).unwrap()).unwrap();
    assert_eq!(exported, serde_json::from_value::<distiller::Pipeline>(best["pipeline"].clone()).unwrap());
    let best_weights = std::path::Path::new(best["student_dir"].as_str().unwrap()).join("model.safetensors");
    assert_eq!(std::fs::read(export.join("model.safetensors")).unwrap(), std::fs::read(best_weights).unwrap());
    let out = f.distiller().args(["export", "--study", "sst2", "--trial", "1", "--out"]).arg(&export).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("trial #1 is FAIL, not COMPLETE"));
    let out = f.distiller().args(["export", "--study", "nope", "--out"]).arg(&export).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no study `nope` (studies: sst2)"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_study_records_its_context_and_recommend_learns_from_it() {
    let (f, _) = killed_and_resumed();
    let space = TINY;
    let out = f.distiller().args(["studies", "-f", "json"]).output().unwrap();
    let studies: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(studies[0]["name"], "sst2");
    assert_eq!(studies[0]["trials"], 5);

    // The study recorded its task's meta-features, teacher and student.
    assert_eq!(studies[0]["meta"]["n_train"], 24, "{studies}");
    assert_eq!(studies[0]["student"]["layers"], 2, "{studies}");
    assert_eq!(studies[0]["teacher"], "random", "the fixture teacher was initialised at random: {studies}");
    // `recommend` learns from this study, over every field of its space
    let out = f.distiller().args(["meta", "--task", "sst2"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta = f.workspace.join("sst2.meta");
    std::fs::write(&meta, &out.stdout).unwrap();
    let pick = f.workspace.join("pick.toml");
    let out = f.distiller().arg("recommend").arg(&meta).args(["--space", space, "--top", "2", "-f", "json", "--out"]).arg(&pick).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rec: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rec["recommendations"].as_array().unwrap().len(), 2, "{rec}");
    assert_eq!(rec["learnt_from"][0]["study"], "sst2", "{rec}");
    assert_eq!(rec["learnt_from"][0]["fields"].as_array().unwrap().len(), distiller::search::Space::from_file(std::path::Path::new(space)).unwrap().dims.len(), "{rec}");
    let _: distiller::Pipeline = toml::from_str(&std::fs::read_to_string(&pick).unwrap()).expect("the top pick is a pipeline file");
}

#[test]
fn a_warm_started_search_runs_the_recommenders_picks_first() {
    let (f, _) = killed_and_resumed();
    let space = TINY;
    // Another task (the same rows under a task spec) warm-started from this study, through the CLI.
    let spec = common::write(
        &f.workspace,
        "mini.toml",
        format!(
            "name = \"mini\"\ntrain = \"{0}/SST-2/train.tsv\"\ndev = \"{0}/SST-2/dev.tsv\"\ntext = \"sentence\"\nlabel = \"label\"\nlabels = [\"0\", \"1\"]\n",
            f.glue.display()
        )
        .as_bytes(),
    );
    let warm =
        ["--space", space, "--study", "mini", "--trials", "2", "--warm-start", "2", "--warm-diverse", "2", "--acquisition", "thompson", "--budget-minutes", "5", "--teacher"];
    let out = f.distiller().args(["search", "--task"]).arg(&spec).args(warm).arg(&f.teacher).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("warm start: the recommender's top 2 pipelines go first"), "{err}");
    let out = f.distiller().args(["trials", "--study", "mini", "-f", "json"]).output().unwrap();
    let mini: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let points: Vec<&serde_json::Value> = mini.as_array().unwrap().iter().map(|t| &t["point"]).collect();
    assert_eq!(points.len(), 2);
    let differing = points[0].as_array().unwrap().iter().zip(points[1].as_array().unwrap()).filter(|(a, b)| a != b).count();
    assert!(differing >= 2, "--warm-diverse 2: the two warm-start points differ in {differing} fields: {points:?}");
}

#[test]
fn a_spent_budget_starts_no_trial() {
    let f = common::fixture();
    let space = TINY;
    let out = f.distiller().args(["search", "--task", "sst2", "--space", space, "--study", "late", "--budget-minutes", "0", "--teacher"]).arg(&f.teacher).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("study late: 0 trials, none complete"), "{}", String::from_utf8_lossy(&out.stdout));
    let out =
        f.distiller().args(["search", "--task", "sst2", "--space", space, "--study", "late", "--budget-minutes", "0", "-f", "json", "--teacher"]).arg(&f.teacher).output().unwrap();
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((&summary["study"], &summary["trials"], &summary["best"]), (&serde_json::json!("late"), &serde_json::json!(0), &serde_json::Value::Null));
}

#[test]
fn a_study_refuses_another_space_and_stays_as_it_was() {
    let (f, _) = killed_and_resumed();
    let out = f
        .distiller()
        .args(["search", "--task", "sst2", "--space", concat!(env!("CARGO_MANIFEST_DIR"), "/search-spaces/paper.toml"), "--teacher"])
        .arg(&f.teacher)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.lines().count() == 1 && err.contains("different search space"), "one line, nothing before it: {err}");
    let out = f.distiller().args(["trials", "--study", "sst2", "-f", "json"]).output().unwrap();
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap().as_array().unwrap().len(), 5);
}

#[test]
fn train_runs_one_pipeline_from_the_cli() {
    let f = common::fixture();
    let pipeline = common::write(&f.workspace, "p.toml", b"[intermediate]\nobjective = \"cos\"\n[student]\nlayers = 2\n[train]\nepochs = 1\nbatch_size = 8\nmax_len = 16\n");
    let out = f.distiller().args(["train", "--task", "sst2", "--pipeline"]).arg(&pipeline).arg("--teacher").arg(&f.teacher).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.starts_with("sst2 | 2x") && stdout.contains("cache miss") && stdout.contains("runs/sst2-"), "{stdout}");
    assert!(stderr.contains("epoch 1:"), "progress goes to stderr: {stderr}");
    // JSON, a chosen folder, the teacher on every batch.
    let out_dir = f.workspace.join("student");
    let out = f
        .distiller()
        .args(["train", "--task", "sst2", "--no-cache", "-f", "json", "--pipeline"])
        .arg(&pipeline)
        .arg("--teacher")
        .arg(&f.teacher)
        .arg("--out")
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let outcome: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outcome["cache_hit"], false);
    assert_eq!(outcome["student_dir"].as_str().unwrap(), out_dir.to_str().unwrap());
    assert_eq!(outcome["pipeline"]["student"]["layers"], 2);
    assert!(out_dir.join("model.safetensors").is_file() && out_dir.join("outcome.json").is_file());
    // Without a teacher: one line saying how to make one.
    let out = f.distiller().args(["train", "--task", "sst2"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.lines().count() == 1 && err.contains("no teacher checkpoint") && err.contains("distiller teacher --task sst2"), "{err}");
}

#[test]
fn search_without_a_teacher_fine_tunes_one_first() {
    let f = common::fixture();
    let space = TINY;
    // The fixture's tiny checkpoint stands in for the pretrained MiniLM.
    let out = f.distiller().env("DISTILLER_TEACHER_INIT", &f.teacher).args(["search", "--task", "sst2", "--space", space, "--trials", "1"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("no teacher for sst2") && err.contains("fine-tuning one first"), "{err}");
    assert!(err.find("teacher ready").unwrap() < err.find("trial 1/1").unwrap(), "the teacher is made before the first trial: {err}");
    assert!(f.workspace.join("teachers/sst2/model.safetensors").is_file());
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 trials (1 complete)"), "{}", String::from_utf8_lossy(&out.stdout));
    // The next search uses it as it is.
    let out = f.distiller().env("DISTILLER_TEACHER_INIT", "/nonexistent").args(["search", "--task", "sst2", "--space", space, "--trials", "2"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !err.contains("fine-tuning"), "{err}");
}

/// A search whose workspace fills up: each failing trial is recorded or the search stops with one
/// line; what was stored stays readable and no temporary file is left. Needs root to mount a
/// small tmpfs; skipped (saying so) where that is not allowed.
/// Files a failed write left behind (`*.tmp`) under `dir`.
fn leftovers(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            if entry.path().is_dir() {
                stack.push(entry.path());
            } else if entry.file_name().to_string_lossy().ends_with(".tmp") {
                found.push(entry.path());
            }
        }
    }
    found
}

/// The workspace on a disk too small for a student: each trial fails with the disk's error, is
/// recorded FAIL in the store (elsewhere, with room), and the search goes on to its last trial.
#[test]
fn trials_that_fill_the_disk_fail_and_the_search_goes_on() {
    let f = common::fixture();
    if common::mount_tmpfs(&f.workspace, "48k").is_none() {
        return;
    }
    let store = format!("sled:{}", f.workspace.parent().unwrap().join("roomy-store").display());
    let search = ["--storage", &store, "search", "--task", "sst2", "--space", TINY, "--sampler", "grid", "--trials", "3", "--teacher"];
    let out = f.distiller().args(search).arg(&f.teacher).output().unwrap();
    let listed = f.distiller().args(["--storage", &store, "trials", "--study", "sst2", "-f", "json"]).output().unwrap();
    let left = leftovers(&f.workspace);
    let _ = Command::new("umount").arg(&f.workspace).status();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let trials: Vec<serde_json::Value> = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(trials.len(), 3, "{err}");
    for t in &trials {
        assert_eq!(t["state"], "FAIL", "{t}");
        assert!(t["error"].as_str().unwrap().contains("No space left on device"), "{t}");
    }
    assert!(left.is_empty(), "{left:?}");
}

/// The store on a full disk: the search stops with one line and exit 2, and the trial stored
/// before the disk filled is still there once room is made.
#[test]
fn a_store_on_a_full_disk_stops_the_search_and_keeps_what_it_held() {
    let f = common::fixture();
    let disk = f.workspace.parent().unwrap().join("disk");
    if common::mount_tmpfs(&disk, "2m").is_none() {
        return;
    }
    let store = format!("sled:{}", disk.join("store").display());
    let search = |trials: &str| {
        f.distiller()
            .args(["--storage", &store, "search", "--task", "sst2", "--space", TINY, "--sampler", "grid", "--trials", trials, "--teacher"])
            .arg(&f.teacher)
            .output()
            .unwrap()
    };
    let first = search("1");
    // Fill what is left of the disk, then ask for more trials.
    let filler = disk.join("filler");
    let _ = Command::new("dd").arg("if=/dev/zero").arg(format!("of={}", filler.display())).arg("bs=4k").output();
    let full = search("3");
    std::fs::remove_file(&filler).unwrap();
    let listed = f.distiller().args(["--storage", &store, "trials", "--study", "sst2", "-f", "json"]).output().unwrap();
    let _ = Command::new("umount").arg(&disk).status();
    assert_eq!(first.status.code(), Some(0), "{}", String::from_utf8_lossy(&first.stderr));
    let err = String::from_utf8_lossy(&full.stderr);
    assert_eq!(full.status.code(), Some(2), "{err}");
    assert!(err.lines().last().unwrap().starts_with("error: ") && err.contains("No space left on device"), "{err}");
    let trials: Vec<serde_json::Value> = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(trials.len(), 1, "{trials:?}");
    assert_eq!(trials[0]["state"], "COMPLETE");
}

/// `distiller search --storage postgresql://…` started several times: one worker killed (SIGKILL)
/// mid-trial, three more started; after the grace the killed trial is FAIL and another worker runs
/// its pipeline; the study ends with exactly `--trials` counted trials, none RUNNING, no pipeline
/// twice at one rung.
#[test]
fn worker_processes_share_a_postgres_study_and_rerun_a_killed_workers_trial() {
    let Some(url) = crate::storage::test_database() else { return };
    let f = common::fixture();
    let study = format!("procs-{}-{}", std::process::id(), distiller::store::now());
    // tiny.toml with four learning rates: 16 pipelines, room for 9 trials and the re-run.
    let tiny = std::fs::read_to_string(TINY).unwrap();
    let space = common::write(&f.workspace, "space.toml", tiny.replace("values = [1e-3, 3e-3]", "values = [1e-3, 2e-3, 3e-3, 5e-3]").as_bytes());
    let worker = |n: usize| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_distiller"));
        c.arg("--workspace").arg(f.workspace.join(format!("w{n}"))).arg("--data-dir").arg(&f.glue).args(["--storage", &url]);
        c.args(["search", "--task", "sst2", "--study", &study, "--trials", "9", "--heartbeat-secs", "1", "--space"])
            .arg(&space)
            .arg("--seed")
            .arg(n.to_string())
            .arg("--teacher")
            .arg(&f.teacher);
        c
    };
    let mut doomed = worker(0).stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    for line in BufReader::new(doomed.stderr.take().unwrap()).lines() {
        if line.unwrap().starts_with("trial 1/9") {
            doomed.kill().unwrap();
            break;
        }
    }
    doomed.wait().unwrap();
    let others: Vec<_> = (1..4).map(|n| worker(n).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()).collect();
    let logs: Vec<String> = others
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            let log = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(out.status.success(), "{log}");
            log
        })
        .collect();
    assert!(logs.iter().any(|l| l.contains("whose worker stopped were marked FAIL")), "{logs:?}");
    let trials = distiller::store::Storage::trials(&crate::common::postgres(&url), &study).unwrap();
    let interrupted: Vec<_> = trials.iter().filter(|t| t.error.as_deref().is_some_and(|e| e.starts_with("interrupted"))).collect();
    assert_eq!(interrupted.len(), 1, "{trials:?}");
    let counted: Vec<_> = trials.iter().filter(|t| t.state == distiller::store::TrialState::Complete).collect();
    assert_eq!(counted.len(), 9, "--trials caps the study, all workers together: {trials:?}");
    assert!(counted.iter().any(|t| t.point == interrupted[0].point && t.retry_of == Some(interrupted[0].id)), "the killed worker's pipeline ran again, queued as a re-run of it");
    assert_eq!(trials.len(), 10, "nothing else ran, nothing left RUNNING or WAITING");
    let mut seen = std::collections::HashSet::new();
    assert!(counted.iter().all(|t| seen.insert(serde_json::to_string(&t.point).unwrap())), "a pipeline ran twice: {trials:?}");
    let pids: std::collections::HashSet<u32> = counted.iter().map(|t| t.pid).collect();
    assert!(pids.len() >= 2, "the remaining workers shared the trials: {pids:?}");
}
