//! The binary: one-line errors with non-zero exit on bad input, help text.

use crate::common;

use std::process::Command;

fn distiller(args: &[&str], cwd: &std::path::Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_distiller")).args(args).current_dir(cwd).env_remove("DISTILLER_DATA").output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn one_line_error(code: i32, stderr: &str) -> String {
    assert_eq!(code, 2, "stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {stderr}");
    assert!(lines[0].starts_with("error: "));
    lines[0].to_string()
}

#[test]
fn unknown_task_is_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, _, err) = distiller(&["teacher", "--task", "nosuchtask"], tmp.path());
    assert!(one_line_error(code, &err).contains("unknown task `nosuchtask`"));
}

#[test]
fn bad_search_flags_are_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, _, err) = distiller(&["search", "--task", "sst2", "--acquisition", "ucb"], tmp.path());
    let line = one_line_error(code, &err);
    assert!(line.contains("invalid value 'ucb'") && line.contains("ei, thompson"), "{err}");
    let (code, _, err) = distiller(&["search", "--task", "sst2", "--sampler", "annealing"], tmp.path());
    let line = one_line_error(code, &err);
    assert!(line.contains("invalid value 'annealing'") && line.contains("bo, random, grid"), "{err}");
    for command in [&["train", "--task", "sst2"][..], &["studies"], &["trials", "--study", "s"], &["best", "--study", "s"], &["teacher", "--task", "sst2"]] {
        let (code, out, err) = distiller(&[command, &["-f", "jsn"]].concat(), tmp.path());
        let line = one_line_error(code, &err);
        assert!(line.contains("invalid value 'jsn'") && line.contains("table, json"), "{command:?}: {err}");
        assert!(out.is_empty(), "{command:?} printed {out}");
    }
    let (code, _, err) = distiller(&["--backend", "gpu", "studies"], tmp.path());
    assert!(one_line_error(code, &err).contains("flex"), "{err}");
    let (code, _, err) = distiller(&["search", "--task", "sst2", "--budget-minutes=-1"], tmp.path());
    assert!(one_line_error(code, &err).contains("--budget-minutes"), "{err}");
    let (code, _, err) = distiller(&["search", "--task", "sst2", "--sampler", "random", "--acquisition", "ei"], tmp.path());
    assert!(one_line_error(code, &err).contains("--acquisition needs --sampler bo"), "{err}");
}

#[test]
fn missing_data_says_where_it_looked() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (code, _, err) = distiller(&["teacher", "--task", "rte", "--teacher-init", "nowhere", "--data-dir", empty.to_str().unwrap()], tmp.path());
    let line = one_line_error(code, &err);
    assert!(line.contains("no data for task rte") && line.contains(empty.to_str().unwrap()) && line.contains("shared/data/glue"), "{line}");
    assert!(line.contains("download_glue_data.py") && line.contains("--data-dir"), "the line says how to get the data: {line}");
    let (code, _, err) = distiller(&["eval", "--task", "sst2", "--model", "nowhere"], tmp.path());
    assert!(one_line_error(code, &err).contains("nowhere/config.json"));
}

#[test]
fn broken_checkpoint_names_the_tensor() {
    let dev = distiller::backend::device(None).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    common::write(tmp.path(), "glue/SST-2/dev.tsv", b"sentence\tlabel\na great movie \t1\n");
    let mut config = distiller::model::BertConfig::sized(1, 16, 20, 2);
    config.num_attention_heads = 2;
    let model = config.init(1, &dev);
    let ckpt = tmp.path().join("ckpt");
    std::fs::create_dir_all(&ckpt).unwrap();
    common::tiny_vocab(&ckpt);
    std::fs::write(ckpt.join("config.json"), serde_json::to_string(&config).unwrap()).unwrap();
    let mut tensors = model.export();
    tensors.retain(|(n, _, _)| n != "classifier.weight");
    distiller::model::weights::write_safetensors(&ckpt.join("model.safetensors"), &tensors).unwrap();
    let data = tmp.path().join("glue");
    let args = ["eval", "--task", "sst2", "--model", "ckpt", "--data-dir", data.to_str().unwrap()];
    let (code, _, err) = distiller(&args, tmp.path());
    assert!(one_line_error(code, &err).contains("missing tensor `classifier.weight`"));
    // restore the tensor: eval works and prints accuracy as JSON
    distiller::model::weights::write_safetensors(&ckpt.join("model.safetensors"), &model.export()).unwrap();
    let (code, out, err) = distiller(&[&args[..], &["-f", "json"]].concat(), tmp.path());
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["rows"], 1);
    // The same number the library computes for this checkpoint and row.
    use distiller::data::{GlueTask, Split, Task, TextEncoder, encode_split, load_split};
    let task = Task::Glue(GlueTask::Sst2);
    let loaded = distiller::model::load(&ckpt, &dev).unwrap();
    let encoder = TextEncoder::from_model_dir(&ckpt, 64).unwrap();
    let rows = encode_split(&encoder, &load_split(&task, Split::Dev, Some(&data)).unwrap()).unwrap();
    let expected = distiller::train::evaluate(&loaded.model, &rows.encoded, &rows.labels, &task.label_kind(), task.metric(), encoder.pad_id(), &dev);
    assert_eq!(v["dev"]["accuracy"].as_f64().unwrap(), expected.headline(), "{v}");
}

