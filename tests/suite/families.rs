//! Every encoder family against HF transformers (`tests/clients/hf_families.py`): tiny random
//! classifiers of BERT, RoBERTa, ELECTRA, DistilBERT, MPNet and DeBERTa-v3 that HF made and saved (as
//! `model.safetensors` and as `pytorch_model.bin`), read by
//! distiller to the same token ids, hidden states and logits; saved by distiller and read back by
//! HF as the same model; and scored on SST-2 (sentences) and MRPC (pairs) by `distiller eval` as
//! HF scores them, logit by logit.

use std::path::{Path, PathBuf};
use std::process::Command;

use distiller::data::{HostBatch, TextEncoder};
use distiller::model::{BertInput, Family};

use crate::common;

const FAMILIES: [&str; 6] = ["bert", "roberta", "electra", "distilbert", "mpnet", "deberta-v2"];

/// The classifiers the parity test reads, by folder, with their `model_type`: each family, and
/// DeBERTa a second time in v2's shape (absolute positions, segments, own position projections).
const MODELS: [(&str, &str); 7] = [
    ("bert", "bert"),
    ("roberta", "roberta"),
    ("electra", "electra"),
    ("distilbert", "distilbert"),
    ("mpnet", "mpnet"),
    ("deberta-v2", "deberta-v2"),
    ("deberta-v2-separate", "deberta-v2"),
];

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/hf_families.py")
}

/// The binary, with a workspace in `dir` and the GLUE data.
fn distiller(dir: &Path, glue: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_distiller"));
    command.arg("--workspace").arg(dir.join("ws")).arg("--data-dir").arg(glue);
    command
}

/// The classifiers HF made, in a temporary folder, and the Python that made them.
fn made_by_hf() -> Option<(tempfile::TempDir, &'static str)> {
    let python = common::python_with("torch, transformers, tokenizers")?;
    let minilm = common::minilm()?;
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(python).arg(script()).arg("make").arg(dir.path()).arg(minilm.join("vocab.txt")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Some((dir, python))
}

fn floats(value: &serde_json::Value) -> Vec<f32> {
    match value {
        serde_json::Value::Array(items) => items.iter().flat_map(floats).collect(),
        v => vec![v.as_f64().unwrap() as f32],
    }
}

fn largest_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// What distiller computes on each case: token ids, logits, and every hidden state at the real
/// tokens (`[state][token][dim]`, flattened).
struct Computed {
    ids: Vec<Vec<u32>>,
    logits: Vec<Vec<f32>>,
    hidden: Vec<Vec<f32>>,
}

/// What distiller computes on the cases HF computed `expected` on.
fn computed(model_dir: &Path, expected: &serde_json::Value) -> Computed {
    let device = distiller::backend::device(None).unwrap();
    let loaded = distiller::model::load(model_dir, &device).unwrap();
    let encoder = TextEncoder::from_model_dir(model_dir, expected["max_len"].as_u64().unwrap() as usize).unwrap();
    let cases = expected["cases"].as_array().unwrap();
    let encoded: Vec<_> = cases.iter().map(|c| encoder.encode(c[0].as_str().unwrap(), c[1].as_str()).unwrap()).collect();
    let batch = HostBatch::pad(&encoded, &(0..cases.len()).collect::<Vec<_>>(), encoder.pad_id());
    let input = BertInput::from_host(&batch, &device);
    let out = loaded.model.forward(&input, false);
    let logits = distiller::model::to_host(out.logits);
    // The logits path (eval's) skips rows the head does not read: the same logits.
    let fast = distiller::model::to_host(loaded.model.logits(&input));
    assert!(largest_difference(&fast, &logits) < 1e-5, "{}: the logits path differs from the full forward", model_dir.display());
    let labels = logits.len() / cases.len();
    let states: Vec<Vec<f32>> = out.hidden.into_iter().map(distiller::model::to_host).collect();
    let [width, d] = [batch.width, states[0].len() / (cases.len() * batch.width)];
    let hidden = (0..cases.len())
        .map(|row| states.iter().flat_map(|s| (0..encoded[row].ids.len()).flat_map(move |t| s[(row * width + t) * d..(row * width + t + 1) * d].to_vec())).collect())
        .collect();
    Computed { ids: encoded.into_iter().map(|e| e.ids).collect(), logits: logits.chunks(labels).map(<[f32]>::to_vec).collect(), hidden }
}

#[test]
fn every_family_reads_as_hf_transformers_computes_it() {
    let Some((dir, _)) = made_by_hf() else { return };
    // Each family as `model.safetensors`, then as the older `pytorch_model.bin`.
    for (family, model_type, model_dir) in MODELS.iter().flat_map(|(f, t)| [(*f, *t, dir.path().join(f)), (*f, *t, dir.path().join(format!("{f}-bin")))]) {
        let expected: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join(format!("{family}.json"))).unwrap()).unwrap();
        assert_eq!(distiller::model::BertConfig::from_file(&model_dir.join("config.json")).unwrap().family, Family::from_model_type(model_type).unwrap());
        let Computed { ids, logits, hidden } = computed(&model_dir, &expected);
        let (mut worst_hidden, mut worst_logit) = (0f32, 0f32);
        for (row, ids) in ids.iter().enumerate() {
            let theirs: Vec<u32> = expected["ids"][row].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
            assert_eq!(ids, &theirs, "{family}: the token ids of case {row}");
            let hidden_diff = largest_difference(&hidden[row], &floats(&expected["hidden"][row]));
            assert!(hidden_diff < 1e-4, "{family}, case {row}: hidden states differ by {hidden_diff}");
            let logit_diff = largest_difference(&logits[row], &floats(&expected["logits"][row]));
            assert!(logit_diff < 1e-4, "{family}, case {row}: logits differ by {logit_diff}");
            (worst_hidden, worst_logit) = (worst_hidden.max(hidden_diff), worst_logit.max(logit_diff));
        }
        // For docs/families.md (`cargo test families -- --nocapture`).
        let file = distiller::model::weights_file(&model_dir).unwrap();
        eprintln!(
            "{family} ({}): {} cases, token ids equal; largest difference from HF: hidden states {worst_hidden:.1e}, logits {worst_logit:.1e}",
            file.file_name().unwrap().to_string_lossy(),
            ids.len()
        );
    }
}

