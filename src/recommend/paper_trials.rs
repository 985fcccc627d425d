//! The AutoDistiller paper's released trials (`auto_distiller_tabular_data.csv`): one row per
//! distillation run, its choices mapped onto our pipeline fields and so onto a point of the
//! paper's space (`search-spaces/paper.toml`). `import-trials` stores them as studies over that
//! space; the same column layout is one of `recommend --candidates`' formats.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

use crate::data::DatasetMeta;
use crate::error::{Error, Result};
use crate::pipeline::{AugmentOp, KdLoss, Mapping, Objective};
use crate::search::space::{Point, Space};
use crate::store::StudentShape;

/// A row's pipeline choices, in our vocabulary.
#[derive(Debug, Clone, PartialEq)]
pub struct PaperChoices {
    pub objective: Objective,
    pub alpha: f64,
    pub mapping: Mapping,
    pub kd_loss: KdLoss,
    pub mixup: bool,
    pub repeated_aug: usize,
    pub aug_p: f64,
    /// Augmentation operators in the order the paper applied them.
    pub chain: Vec<AugmentOp>,
}

/// One released trial.
#[derive(Debug, Clone, PartialEq)]
pub struct PaperTrial {
    /// 1-based line in the CSV (the header is line 1).
    pub line: usize,
    /// GLUE task in our naming (`sst2`, not `sst-2`).
    pub task: String,
    pub teacher: String,
    pub student: String,
    pub choices: PaperChoices,
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

/// The columns that hold a row's pipeline choices (each operator column holds its position in the
/// chain, 0 = not used).
pub const CHOICE_COLUMNS: [&str; 10] =
    ["intermediate_loss_type", "alpha", "intermediate_strategy", "kd_loss_type", "mixup", "repeated_aug", "aug_p", "contextual", "backtranslation", "random"];

/// The columns of a released trial beyond its choices.
const RUN_COLUMNS: [&str; 7] = ["Model", "Teacher", "#example", "score", "task", "ratio", "baseline_score"];

/// Reads the table. A wrong header is an error; a row that cannot be mapped is returned in
/// [`Skipped`] with its line and reason.
pub fn load(path: &Path) -> Result<(Vec<PaperTrial>, Skipped)> {
    let text = crate::data::load::read_utf8(path)?;
    parse(&text, path)
}

fn parse(text: &str, path: &Path) -> Result<(Vec<PaperTrial>, Skipped)> {
    let (mut trials, mut skipped) = (Vec::new(), Skipped::default());
    let required: Vec<&str> = CHOICE_COLUMNS.iter().chain(&RUN_COLUMNS).copied().collect();
    for_each_row(text, path, &required, "the AutoDistiller trial table", |line, row| {
        match map_row(row, line) {
            Ok(trial) => trials.push(trial),
            Err(reason) => skipped.lines.push((line, reason)),
        }
        Ok(())
    })?;
    Ok((trials, skipped))
}

/// A CSV row whose cells are found by column name.
pub(crate) struct Row<'a> {
    record: &'a csv::StringRecord,
    columns: &'a BTreeMap<&'a str, usize>,
}

impl Row<'_> {
    /// The trimmed cell of `column` ("" when the row is short).
    pub(crate) fn get(&self, column: &str) -> &str {
        self.columns.get(column).and_then(|&i| self.record.get(i)).map(str::trim).unwrap_or("")
    }
}

/// Calls `each(line, row)` for every row of a CSV table with the `required` columns (found by
/// header name, in any order; others ignored). `what` names the table in errors.
pub(crate) fn for_each_row(text: &str, path: &Path, required: &[&str], what: &str, mut each: impl FnMut(usize, &Row) -> Result<()>) -> Result<()> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let mut rows = reader.records();
    let header = match rows.next() {
        Some(Ok(h)) => h,
        _ => return Err(Error::malformed(path, 1, format!("empty file: expected the header of {what}"))),
    };
    let mut columns = BTreeMap::new();
    for name in required {
        match header.iter().position(|h| h.trim() == *name) {
            Some(i) => columns.insert(*name, i),
            None => return Err(Error::malformed(path, 1, format!("missing column `{name}`: not {what}"))),
        };
    }
    let mut any = false;
    for (i, row) in rows.enumerate() {
        let line = i + 2;
        let row = row.map_err(|e| Error::malformed(path, line, e.to_string()))?;
        if row.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        any = true;
        each(line, &Row { record: &row, columns: &columns })?;
    }
    if !any {
        return Err(Error::malformed(path, 1, format!("no rows after the header of {what}")));
    }
    Ok(())
}