#[test]
fn help_explains_the_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, out, _) = distiller(&["--help"], tmp.path());
    assert_eq!(code, 0);
    // Every command the README lists is in the overview, and explains itself.
    let commands = ["search", "studies", "trials", "best", "export", "report", "teacher", "train", "eval", "import-trials", "rebuild-store", "copy-study", "meta", "recommend"];
    for command in commands {
        assert!(out.lines().any(|l| l.trim_start().starts_with(&format!("{command} "))), "`--help` does not list {command}: {out}");
        let (code, help, _) = distiller(&[command, "--help"], tmp.path());
        assert_eq!(code, 0, "{command} --help");
        assert!(help.contains(&format!("Usage: distiller {command}")) && help.contains("--workspace"), "{command} --help: {help}");
    }
    let (code, out, _) = distiller(&["teacher", "--help"], tmp.path());
    assert_eq!(code, 0);
    assert!(out.contains("--max-train") && out.contains("--epochs") && out.contains("[default: cls]"));
}

#[test]
fn import_trials_then_report_and_bad_report_input() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("trials.csv");
    std::fs::write(
        &csv,
        "Model,Teacher,intermediate_loss_type,alpha,intermediate_strategy,kd_loss_type,mixup,repeated_aug,aug_p,#example,score,task,ratio,baseline_score,contextual,backtranslation,random\n\
         TinyBERT4,BERT_BASE,mi,0.9,skip,ce,TRUE,1,0.3,2490,0.70,rte,0.98,66.8,0,0,1\n\
         TinyBERT4,BERT_BASE,cos,0,last,mse,FALSE,1,0.3,2490,0.66,rte,,66.8,0,0,0\n\
         TinyBERT4,BERT_BASE,pkd,0,middle,mse,FALSE,1,0.3,2490,0.66,rte,,66.8,0,0,0\n",
    )
    .unwrap();
    let (code, out, err) = distiller(&["--workspace", "ws", "import-trials", csv.to_str().unwrap()], tmp.path());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("imported 2 of 3 rows into 1 studies") && out.contains("1 rows could not be mapped"), "{out}");
    assert!(err.contains("not imported: ") && err.contains("trials.csv:4") && err.contains("middle"), "{err}");
    let (code, out, err) = distiller(&["--workspace", "ws", "report", "--study", "paper-rte-BERT_BASE-TinyBERT4", "--page", "html", "--out", "rep"], tmp.path());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("report.html"), "{out}");
    assert!(std::fs::read_to_string(tmp.path().join("rep/report.html")).unwrap().contains("<svg"));
    let (code, _, err) = distiller(&["--workspace", "ws", "report", "--study", "nope"], tmp.path());
    assert!(one_line_error(code, &err).contains("no study `nope`"));
    let (code, _, err) = distiller(&["--workspace", "ws", "report", "--study", "paper-rte-BERT_BASE-TinyBERT4", "--out", csv.join("x").to_str().unwrap()], tmp.path());
    assert!(one_line_error(code, &err).contains("trials.csv"));
    // The study moves to another store; a second copy and a copy onto itself are refused.
    let study = "paper-rte-BERT_BASE-TinyBERT4";
    let (code, out, err) = distiller(&["--workspace", "ws", "copy-study", "--study", study, "--to", "sled:other"], tmp.path());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("copied study") && out.contains("(2 trials)"), "{out}");
    let (code, out, err) = distiller(&["--storage", "sled:other", "trials", "--study", study, "-f", "json"], tmp.path());
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap().as_array().unwrap().len(), 2);
    let (code, _, err) = distiller(&["--workspace", "ws", "copy-study", "--study", study, "--to", "sled:other"], tmp.path());
    assert!(one_line_error(code, &err).contains("already has a study"));
    let (code, _, err) = distiller(&["--workspace", "ws", "copy-study", "--study", study, "--to", "sled:ws/store"], tmp.path());
    assert!(one_line_error(code, &err).contains("is the store the study is in"), "{err}");
}

