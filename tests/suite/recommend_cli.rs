//! The recommender from the command line a user types: `import-trials` → `meta` → `recommend`
//! (bare, with `--space`, with `--candidates`), on a small imported table whose tasks disagree by
//! dataset size, so the answer must depend on the `.meta`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common;

const HEADER: &str = "Model,Teacher,intermediate_loss_type,alpha,intermediate_strategy,kd_loss_type,mixup,repeated_aug,aug_p,#example,score,task,ratio,baseline_score,contextual,backtranslation,random";

/// Small datasets (mrpc, rte) do best with MSE-KD + PKD on the last layers, large ones (sst2,
/// qnli) with CE-KD + MI-α 0.9 on the skip mapping.
fn table() -> String {
    let mut rows = vec![HEADER.to_string()];
    for (task, small) in [("sst-2", false), ("qnli", false), ("mrpc", true), ("rte", true)] {
        for kd in ["ce", "mse"] {
            for objective in ["cos", "pkd", "mi"] {
                for mapping in ["skip", "last"] {
                    let prefers = |small_choice: &str, large_choice: &str, value: &str| f64::from(u8::from(value == if small { small_choice } else { large_choice }));
                    let score = 0.8 + 0.05 * prefers("mse", "ce", kd) + 0.03 * prefers("pkd", "mi", objective) + 0.02 * prefers("last", "skip", mapping);
                    rows.push(format!("TinyBERT4,BERT_BASE,{objective},0.9,{mapping},{kd},FALSE,1,0.3,1000,{score},{task},,80,0,0,0"));
                }
            }
        }
    }
    rows.join("\n") + "\n"
}

struct Setup {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    glue: PathBuf,
}

impl Setup {
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_distiller"))
            .arg("--workspace")
            .arg(self.dir.join("ws"))
            .arg("--data-dir")
            .arg(&self.glue)
            .args(args)
            .current_dir(&self.dir)
            .output()
            .unwrap();
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    /// `distiller meta --task mrpc` with the training-set size replaced.
    fn meta(&self, name: &str, n_train: u64) -> String {
        let (code, out, err) = self.run(&["meta", "--task", "mrpc"]);
        assert_eq!(code, 0, "{err}");
        let text: String = out.lines().map(|l| if l.starts_with("n_train") { format!("n_train = {n_train}\n") } else { format!("{l}\n") }).collect();
        common::write(&self.dir, name, text.as_bytes());
        name.to_string()
    }
}

fn setup() -> Option<Setup> {
    let glue = common::shared_glue()?;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    common::write(&dir, "table.csv", table().as_bytes());
    Some(Setup { _tmp: tmp, dir, glue })
}

fn one_line_error(code: i32, stderr: &str) -> String {
    assert_eq!(code, 2, "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr}");
    stderr.trim().to_string()
}

fn paper_space() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/search-spaces/paper.toml")
}

