//! The AutoDistiller paper's released trials (`auto_distiller_tabular_data.csv`): one row per
//! distillation run, mapped onto our [`Pipeline`](crate::pipeline::Pipeline) fields. They serve
//! as a lookup objective for benchmarking samplers and as training data for the recommender.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::search::space::{Dim, Domain, Point, Space};

/// One released trial, with its choices already in our vocabulary.
#[derive(Debug, Clone, PartialEq)]
pub struct PaperTrial {
    /// 1-based line in the CSV (the header is line 1).
    pub line: usize,
    /// GLUE task in our naming (`sst2`, not `sst-2`).
    pub task: String,
    pub teacher: String,
    pub student: String,
    /// Our `intermediate.objective` (`mi`, `hidden_mse`, `hidden_ce`, `cos`, `pkd`).
    pub objective: String,
    pub alpha: f64,
    pub mapping: String,
    pub kd_loss: String,
    pub mixup: bool,
    pub repeated_aug: usize,
    pub aug_p: f64,
    /// Augmentation operators in the order the paper applied them.
    pub chain: Vec<String>,
    pub n_train: usize,
    /// Dev score in [0, 1] (accuracy, Matthews, Pearson — the task's headline metric).
    pub score: f64,
    /// Score relative to the teacher, when the row has one.
    pub ratio: Option<f64>,
}

/// Rows that could not be mapped, kept so callers can report them instead of dropping them.
#[derive(Debug, Clone, Default)]
pub struct Skipped {
    pub lines: Vec<(usize, String)>,
}

const COLUMNS: [&str; 17] = [
    "Model",
    "Teacher",
    "intermediate_loss_type",
    "alpha",
    "intermediate_strategy",
    "kd_loss_type",
    "mixup",
    "repeated_aug",
    "aug_p",
    "#example",
    "score",
    "task",
    "ratio",
    "baseline_score",
    "contextual",
    "backtranslation",
    "random",
];

/// Reads the table. A wrong header is an error; a row that cannot be mapped is returned in
/// [`Skipped`] with its line and reason.
pub fn load(path: &Path) -> Result<(Vec<PaperTrial>, Skipped)> {
    let text = crate::data::load::read_utf8(path)?;
    parse(&text, path)
}

fn parse(text: &str, path: &Path) -> Result<(Vec<PaperTrial>, Skipped)> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let mut rows = reader.records();
    let header = match rows.next() {
        Some(Ok(h)) => h,
        _ => return Err(Error::malformed(path, 1, "empty file: expected the AutoDistiller trial table header")),
    };
    let index = |name: &str| header.iter().position(|h| h.trim() == name);
    let mut columns = BTreeMap::new();
    for name in COLUMNS {
        match index(name) {
            Some(i) => columns.insert(name, i),
            None => return Err(Error::malformed(path, 1, format!("missing column `{name}`: not an AutoDistiller trial table"))),
        };
    }
    let (mut trials, mut skipped) = (Vec::new(), Skipped::default());
    for (i, row) in rows.enumerate() {
        let line = i + 2;
        let row = row.map_err(|e| Error::malformed(path, line, e.to_string()))?;
        match map_row(&row, &columns, line) {
            Ok(trial) => trials.push(trial),
            Err(reason) => skipped.lines.push((line, reason)),
        }
    }
    Ok((trials, skipped))
}

fn map_row(row: &csv::StringRecord, columns: &BTreeMap<&str, usize>, line: usize) -> std::result::Result<PaperTrial, String> {
    let get = |name: &str| row.get(columns[name]).map(str::trim).unwrap_or("");
    let number = |name: &str| get(name).parse::<f64>().map_err(|_| format!("column `{name}`: `{}` is not a number", get(name)));
    let objective = match get("intermediate_loss_type") {
        "mi" => "mi",
        "mse" => "hidden_mse",
        "ce" => "hidden_ce",
        "cos" => "cos",
        "pkd" => "pkd",
        other => return Err(format!("column `intermediate_loss_type`: unknown `{other}`")),
    };
    let mapping = match get("intermediate_strategy") {
        m @ ("skip" | "last" | "emd") => m,
        other => return Err(format!("column `intermediate_strategy`: unknown `{other}`")),
    };
    let kd_loss = match get("kd_loss_type") {
        k @ ("ce" | "mse") => k,
        other => return Err(format!("column `kd_loss_type`: unknown `{other}`")),
    };
    let mixup = match get("mixup").to_ascii_lowercase().as_str() {
        "true" | "1" => true,
        "false" | "0" => false,
        other => return Err(format!("column `mixup`: `{other}` is not a boolean")),
    };
    // Each operator's column holds its position in the chain (0 = not used).
    let mut positioned = Vec::new();
    for (column, op) in [("contextual", "contextual"), ("backtranslation", "back_translation"), ("random", "random")] {
        let position = number(column)?;
        if position > 0.0 {
            positioned.push((position, op.to_string()));
        }
    }
    positioned.sort_by(|a, b| a.0.total_cmp(&b.0));
    let score = number("score")?;
    let task = get("task").to_ascii_lowercase().replace('-', "");
    if task.is_empty() {
        return Err("column `task` is empty".into());
    }
    Ok(PaperTrial {
        line,
        task,
        teacher: get("Teacher").to_string(),
        student: get("Model").to_string(),
        objective: objective.to_string(),
        alpha: number("alpha")?,
        mapping: mapping.to_string(),
        kd_loss: kd_loss.to_string(),
        mixup,
        repeated_aug: number("repeated_aug")? as usize,
        aug_p: number("aug_p")?,
        chain: positioned.into_iter().map(|(_, op)| op).collect(),
        n_train: number("#example")? as usize,
        score,
        ratio: get("ratio").parse::<f64>().ok(),
    })
}