#[test]
fn meta_and_recommend_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = tmp.path().join("d.meta");
    std::fs::write(&meta, "task_type = \"classification\"\npair = false\nn_train = 10\nn_labels = 2\nlabel_entropy = 0.6\nmean_tokens = 9.0\np90_tokens = 20.0\nvocab_size = 50\ntype_token_ratio = 0.5\n").unwrap();
    let (code, _, err) = distiller(&["--workspace", "ws", "recommend", meta.to_str().unwrap()], tmp.path());
    assert!(one_line_error(code, &err).contains("nothing to learn from"), "{err}");
    std::fs::write(&meta, "task_type = \"classification\"\npair = false\nn_train = \"lots\"\n").unwrap();
    let (code, _, err) = distiller(&["--workspace", "ws", "recommend", meta.to_str().unwrap()], tmp.path());
    assert!(one_line_error(code, &err).contains("d.meta:3"), "{err}");
}

/// Bad numbers, files and options are refused with one line naming what is wrong, before any work.
#[test]
fn bad_values_are_refused_with_one_line_before_any_work() {
    let f = common::fixture();
    let dir = f.workspace.parent().unwrap().to_path_buf();
    let (glue, teacher) = (f.glue.to_str().unwrap(), f.teacher.to_str().unwrap());
    let refused = |args: &[&str], expect: &str| {
        let (code, out, err) = distiller(&[&["--workspace", "ws", "--data-dir", glue], args].concat(), &dir);
        let line = one_line_error(code, &err);
        assert!(line.contains(expect), "{args:?}: {line}");
        assert!(out.is_empty(), "{args:?} printed {out}");
    };
    let teacher_run = |extra: &[&str], expect: &str| refused(&[&["teacher", "--task", "sst2", "--teacher-init", teacher], extra].concat(), expect);
    teacher_run(&["--epochs", "0"], "--epochs must be at least 1");
    teacher_run(&["--lr", "NaN"], "--lr NaN must be a number > 0");
    teacher_run(&["--lr", "-1"], "--lr -1 must be a number > 0");
    teacher_run(&["--batch-size", "0"], "--batch-size must be at least 1");
    teacher_run(&["--max-train", "0"], "--max-train must be at least 1");
    teacher_run(&["--max-len", "600"], "--max-len 600 exceeds the 64 positions");
    teacher_run(&["--warmup", "1.5"], "--warmup 1.5 must be a fraction");
    teacher_run(&["--head-lr-scale", "0"], "--head-lr-scale 0 must be a number > 0");
    teacher_run(&["--layer-decay", "1.5"], "--layer-decay 1.5 must lie in (0, 1]");
    teacher_run(&["--pooling", "max"], "invalid value 'max' for '--pooling <POOLING>' [possible values: cls, mean]");
    teacher_run(&["--seeds", "0"], "--seeds must be at least 1");
    teacher_run(&["--trials", "0"], "--trials must be at least 1");
    teacher_run(&["--trials", "4"], "--trials needs at least 500 training rows to hold out 50 for scoring recipes; task sst2 has 24");
    assert!(!f.workspace.join("teachers").exists(), "nothing was saved");
    for budget in ["-1", "inf", "NaN", "1e300"] {
        refused(&["search", "--task", "sst2", "--budget-minutes", budget], "--budget-minutes");
    }
    refused(&["search", "--task", "sst2", "--trials", "-5"], "--trials");
    refused(&["search", "--task", "sst2", "--seed", "-1"], "--seed");
    refused(&["eval", "--task", "sst2", "--model", teacher, "--max-len", "600"], "--max-len 600 exceeds the 64 positions");
    let pipeline = common::write(&dir, "long.toml", b"[train]\nmax_len = 100\n");
    refused(&["train", "--task", "sst2", "--teacher", teacher, "--pipeline", pipeline.to_str().unwrap()], "pipeline field `train.max_len`: 100 exceeds the teacher's 64 positions");
    for (text, field) in [("[train]\nwarmup_ratio = 5.0\n", "train.warmup_ratio"), ("[train]\nweight_decay = -1.0\n", "train.weight_decay")] {
        let p = common::write(&dir, "p.toml", text.as_bytes());
        refused(&["train", "--task", "sst2", "--teacher", teacher, "--pipeline", p.to_str().unwrap()], field);
    }
    // An explicit data directory that does not exist is not replaced by the default ones.
    let (code, _, err) = distiller(&["--workspace", "ws", "--data-dir", "/nonexistent/glue", "meta", "--task", "sst2"], &dir);
    assert!(one_line_error(code, &err).contains("/nonexistent/glue"), "{err}");
    // A workspace that is a file; a task spec with both labels and scores.
    let file = common::write(&dir, "a-file", b"x");
    let (code, _, err) = distiller(&["--workspace", file.to_str().unwrap(), "studies"], &dir);
    assert!(one_line_error(code, &err).contains("the workspace is not a folder"), "{err}");
    let both = common::write(
        &dir,
        "both.toml",
        format!(
            "name = \"t\"\ntrain = \"{glue}/SST-2/train.tsv\"\ndev = \"{glue}/SST-2/dev.tsv\"\ntext = \"sentence\"\nlabel = \"label\"\nlabels = [\"0\", \"1\"]\nregression = true\n"
        )
        .as_bytes(),
    );
    refused(&["meta", "--task", both.to_str().unwrap()], "both.toml:6: field `labels`");
    // A search whose task has no data here stops before its first trial.
    let nodata = dir.join("no-sst2");
    std::fs::create_dir_all(&nodata).unwrap();
    let (code, _, err) = distiller(&["--workspace", "ws", "--data-dir", nodata.to_str().unwrap(), "search", "--task", "sst2", "--teacher", teacher], &dir);
    assert!(one_line_error(code, &err).contains("no data for task sst2"), "{err}");
    assert!(!dir.join("ws/store").exists(), "nothing was stored");
    // Header-only splits.
    let empty = dir.join("empty-glue");
    common::write(&empty, "SST-2/train.tsv", b"sentence\tlabel\n");
    common::write(&empty, "SST-2/dev.tsv", b"sentence\tlabel\na fine film \t1\n");
    let (code, _, err) = distiller(&["--workspace", "ws", "--data-dir", empty.to_str().unwrap(), "train", "--task", "sst2", "--teacher", teacher], &dir);
    assert!(one_line_error(code, &err).contains("SST-2/train.tsv: no train rows"), "{err}");
    common::write(&empty, "SST-2/train.tsv", b"sentence\tlabel\na fine film \t1\n");
    common::write(&empty, "SST-2/dev.tsv", b"sentence\tlabel\n");
    let (code, _, err) = distiller(&["--workspace", "ws", "--data-dir", empty.to_str().unwrap(), "eval", "--task", "sst2", "--model", teacher], &dir);
    assert!(one_line_error(code, &err).contains("SST-2/dev.tsv: no dev rows"), "{err}");
    // A 1 MB line without a tab: the message quotes a bounded part of it.
    let spec = common::write(&dir, "wide.toml", b"name = \"wide\"\ntrain = \"wide.tsv\"\ndev = \"wide.tsv\"\ntext = \"t\"\nlabel = \"l\"\nlabels = [\"0\", \"1\"]\n");
    common::write(&dir, "wide.tsv", "x".repeat(1 << 20).as_bytes());
    let (code, _, err) = distiller(&["--workspace", "ws", "meta", "--task", spec.to_str().unwrap()], &dir);
    let line = one_line_error(code, &err);
    assert!(line.contains("wide.tsv") && line.len() < 1000, "{} characters", line.len());
}