#[test]
fn what_distiller_saves_of_each_family_hf_transformers_reads_as_the_same_model() {
    let Some((dir, python)) = made_by_hf() else { return };
    let device = distiller::backend::device(None).unwrap();
    for family in FAMILIES {
        let from = dir.path().join(family);
        let loaded = distiller::model::load(&from, &device).unwrap();
        let meta = common::random_checkpoint_meta(distiller::data::GlueTask::Sst2, 24, 0);
        let saved = dir.path().join(format!("{family}-saved"));
        distiller::model::save(&saved, &loaded.model, &loaded.config, &meta, &from).unwrap();
        let out = Command::new(python).arg(script()).arg("score").arg(&saved).output().unwrap();
        assert!(out.status.success(), "{family}: HF could not read what distiller saved: {}", String::from_utf8_lossy(&out.stderr));
        let theirs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let ours = computed(&saved, &theirs).logits;
        let diff = largest_difference(&ours.concat(), &floats(&theirs["logits"]));
        assert!(diff < 1e-4, "{family}: HF's logits on distiller's save differ by {diff}");
        assert_eq!(distiller::model::load(&saved, &device).unwrap().config, loaded.config, "{family}: the config reads back as it was");
    }
}

#[test]
fn distiller_eval_scores_each_familys_hf_classifier_on_glue_rows_as_hf_does() {
    let Some(glue) = common::shared_glue() else { return };
    let Some((dir, python)) = made_by_hf() else { return };
    for (task, dev) in [("sst2", "SST-2/dev.tsv"), ("mrpc", "MRPC/dev.tsv")] {
        for family in FAMILIES {
            let model = dir.path().join(family);
            let predictions = dir.path().join(format!("{family}-{task}.jsonl"));
            let out = distiller(dir.path(), &glue).args(["eval", "--task", task, "-f", "json", "--model"]).arg(&model).arg("--predictions").arg(&predictions).output().unwrap();
            assert!(out.status.success(), "{family}, {task}: {}", String::from_utf8_lossy(&out.stderr));
            let ours: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let scores = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/hf_scores.py");
            let hf = Command::new(python).arg(scores).arg(&model).arg(task).arg(glue.join(dev)).arg(&predictions).output().unwrap();
            assert!(hf.status.success(), "{family}, {task}: {}", String::from_utf8_lossy(&hf.stderr));
            let theirs: serde_json::Value = serde_json::from_slice(&hf.stdout).unwrap();
            assert!(theirs["max_abs_diff"].as_f64().unwrap() < 1e-4, "{family}, {task}: {theirs}");
            assert_eq!(ours["dev"]["accuracy"], theirs["accuracy"], "{family}, {task}");
            let (accuracy, diff) = (&ours["dev"]["accuracy"], theirs["max_abs_diff"].as_f64().unwrap());
            eprintln!("{family}: {task} dev ({} rows) accuracy {accuracy} with both, largest logit difference {diff:.1e}", theirs["rows"]);
        }
    }
}

#[test]
fn an_unsupported_model_type_is_one_line_naming_the_supported_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let model = common::write(tmp.path(), "deberta-v1/config.json", br#"{"model_type": "deberta", "hidden_size": 32}"#);
    let out = Command::new(env!("CARGO_BIN_EXE_distiller")).args(["eval", "--task", "sst2", "--model"]).arg(model.parent().unwrap()).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("model_type `deberta` is not supported (supported: bert, roberta, electra, distilbert, mpnet, deberta-v2)"), "{err}");
}