/// The pipeline fields the paper varied, in the order [`PaperTrial::point`] fills them.
const FIELDS: [&str; 8] =
    ["intermediate.objective", "intermediate.alpha", "intermediate.mapping", "kd.loss", "augment.mixup", "augment.repeated_aug", "augment.aug_p", "augment.chain"];

impl PaperTrial {
    /// The trial as one of our pipelines (the paper's choices; everything else default).
    pub fn pipeline(&self) -> crate::pipeline::Pipeline {
        let pipeline = crate::pipeline::Pipeline::default();
        let mut root = serde_json::to_value(&pipeline).expect("pipeline serialises");
        for (field, value) in FIELDS.iter().zip(self.point()) {
            if let Some(value) = value {
                let (section, key) = field.split_once('.').expect("fields are dotted");
                root[section][key] = value;
            }
        }
        root["augment"]["repeated_aug"] = json!(self.repeated_aug);
        serde_json::from_value(root).expect("mapped rows hold valid pipeline values")
    }

    /// The trial's choices as a point of [`space_of`]'s space (α only when the objective is mi).
    pub fn point(&self) -> Point {
        vec![
            Some(json!(self.objective)),
            (self.objective == "mi").then(|| json!(self.alpha)),
            Some(json!(self.mapping)),
            Some(json!(self.kd_loss)),
            Some(json!(self.mixup)),
            Some(json!(self.repeated_aug as f64)),
            Some(json!(self.aug_p)),
            Some(json!(self.chain)),
        ]
    }
}

/// The space these trials span: each field's observed values, α conditioned on `mi`.
pub fn space_of(trials: &[PaperTrial], name: &str) -> Space {
    let points: Vec<Point> = trials.iter().map(PaperTrial::point).collect();
    let dims = FIELDS
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let mut seen: Vec<Value> = Vec::new();
            for v in points.iter().filter_map(|p| p[i].clone()) {
                if !seen.contains(&v) {
                    seen.push(v);
                }
            }
            let numeric = seen.iter().all(Value::is_f64);
            let domain = if numeric {
                let mut values: Vec<f64> = seen.iter().filter_map(Value::as_f64).collect();
                values.sort_by(f64::total_cmp);
                Domain::Ordered(values)
            } else {
                seen.sort_by_key(Value::to_string);
                Domain::Categorical(seen)
            };
            let when = if *field == "intermediate.alpha" { vec![("intermediate.objective".to_string(), vec![json!("mi")])] } else { Vec::new() };
            Dim { field: field.to_string(), domain, when }
        })
        .collect();
    Space { name: name.to_string(), fixed: Vec::new(), dims, fidelity: None, source: String::new(), candidates: None }
}

/// Distinct configurations of `trials` with their mean score (duplicate runs averaged), in first-
/// seen order.
pub fn mean_by_config(trials: &[PaperTrial]) -> Vec<(Point, f64)> {
    scores_by_config(trials).into_iter().map(|(p, scores)| (p, scores.iter().sum::<f64>() / scores.len() as f64)).collect()
}

/// Distinct configurations of `trials` with every run's score, in first-seen order: duplicate
/// runs measure the table's run-to-run noise.
pub fn scores_by_config(trials: &[PaperTrial]) -> Vec<(Point, Vec<f64>)> {
    let mut configs: Vec<(Point, Vec<f64>)> = Vec::new();
    for t in trials {
        let point = t.point();
        match configs.iter_mut().find(|(p, _)| *p == point) {
            Some((_, scores)) => scores.push(t.score),
            None => configs.push((point, vec![t.score])),
        }
    }
    configs
}

/// Trials grouped by (task, teacher, student), largest group first.
pub fn groups(trials: &[PaperTrial]) -> Vec<((String, String, String), Vec<PaperTrial>)> {
    let mut map: BTreeMap<(String, String, String), Vec<PaperTrial>> = BTreeMap::new();
    for t in trials {
        map.entry((t.task.clone(), t.teacher.clone(), t.student.clone())).or_default().push(t.clone());
    }
    let mut groups: Vec<_> = map.into_iter().collect();
    groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
    groups
}

/// Study name of an imported group.
pub fn study_name(prefix: &str, (task, teacher, student): &(String, String, String)) -> String {
    format!("{prefix}-{task}-{teacher}-{student}")
}