#[test]
fn meta_files_out_of_range_name_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let good = "task_type = \"classification\"\npair = false\nn_train = 100\nn_labels = 2\nlabel_entropy = 0.6\nmean_tokens = 9.0\np90_tokens = 19.0\nvocab_size = 500\ntype_token_ratio = 0.2\n";
    for (from, to, field) in [
        ("label_entropy = 0.6", "label_entropy = nan", "label_entropy"),
        ("n_labels = 2", "n_labels = 0", "n_labels"),
        ("mean_tokens = 9.0", "mean_tokens = -1.0", "mean_tokens"),
        ("type_token_ratio = 0.2", "type_token_ratio = 3.0", "type_token_ratio"),
    ] {
        let path = common::write(tmp.path(), "d.meta", good.replace(from, to).as_bytes());
        let e = distiller::data::DatasetMeta::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("d.meta:") && e.contains(&format!("field `{field}`")), "{e}");
    }
    let path = common::write(tmp.path(), "d.meta", good.as_bytes());
    distiller::data::DatasetMeta::from_file(&path).unwrap();
}

#[test]
fn a_closed_pipe_ends_the_process_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_distiller"))
        .args(["--workspace", "ws", "studies", "-f", "json"])
        .current_dir(tmp.path())
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
    use std::os::unix::process::ExitStatusExt;
    assert!(out.status.success() || out.status.signal() == Some(13), "{:?}", out.status);
}