#[test]
fn import_meta_recommend_depends_on_the_dataset() {
    let Some(s) = setup() else { return };
    // Before any import: what to run first.
    let small = s.meta("small.meta", 3_000);
    let (code, _, err) = s.run(&["recommend", &small]);
    assert!(one_line_error(code, &err).contains("import-trials"), "{err}");

    let imported = s.json(&["import-trials", "table.csv", "-f", "json"]);
    assert_eq!(imported["studies"].as_array().unwrap().len(), 4, "{imported}");
    assert_eq!(imported["meta"]["mrpc"], "computed from its data", "{imported}");
    assert_eq!(imported["meta"]["rte"], "shipped .meta (public facts)", "{imported}");
    let studies = s.json(&["studies", "-f", "json"]);
    assert!(studies.as_array().unwrap().iter().all(|st| st["meta"]["n_train"].is_u64() && st["student"]["layers"] == 4), "{studies}");

    let large = s.meta("large.meta", 100_000);
    // Over the paper's space: each dataset gets its neighbours' favourite.
    let pick = |meta: &str, extra: &[&str]| {
        let mut args = vec!["recommend", meta, "-f", "json", "--out", "pick.toml"];
        args.extend_from_slice(extra);
        let answer = s.json(&args);
        let p = &answer["recommendations"][0]["pipeline"];
        (
            (
                p["kd"]["loss"].as_str().unwrap().to_string(),
                p["intermediate"]["objective"].as_str().unwrap().to_string(),
                p["intermediate"]["mapping"].as_str().unwrap().to_string(),
            ),
            answer,
        )
    };
    let (small_pick, answer) = pick(&small, &["--space", paper_space()]);
    assert_eq!(small_pick, ("mse".into(), "pkd".into(), "last".into()), "{answer}");
    assert!(answer["task_bandwidth"].is_number(), "leave-one-task-out keeps the conditioning: {answer}");
    let heaviest = answer["learnt_from"][0]["task"].as_str().unwrap();
    assert!(heaviest == "mrpc" || heaviest == "rte", "{answer}");
    let (large_pick, _) = pick(&large, &["--space", paper_space()]);
    assert_eq!(large_pick, ("ce".into(), "mi".into(), "skip".into()));
    // With equal weights the .meta no longer matters.
    let (equal_small, _) = pick(&small, &["--space", paper_space(), "--task-weights", "equal"]);
    let (equal_large, _) = pick(&large, &["--space", paper_space(), "--task-weights", "equal"]);
    assert_eq!(equal_small, equal_large);
    // The top pick is a pipeline file of the space.
    let written: distiller::Pipeline = toml::from_str(&std::fs::read_to_string(s.dir.join("pick.toml")).unwrap()).unwrap();
    assert_eq!((written.student.layers, written.student.hidden), (4, Some(312)));

    // Bare: the default space learns from the paper studies through the fields they share.
    let (bare_small, answer) = pick(&small, &[]);
    assert_eq!(bare_small, ("mse".into(), "pkd".into(), "last".into()), "{answer}");
    let fields: Vec<&str> = answer["learnt_from"][0]["fields"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert_eq!(fields, ["kd.loss", "intermediate.objective", "intermediate.alpha", "intermediate.mapping"]);
    assert_eq!(answer["uninformed_fields"], serde_json::json!(["kd.temperature", "train.lr"]), "{answer}");
    assert_eq!(answer["recommendations"][0]["pipeline"]["train"]["train_subset"], 2000, "picks are composed at the space's full budget");
    let (bare_large, _) = pick(&large, &[]);
    assert_eq!(bare_large, ("ce".into(), "mi".into(), "skip".into()));
    // Table output names the studies and the weighting.
    let (code, out, err) = s.run(&["recommend", &small, "--out", "pick.toml"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("learnt from 4 studies") && out.contains("over kd.loss, intermediate.objective"), "{out}");
    assert!(out.contains("popular  pipeline") && out.contains("chosen by leave-one-task-out over 4 past studies"), "{out}");

    // The blend and configuration scale can be fixed; leave-one-task-out chooses the rest.
    let (_, pinned) = pick(&small, &["--space", paper_space(), "--blend", "1", "--config-scale", "0.3"]);
    assert_eq!((pinned["blend"].as_f64(), pinned["config_scale"].as_f64()), (Some(1.0), Some(0.3)), "{pinned}");
    let blends: Vec<f64> = pinned["selection"]["best_score_by_blend"].as_array().unwrap().iter().map(|b| b["blend"].as_f64().unwrap()).collect();
    assert_eq!(blends, [1.0], "{pinned}");
    let (code, out, err) = s.run(&["recommend", &small, "--blend", "0", "--out", "pick.toml"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("model: kernel regression (blend fixed by the command line), chosen by"), "{out}");
    for bad in [["--blend", "1.5"], ["--config-scale", "0"]] {
        let (code, _, err) = s.run(&["recommend", &small, bad[0], bad[1]]);
        assert!(one_line_error(code, &err).contains(bad[1]), "{err}");
    }
}

#[test]
fn candidates_files_rank_exactly_their_pipelines() {
    let Some(s) = setup() else { return };
    s.json(&["import-trials", "table.csv", "-f", "json"]);
    let small = s.meta("small.meta", 3_000);
    // The paper's layout, extra and score columns included, rows in any order.
    let csv = format!(
        "{HEADER},note\nTinyBERT4,BERT_BASE,cos,0.1,skip,ce,FALSE,1,0.3,1,0.5,x,,1,0,0,0,a\n\
         TinyBERT4,BERT_BASE,pkd,0.1,last,mse,FALSE,1,0.3,1,0.5,x,,1,0,0,0,b\n\
         TinyBERT4,BERT_BASE,mi,0.9,skip,ce,TRUE,1,0.3,1,0.5,x,,1,1,0,2,c\n"
    );
    common::write(&s.dir, "c.csv", csv.as_bytes());
    let answer = s.json(&["recommend", &small, "--space", paper_space(), "--candidates", "c.csv", "--top", "10", "-f", "json"]);
    let recs = answer["recommendations"].as_array().unwrap();
    assert_eq!(recs.len(), 3, "--top larger than the file: all candidates");
    assert_eq!(recs[0]["line"], 3, "{answer}");
    let mut lines: Vec<u64> = recs.iter().map(|r| r["line"].as_u64().unwrap()).collect();
    lines.sort();
    assert_eq!(lines, [2, 3, 4]);
    assert!(recs.iter().all(|r| r["predicted_rank"].is_number() && r["sd"].is_number()));
    assert!(recs.windows(2).all(|w| w[0]["predicted_rank"].as_f64() >= w[1]["predicted_rank"].as_f64()));
    // Beside each pick, its rank by the most-popular baseline; line 4 was never run, so it is last.
    let mut baseline: Vec<u64> = recs.iter().map(|r| r["baseline_rank"].as_u64().unwrap()).collect();
    assert_eq!(recs.iter().find(|r| r["line"] == 4).unwrap()["baseline_rank"], 3, "{answer}");
    baseline.sort();
    assert_eq!(baseline, [1, 2, 3]);
    // Which model ranked them, and the leave-one-task-out scores it was chosen by.
    assert_eq!(answer["selection"]["held_out_studies"], 4, "{answer}");
    assert!(answer["model"].is_string() && answer["selection"]["best_score_by_blend"].as_array().unwrap().len() == 3, "{answer}");
    let top1 = s.json(&["recommend", &small, "--space", paper_space(), "--candidates", "c.csv", "--top", "1", "-f", "json"]);
    assert_eq!(top1["recommendations"].as_array().unwrap().len(), 1);
    // JSONL: pipeline records, whole (as printed) or in part.
    let whole = serde_json::to_string(&recs[2]["pipeline"]).unwrap();
    let jsonl = format!("{whole}\n\n{{\"kd\": {{\"loss\": \"mse\"}}, \"intermediate\": {{\"objective\": \"pkd\", \"mapping\": \"last\"}}, \"augment\": {{\"chain\": []}}}}\n");
    common::write(&s.dir, "c.jsonl", jsonl.as_bytes());
    let answer = s.json(&["recommend", &small, "--space", paper_space(), "--candidates", "c.jsonl", "-f", "json"]);
    assert_eq!(answer["recommendations"][0]["line"], 3, "{answer}");
    assert_eq!(answer["recommendations"][1]["line"], 1, "{answer}");
}

#[test]
fn bad_candidates_and_meta_name_file_line_and_field() {
    let Some(s) = setup() else { return };
    s.json(&["import-trials", "table.csv", "-f", "json"]);
    let small = s.meta("small.meta", 3_000);
    let row = "TinyBERT4,BERT_BASE,cos,0.1,skip,ce,FALSE,1,0.3,1,0.5,x,,1,0,0,0";
    let cases: Vec<(&str, String, &[&str])> = vec![
        ("wrong-column.csv", format!("{}\n{row}\n", HEADER.replace("kd_loss_type", "kd")), &["wrong-column.csv:1", "kd_loss_type"]),
        ("unknown-value.csv", format!("{HEADER}\n{row}\n{}\n", row.replace(",ce,", ",kl,")), &["unknown-value.csv:3", "kd_loss_type", "kl"]),
        ("outside.csv", format!("{HEADER}\n{}\n", row.replace("cos,0.1", "mi,0.33")), &["outside.csv:2", "intermediate.alpha", "0.33"]),
        ("empty.csv", String::new(), &["empty.csv:1", "empty"]),
        ("header-only.csv", format!("{HEADER}\n"), &["header-only.csv:1", "no rows"]),
        ("field.jsonl", "{\"kd\": {\"loss\": \"ce\", \"los\": 1}}\n".into(), &["field.jsonl:1", "kd.los", "not a pipeline field"]),
        ("value.jsonl", "{\"intermediate\": {\"objective\": \"cos\"}}\n{\"kd\": {\"loss\": \"kl\"}}\n".into(), &["value.jsonl:2", "kd.loss", "\"kl\""]),
        ("fixed.jsonl", "{\"intermediate\": {\"objective\": \"cos\"}, \"student\": {\"layers\": 6}}\n".into(), &["fixed.jsonl:1", "student.layers", "6"]),
        ("default.jsonl", "{\"kd\": {\"loss\": \"ce\"}}\n".into(), &["default.jsonl:1", "intermediate.objective", "default"]),
        ("bt.jsonl", "{\"intermediate\": {\"objective\": \"cos\"}, \"augment\": {\"chain\": [\"back_translation\"]}}\n".into(), &["bt.jsonl:1", "augment.paraphrases"]),
        ("text.jsonl", "{\"kd\": \n".into(), &["text.jsonl:1", "not JSON"]),
        ("empty.jsonl", "\n".into(), &["empty.jsonl:1", "no candidates"]),
    ];
    for (name, text, wanted) in cases {
        common::write(&s.dir, name, text.as_bytes());
        let (code, _, err) = s.run(&["recommend", &small, "--space", paper_space(), "--candidates", name]);
        let line = one_line_error(code, &err);
        for w in wanted {
            assert!(line.contains(w), "{name}: `{w}` not in: {line}");
        }
    }
    // .meta files: a missing, an unknown and a mistyped field.
    let good = std::fs::read_to_string(s.dir.join(&small)).unwrap();
    for (name, text, wanted) in [
        ("missing.meta", good.lines().filter(|l| !l.starts_with("mean_tokens")).map(|l| format!("{l}\n")).collect::<String>(), "mean_tokens"),
        ("unknown.meta", format!("{good}colour = 3\n"), "colour"),
        ("typed.meta", good.replace("pair = true", "pair = \"yes\""), "typed.meta:2"),
    ] {
        common::write(&s.dir, name, text.as_bytes());
        let (code, _, err) = s.run(&["recommend", name]);
        let line = one_line_error(code, &err);
        assert!(line.contains(name) && line.contains(wanted), "{line}");
    }
    // A teacher no study has.
    let (code, _, err) = s.run(&["recommend", &small, "--teacher-name", "GPT_9"]);
    let line = one_line_error(code, &err);
    assert!(line.contains("GPT_9") && line.contains("teachers: BERT_BASE"), "{line}");
    // Nothing in the store fits a space over other fields.
    let other = common::write(&s.dir, "other.toml", b"[[dim]]\nfield = \"kd.temperature\"\nvalues = [1.0, 2.0]\n");
    let (code, _, err) = s.run(&["recommend", &small, "--space", other.to_str().unwrap()]);
    let line = one_line_error(code, &err);
    assert!(line.contains("nothing to learn from") && line.contains("varied none of the space's fields"), "{line}");
    assert!(Path::new(&s.dir).join("ws/store").exists());
}