/// A row's pipeline choices, or the first column that cannot be mapped.
pub(crate) fn map_choices(row: &Row) -> std::result::Result<PaperChoices, String> {
    let number = |name: &str| row.get(name).parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| format!("column `{name}`: `{}` is not a number", row.get(name)));
    let objective = match row.get("intermediate_loss_type") {
        "mi" => Objective::Mi,
        "mse" => Objective::HiddenMse,
        "ce" => Objective::HiddenCe,
        "cos" => Objective::Cos,
        "pkd" => Objective::Pkd,
        other => return Err(format!("column `intermediate_loss_type`: unknown `{other}` (mi, mse, ce, cos, pkd)")),
    };
    let mapping = match row.get("intermediate_strategy") {
        "skip" => Mapping::Skip,
        "last" => Mapping::Last,
        "emd" => Mapping::Emd,
        other => return Err(format!("column `intermediate_strategy`: unknown `{other}` (skip, last, emd)")),
    };
    let kd_loss = match row.get("kd_loss_type") {
        "ce" => KdLoss::Ce,
        "mse" => KdLoss::Mse,
        other => return Err(format!("column `kd_loss_type`: unknown `{other}` (ce, mse)")),
    };
    let mixup = match row.get("mixup").to_ascii_lowercase().as_str() {
        "true" | "1" => true,
        "false" | "0" => false,
        other => return Err(format!("column `mixup`: `{other}` is not a boolean")),
    };
    let mut positioned = Vec::new();
    for (column, op) in [("contextual", AugmentOp::Contextual), ("backtranslation", AugmentOp::BackTranslation), ("random", AugmentOp::Random)] {
        let position = number(column)?;
        if position > 0.0 {
            positioned.push((position, op));
        }
    }
    positioned.sort_by(|a, b| a.0.total_cmp(&b.0));
    let repeated_aug = number("repeated_aug")?;
    if repeated_aug < 1.0 || repeated_aug.fract() != 0.0 {
        return Err(format!("column `repeated_aug`: `{}` is not a whole number >= 1", row.get("repeated_aug")));
    }
    Ok(PaperChoices {
        objective,
        alpha: number("alpha")?,
        mapping,
        kd_loss,
        mixup,
        repeated_aug: repeated_aug as usize,
        aug_p: number("aug_p")?,
        chain: positioned.into_iter().map(|(_, op)| op).collect(),
    })
}

fn map_row(row: &Row, line: usize) -> std::result::Result<PaperTrial, String> {
    let number = |name: &str| row.get(name).parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| format!("column `{name}`: `{}` is not a number", row.get(name)));
    let choices = map_choices(row)?;
    let task = row.get("task").to_ascii_lowercase().replace('-', "");
    if task.is_empty() {
        return Err("column `task` is empty".into());
    }
    let n_train = number("#example")?;
    Ok(PaperTrial {
        line,
        task,
        teacher: row.get("Teacher").to_string(),
        student: row.get("Model").to_string(),
        choices,
        n_train: n_train.max(0.0) as usize,
        score: number("score")?,
        ratio: row.get("ratio").parse::<f64>().ok(),
    })
}

impl PaperChoices {
    /// The choices as pipeline field values.
    pub fn fields(&self) -> Vec<(String, Value)> {
        [
            ("intermediate.objective", json!(self.objective)),
            ("intermediate.alpha", json!(self.alpha)),
            ("intermediate.mapping", json!(self.mapping)),
            ("kd.loss", json!(self.kd_loss)),
            ("augment.mixup", json!(self.mixup)),
            ("augment.repeated_aug", json!(self.repeated_aug)),
            ("augment.aug_p", json!(self.aug_p)),
            ("augment.chain", json!(self.chain)),
        ]
        .into_iter()
        .map(|(f, v)| (f.to_string(), v))
        .collect()
    }

    /// The choices as a point of `space` (α only counts with mi, aug_p and repeated_aug only with
    /// a chain); an error names the field that does not fit.
    pub fn point(&self, space: &Space) -> std::result::Result<Point, String> {
        space.point_of(&self.fields()).map_err(|(field, message)| format!("field `{field}`: {message}"))
    }
}

/// The shape of the paper's students, by the names the table uses.
pub fn student_shape(name: &str) -> Option<StudentShape> {
    let (layers, hidden) = match name {
        "TinyBERT4" => (4, 312),
        "TinyBERT6" => (6, 768),
        "BERT_TINY" => (2, 128),
        "BERT_MINI" => (4, 256),
        "BERT_SMALL" => (4, 512),
        "BERT_MEDIUM" => (8, 512),
        "BERT_BASE" => (12, 768),
        "ELECTRA_SMALL" => (12, 256),
        _ => return None,
    };
    Some(StudentShape { name: name.to_string(), layers, hidden: Some(hidden) })
}