/// Stores every group of `trials` as a study of COMPLETE trials (`<prefix>-<task>-<teacher>-<student>`),
/// replacing an earlier import of the same group. Returns (study name, trials) per group.
pub fn import(storage: &dyn crate::store::Storage, trials: &[PaperTrial], source: &Path, prefix: &str) -> Result<Vec<(String, usize)>> {
    use crate::data::Metrics;
    use crate::store::{StudyRecord, TrialRecord, TrialState, now};
    let mut imported = Vec::new();
    for (key, group) in groups(trials) {
        let name = study_name(prefix, &key);
        let record = StudyRecord {
            name: name.clone(),
            task: key.0.clone(),
            space: format!("# imported from {} (teacher {}, student {})", source.display(), key.1, key.2),
            sampler: "imported".into(),
            direction: "maximize".into(),
            created: now(),
        };
        storage.put_study(&record)?;
        for (id, t) in group.iter().enumerate() {
            storage.put_trial(&TrialRecord {
                id: id as u64,
                study: name.clone(),
                point: t.point(),
                pipeline: t.pipeline(),
                state: TrialState::Complete,
                rung: 0,
                fidelity: Some((t.n_train, 0)),
                intermediate: Vec::new(),
                metrics: Some(Metrics(vec![("score".into(), t.score)])),
                score: Some(t.score),
                student_dir: None,
                error: None,
                pid: std::process::id(),
                started: record.created,
                ended: None,
            })?;
        }
        imported.push((name, group.len()));
    }
    Ok(imported)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "Model,Teacher,intermediate_loss_type,alpha,intermediate_strategy,kd_loss_type,mixup,repeated_aug,aug_p,#example,score,task,ratio,baseline_score,contextual,backtranslation,random\n";

    #[test]
    fn maps_rows_and_reports_unmappable_ones() {
        let text = format!(
            "{HEADER}TinyBERT4 ,BERT_BASE,mi,0.9,skip,ce,TRUE,1,0.3,67000,0.91, sst-2 ,0.98,88.5,2,1,0\n\
             TinyBERT4,BERT_BASE,cos,0,emd,mse,FALSE,1,0.3,67000,0.90,sst-2,,88.5,0,0,0\n\
             TinyBERT4,BERT_BASE,bogus,0,emd,mse,FALSE,1,0.3,67000,0.90,sst-2,,88.5,0,0,0\n"
        );
        let (trials, skipped) = parse(&text, Path::new("t.csv")).unwrap();
        assert_eq!(trials.len(), 2);
        assert_eq!(trials[0].task, "sst2");
        assert_eq!(trials[0].student, "TinyBERT4");
        assert_eq!(trials[0].chain, vec!["back_translation", "contextual"]);
        assert_eq!(trials[0].ratio, Some(0.98));
        assert_eq!(trials[1].ratio, None);
        assert_eq!(trials[1].point()[1], None, "alpha is inactive unless the objective is mi");
        let pipeline = trials[0].pipeline();
        assert_eq!(pipeline.augment.chain, vec![crate::pipeline::AugmentOp::BackTranslation, crate::pipeline::AugmentOp::Contextual]);
        assert!(pipeline.augment.mixup);
        assert_eq!(pipeline.intermediate.objective, crate::pipeline::Objective::Mi);
        assert_eq!(trials[1].pipeline().intermediate.objective, crate::pipeline::Objective::Cos);
        use crate::store::Storage;
        let storage = crate::store::MemoryStorage::default();
        let imported = import(&storage, &trials, Path::new("t.csv"), "paper").unwrap();
        assert_eq!(imported, vec![("paper-sst2-BERT_BASE-TinyBERT4".to_string(), 2)]);
        assert_eq!(storage.trials("paper-sst2-BERT_BASE-TinyBERT4").unwrap().len(), 2);
        assert_eq!(skipped.lines.len(), 1);
        assert_eq!(skipped.lines[0].0, 4);
        assert!(skipped.lines[0].1.contains("bogus"));
    }

    #[test]
    fn wrong_header_names_the_missing_column() {
        let err = parse("a,b,c\n1,2,3\n", Path::new("t.csv")).unwrap_err().to_string();
        assert!(err.contains("t.csv") && err.contains("Model"), "{err}");
    }

    #[test]
    fn duplicates_are_averaged() {
        let text = format!(
            "{HEADER}TinyBERT4,BERT_BASE,mi,0.9,skip,ce,TRUE,1,0.3,67000,0.90,sst-2,,88.5,0,0,0\n\
             TinyBERT4,BERT_BASE,mi,0.9,skip,ce,TRUE,1,0.3,67000,0.80,sst-2,,88.5,0,0,0\n"
        );
        let (trials, _) = parse(&text, Path::new("t.csv")).unwrap();
        let configs = mean_by_config(&trials);
        assert_eq!(configs.len(), 1);
        assert!((configs[0].1 - 0.85).abs() < 1e-12);
        let space = space_of(&trials, "t");
        assert_eq!(space.dims.len(), FIELDS.len());
    }
}
