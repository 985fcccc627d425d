//! The binary: one-line errors with non-zero exit on bad input, help text.

mod common;

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
fn missing_data_says_where_it_looked() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (code, _, err) = distiller(&["teacher", "--task", "rte", "--teacher-init", "nowhere", "--data-dir", empty.to_str().unwrap()], tmp.path());
    let line = one_line_error(code, &err);
    assert!(line.contains("no data for task rte") && line.contains(empty.to_str().unwrap()) && line.contains("shared/data/glue"), "{line}");
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
    assert!(v["dev"]["accuracy"].as_f64().unwrap() >= 0.0);
}

#[test]
fn help_explains_the_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, out, _) = distiller(&["--help"], tmp.path());
    assert_eq!(code, 0);
    assert!(out.contains("teacher") && out.contains("eval"));
    let (code, out, _) = distiller(&["teacher", "--help"], tmp.path());
    assert_eq!(code, 0);
    assert!(out.contains("--max-train") && out.contains("--epochs"));
}