/// Distinct configurations of `trials` with every run's score, in first-seen order: duplicate
/// runs measure the table's run-to-run noise.
pub fn scores_by_config(trials: &[PaperTrial]) -> Vec<(PaperChoices, Vec<f64>)> {
    let mut configs: Vec<(PaperChoices, Vec<f64>)> = Vec::new();
    for t in trials {
        match configs.iter_mut().find(|(c, _)| *c == t.choices) {
            Some((_, scores)) => scores.push(t.score),
            None => configs.push((t.choices.clone(), vec![t.score])),
        }
    }
    configs
}

/// What the paper's trials are grouped by: one study per task, teacher and student.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Group {
    pub task: String,
    pub teacher: String,
    pub student: String,
}

/// Trials grouped by task, teacher and student, largest group first.
pub fn groups(trials: &[PaperTrial]) -> Vec<(Group, Vec<PaperTrial>)> {
    let mut map: BTreeMap<Group, Vec<PaperTrial>> = BTreeMap::new();
    for t in trials {
        map.entry(Group { task: t.task.clone(), teacher: t.teacher.clone(), student: t.student.clone() }).or_default().push(t.clone());
    }
    let mut groups: Vec<_> = map.into_iter().collect();
    groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
    groups
}

/// Study name of an imported group.
pub fn study_name(prefix: &str, Group { task, teacher, student }: &Group) -> String {
    format!("{prefix}-{task}-{teacher}-{student}")
}

/// One imported group.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedStudy {
    pub name: String,
    pub task: String,
    pub trials: usize,
}