/// A RoBERTa, an MPNet and a DeBERTa classifier HF saved, as teachers: `train` distils a student of the
/// teacher's family from its layers (CE-KD + MI-α) that HF reads as the same model, and a
/// `search` runs its trials.
#[test]
fn a_roberta_an_mpnet_and_a_deberta_teacher_distil_through_train_and_search() {
    let Some(glue) = common::shared_glue() else { return };
    let Some((dir, python)) = made_by_hf() else { return };
    let pipeline = common::write(
        dir.path(),
        "p.toml",
        b"[kd]\nloss = \"ce\"\n[intermediate]\nobjective = \"mi\"\nmapping = \"skip\"\n[student]\nlayers = 1\n[train]\nepochs = 1\ntrain_subset = 64\nmax_len = 24\n",
    );
    let run = |args: &[&str]| {
        let out = distiller(dir.path(), &glue).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for family in ["roberta", "mpnet", "deberta-v2"] {
        let teacher = dir.path().join(family);
        let student = dir.path().join(format!("{family}-student"));
        let (teacher_arg, student_arg, pipeline_arg) = (teacher.to_str().unwrap(), student.to_str().unwrap(), pipeline.to_str().unwrap());
        run(&["train", "--task", "sst2", "--teacher", teacher_arg, "--pipeline", pipeline_arg, "--out", student_arg]);
        let config = distiller::model::BertConfig::from_file(&student.join("config.json")).unwrap();
        assert_eq!((config.family, config.num_hidden_layers), (Family::from_model_type(family).unwrap(), 1));
        let out = Command::new(python).arg(script()).arg("score").arg(&student).output().unwrap();
        assert!(out.status.success(), "{family}: HF could not read the student: {}", String::from_utf8_lossy(&out.stderr));
        let theirs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let diff = largest_difference(&computed(&student, &theirs).logits.concat(), &floats(&theirs["logits"]));
        assert!(diff < 1e-4, "{family}: HF's logits on the student differ by {diff}");
        let space = concat!(env!("CARGO_MANIFEST_DIR"), "/search-spaces/tiny.toml");
        let study = format!("{family}-study");
        run(&["search", "--task", "sst2", "--teacher", teacher_arg, "--space", space, "--sampler", "random", "--trials", "2", "--study", &study]);
        let trials: serde_json::Value = serde_json::from_str(&run(&["trials", "--study", &study, "-f", "json"])).unwrap();
        assert_eq!(trials.as_array().unwrap().iter().filter(|t| t["state"] == "COMPLETE").count(), 2, "{family}: {trials}");
    }
}

#[test]
fn a_pretrained_student_of_another_family_reads_text_through_its_own_tokenizer() {
    let Some(glue) = common::shared_glue() else { return };
    let Some((dir, _)) = made_by_hf() else { return };
    let teacher = dir.path().join("bert");
    let train = |objective: &str, feature: &str, student: &str| {
        let text = format!(
            "[intermediate]\nobjective = \"{objective}\"\nfeature = \"{feature}\"\n[student]\nlayers = 1\ninit = \"pretrained\"\ncheckpoint = \"{}\"\n[train]\nepochs = 1\ntrain_subset = 64\nmax_len = 24\n",
            dir.path().join(student).display()
        );
        let pipeline = common::write(dir.path(), &format!("{objective}-{student}.toml"), text.as_bytes());
        let out = distiller(dir.path(), &glue)
            .args(["train", "--task", "sst2", "--teacher"])
            .arg(&teacher)
            .arg("--pipeline")
            .arg(&pipeline)
            .arg("--out")
            .arg(dir.path().join(format!("out-{objective}-{student}")))
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    // MPNet's WordPiece splits text into BERT's pieces: the hidden states are aligned.
    let (code, err) = train("hidden_mse", "hidden", "mpnet");
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("hidden states aligned by word piece"), "{err}");
    let saved = dir.path().join("out-hidden_mse-mpnet");
    assert_eq!(distiller::model::BertConfig::from_file(&saved.join("config.json")).unwrap().family, Family::from_model_type("mpnet").unwrap());
    assert_eq!(std::fs::read(saved.join("tokenizer.json")).unwrap(), std::fs::read(dir.path().join("mpnet/tokenizer.json")).unwrap(), "the student keeps its own tokenizer");
    // RoBERTa's byte-level BPE does not: refused in one line.
    let (code, err) = train("hidden_mse", "hidden", "roberta");
    assert_eq!((code, err.trim().lines().count()), (Some(2), 1), "{err}");
    assert!(err.contains("student.checkpoint") && err.contains("tokenizer"), "{err}");
    // Attention maps are not aligned; prediction-layer KD needs nothing.
    let (code, err) = train("att_mse", "attention", "mpnet");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("intermediate.feature") && err.contains("one tokenizer"), "{err}");
    let (code, err) = train("none", "hidden", "roberta");
    assert_eq!(code, Some(0), "{err}");
}