/// Stores every group of `trials` as a study of COMPLETE trials over the paper's space
/// (`<prefix>-<task>-<teacher>-<student>`), with its teacher, student and the task's meta-features
/// from `meta_of`, replacing an earlier import of the same group. A row whose choices do not fit
/// the space is added to `skipped`.
pub fn import(
    storage: &dyn crate::store::Storage,
    trials: &[PaperTrial],
    prefix: &str,
    meta_of: &dyn Fn(&str) -> Option<DatasetMeta>,
    skipped: &mut Skipped,
) -> Result<Vec<ImportedStudy>> {
    use crate::data::Metrics;
    use crate::store::{StudyObjective, StudyRecord, TrialRecord, TrialState, now};
    let space = Space::builtin_paper();
    let mut imported = Vec::new();
    for (key, group) in groups(trials) {
        let name = study_name(prefix, &key);
        let student = student_shape(&key.student);
        let record = StudyRecord {
            name: name.clone(),
            kind: Default::default(),
            task: key.task.clone(),
            space: space.source.clone(),
            sampler: "imported".into(),
            objectives: vec![StudyObjective::Score],
            created: now(),
            meta: meta_of(&key.task),
            teacher: Some(key.teacher.clone()),
            student: student.clone(),
        };
        let mut records = Vec::new();
        for t in &group {
            let point = match t.choices.point(&space) {
                Ok(point) => point,
                Err(reason) => {
                    skipped.lines.push((t.line, reason));
                    continue;
                }
            };
            let mut pipeline = space.compose_unchecked(&point)?;
            if let Some(shape) = &student {
                pipeline.student.layers = shape.layers;
                pipeline.student.hidden = shape.hidden;
            }
            records.push(TrialRecord {
                id: records.len() as u64,
                study: name.clone(),
                point,
                pipeline,
                state: TrialState::Complete,
                rung: 0,
                fidelity: Some((t.n_train, 0)),
                intermediate: Vec::new(),
                metrics: Some(Metrics(vec![("score".into(), t.score)])),
                score: Some(t.score),
                student_dir: None,
                host: None,
                error: None,
                retry_of: None,
                external: false,
                pid: std::process::id(),
                // The table records no times: an imported trial starts and ends when imported.
                started: record.created,
                ended: Some(record.created),
                compression: None,
            });
        }
        if records.is_empty() {
            continue;
        }
        storage.put_study(&record)?;
        for r in &records {
            storage.put_trial(r)?;
        }
        imported.push(ImportedStudy { name, task: key.task.clone(), trials: records.len() });
    }
    Ok(imported)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Storage;

    const HEADER: &str = "Model,Teacher,intermediate_loss_type,alpha,intermediate_strategy,kd_loss_type,mixup,repeated_aug,aug_p,#example,score,task,ratio,baseline_score,contextual,backtranslation,random\n";

    #[test]
    fn maps_rows_onto_the_paper_space_and_reports_unmappable_ones() {
        let text = format!(
            "{HEADER}TinyBERT4 ,BERT_BASE,mi,0.9,skip,ce,TRUE,1,0.3,67000,0.91, sst-2 ,0.98,88.5,2,1,0\n\
             TinyBERT4,BERT_BASE,cos,0,emd,mse,FALSE,1,0.3,67000,0.90,sst-2,,88.5,0,0,0\n\
             TinyBERT4,BERT_BASE,bogus,0,emd,mse,FALSE,1,0.3,67000,0.90,sst-2,,88.5,0,0,0\n\
             TinyBERT4,BERT_BASE,mi,0.33,emd,mse,FALSE,1,0.3,67000,0.90,sst-2,,88.5,0,0,0\n"
        );
        let (trials, mut skipped) = parse(&text, Path::new("t.csv")).unwrap();
        assert_eq!(trials.len(), 3);
        assert_eq!((trials[0].task.as_str(), trials[0].student.as_str()), ("sst2", "TinyBERT4"));
        assert_eq!(trials[0].choices.chain, vec![AugmentOp::BackTranslation, AugmentOp::Contextual]);
        assert_eq!((trials[0].ratio, trials[1].ratio), (Some(0.98), None));
        assert_eq!(skipped.lines.len(), 1);
        assert!(skipped.lines[0].0 == 4 && skipped.lines[0].1.contains("bogus"), "{:?}", skipped.lines);
        let space = Space::builtin_paper();
        let cos = space.compose(&trials[1].choices.point(&space).unwrap()).unwrap();
        assert_eq!((cos.intermediate.objective, cos.kd.loss), (crate::pipeline::Objective::Cos, crate::pipeline::KdLoss::Mse));
        // α 0.33 is not a value of the paper's space: not imported, with the field named.
        let storage = crate::store::MemoryStorage::default();
        let imported = import(&storage, &trials, "paper", &|task| DatasetMeta::glue(task), &mut skipped).unwrap();
        assert_eq!(imported, vec![ImportedStudy { name: "paper-sst2-BERT_BASE-TinyBERT4".into(), task: "sst2".into(), trials: 2 }]);
        assert!(skipped.lines[1].0 == 5 && skipped.lines[1].1.contains("intermediate.alpha"), "{:?}", skipped.lines);
        let study = storage.study("paper-sst2-BERT_BASE-TinyBERT4").unwrap().unwrap();
        assert_eq!(study.space, space.source, "imported studies are over the paper's space");
        assert_eq!(study.meta.as_ref().map(|m| m.n_train), Some(67349));
        assert_eq!((study.teacher.as_deref(), study.student.map(|s| (s.layers, s.hidden))), (Some("BERT_BASE"), Some((4, Some(312)))));
        let stored = storage.trials(&study.name).unwrap();
        assert_eq!(stored[0].point, trials[0].choices.point(&space).unwrap());
        assert_eq!(stored[0].pipeline.augment.chain, vec![crate::pipeline::AugmentOp::BackTranslation, crate::pipeline::AugmentOp::Contextual]);
        assert!(stored[0].pipeline.augment.mixup);
    }

    #[test]
    fn wrong_header_names_the_missing_column() {
        let err = parse("a,b,c\n1,2,3\n", Path::new("t.csv")).unwrap_err().to_string();
        assert!(err.contains("t.csv") && err.contains("intermediate_loss_type"), "{err}");
        let err = parse(HEADER, Path::new("t.csv")).unwrap_err().to_string();
        assert!(err.contains("no rows"), "{err}");
    }

    #[test]
    fn duplicate_runs_are_grouped() {
        let text = format!(
            "{HEADER}TinyBERT4,BERT_BASE,mi,0.9,skip,ce,TRUE,1,0.3,67000,0.90,sst-2,,88.5,0,0,0\n\
             TinyBERT4,BERT_BASE,mi,0.9,skip,ce,TRUE,1,0.3,67000,0.80,sst-2,,88.5,0,0,0\n"
        );
        let (trials, _) = parse(&text, Path::new("t.csv")).unwrap();
        let configs = scores_by_config(&trials);
        assert_eq!(configs.len(), 1);
        assert_eq!(configs[0].1, vec![0.9, 0.8]);
    }

    #[test]
    fn every_row_of_the_released_table_fits_the_paper_space() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/autodistiller/auto_distiller_tabular_data.csv");
        if !path.is_file() {
            assert!(std::env::var("CI").is_err(), "CI needs {}", path.display());
            eprintln!("skipping: {} is absent", path.display());
            return;
        }
        let (trials, skipped) = load(&path).unwrap();
        assert!(skipped.lines.is_empty(), "{:?}", skipped.lines);
        let space = Space::builtin_paper();
        for t in &trials {
            t.choices.point(&space).unwrap_or_else(|e| panic!("line {}: {e}", t.line));
        }
        assert_eq!(trials.len(), 1239);
    }
}
