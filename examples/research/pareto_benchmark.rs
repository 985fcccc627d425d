//! The multi-objective search (score ↑, student parameters ↓) replayed on the paper's released
//! trials: for one task and teacher, every (student, pipeline) the table ran is a lookup point, a
//! study of `[score, params]` runs through `Study::run` (what `distiller search --objectives
//! score,params` runs) with BO (ParEGO) or random sampling, and the front each finds is scored by
//! its hypervolume, against the front of the whole table.
//!
//!
//! ```text
//! cargo run --release --example pareto_benchmark -- [--seeds 10] [--trials 10,20] [--tasks cola,rte]
//! ```
//! Costs are the score negated and ln(parameters), each min-max scaled over the table; the
//! reference point is (1.1, 1.1). Duplicate runs of a point are averaged. Seeded: reruns give the
//! table digit for digit.
//!
//! With `--workspace DIR --studies a,b,… [--trials 15,30]` it scores `[score, params]` studies
//! that `distiller search` ran for real instead: each study's complete trials at its highest rung
//! among its first N, the same costs scaled over the union of every listed study's trials, one
//! hypervolume per study and the mean per sampler, against the union's front.

use std::collections::HashMap;
use std::path::PathBuf;

use distiller::model::{Compression, Footprint};
use distiller::ops;
use distiller::recommend::paper_trials;
use distiller::search::pareto::hypervolume;
use distiller::search::samplers::{BoSampler, RandomSampler, Sampler};
use distiller::search::space::{Dim, Domain, Point, Space};
use distiller::search::{SearchLimits, Study, TrialOutcome};
use distiller::store::{MemoryStorage, StudyObjective, TrialState};
use distiller::workspace::Workspace;
use serde_json::json;

/// Parameters of the paper's students and teacher, as their model cards give them.
fn params(model: &str) -> Option<usize> {
    Some(match model {
        "BERT_TINY" => 4_400_000,
        "BERT_MINI" => 11_300_000,
        "ELECTRA_SMALL" => 13_500_000,
        "TinyBERT4" => 14_500_000,
        "BERT_SMALL" => 29_100_000,
        "BERT_MEDIUM" => 41_700_000,
        "TinyBERT6" => 67_000_000,
        "BERT_BASE" => 110_000_000,
        _ => return None,
    })
}

const OBJECTIVES: [StudyObjective; 2] = [StudyObjective::Score, StudyObjective::Params];

/// A lookup task: its space (the paper's, with the student as one more dimension, exactly the
/// table's points) and each point's pipeline (as JSON) with (score, parameters).
struct Table {
    space: Space,
    by_pipeline: HashMap<String, (f64, usize)>,
}

fn table(trials: &[paper_trials::PaperTrial], task: &str) -> Table {
    let paper = Space::builtin_paper();
    let rows: Vec<_> = trials.iter().filter(|t| t.task == task && t.teacher == "BERT_BASE" && params(&t.student).is_some()).collect();
    let mut students: Vec<String> = rows.iter().map(|t| t.student.clone()).collect();
    students.sort();
    students.dedup();
    let mut space = paper.clone();
    space.fixed.push(("student.init".into(), json!("pretrained")));
    space.dims.push(Dim { field: "student.checkpoint".into(), domain: Domain::Categorical(students.iter().map(|s| json!(s)).collect()), when: vec![] });
    let mut scores: HashMap<Point, (Vec<f64>, usize)> = HashMap::new();
    for t in rows {
        let Ok(mut point) = t.choices.point(&paper) else { continue };
        point.push(Some(json!(t.student)));
        scores.entry(point).or_insert_with(|| (Vec::new(), params(&t.student).unwrap_or(0))).0.push(t.score);
    }
    // In the table's order, so every run of the example draws the same points.
    let mut points: Vec<Point> = scores.keys().cloned().collect();
    points.sort_by_cached_key(|p| serde_json::to_string(p).unwrap());
    space.candidates = Some(points.clone());
    space.source = format!("pareto benchmark {task}");
    let by_pipeline = scores
        .into_iter()
        .map(|(point, (runs, n))| {
            let pipeline = space.compose_unchecked(&point).expect("a table point composes");
            (serde_json::to_string(&pipeline).unwrap(), (runs.iter().sum::<f64>() / runs.len() as f64, n))
        })
        .collect();
    Table { space, by_pipeline }
}

/// Each value scaled to [0, 1] over `points` (score, parameters): (−score, ln params).
fn scaler(points: &[(f64, usize)]) -> impl Fn(f64, usize) -> [f64; 2] + use<> {
    let values: Vec<(f64, f64)> = points.iter().map(|&(s, n)| (-s, (n as f64).ln())).collect();
    let range = |f: fn(&(f64, f64)) -> f64| {
        let lo = values.iter().map(f).fold(f64::INFINITY, f64::min);
        let hi = values.iter().map(f).fold(f64::NEG_INFINITY, f64::max);
        (lo, (hi - lo).max(1e-12))
    };
    let ((s0, sw), (p0, pw)) = (range(|v| v.0), range(|v| v.1));
    move |score, n| [(-score - s0) / sw, ((n as f64).ln() - p0) / pw]
}

fn run(table: &Table, sampler: &mut dyn Sampler, trials: usize) -> Vec<(f64, usize)> {
    let storage = MemoryStorage::default();
    let study = Study::open_with(&storage, "pareto", "task", table.space.clone(), sampler.name(), &OBJECTIVES).unwrap();
    let mut lookup = |pipeline: &distiller::Pipeline, _: u64| {
        let &(score, n) = table.by_pipeline.get(&serde_json::to_string(pipeline).unwrap()).expect("a table point");
        let footprint = |params| Footprint { params, params_without_embeddings: params, checkpoint_mb: 0.0, latency_ms_batch1: 0.0, latency_ms_batch32: 0.0 };
        Ok(TrialOutcome {
            score,
            metrics: distiller::data::Metrics(vec![("score".into(), score)]),
            student_dir: None,
            intermediate: vec![],
            fidelity: None,
            compression: Some(Compression { student: footprint(n), teacher: footprint(110_000_000), threads: 0 }),
        })
    };
    let done = study.run(sampler, &SearchLimits { trials, budget: None }, &mut lookup, &mut |_| {}).unwrap();
    done.iter().filter(|t| t.state == TrialState::Complete).map(|t| (t.score.unwrap(), t.compression.as_ref().unwrap().student.params)).collect()
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    (mean, (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt())
}

/// A study `distiller search` ran: its name, its sampler, and its complete trials at the highest
/// rung as (id, score, parameters).
type LiveStudy = (String, String, Vec<(u64, f64, usize)>);

fn live_studies(workspace: &Workspace, names: &[String]) -> Vec<LiveStudy> {
    names
        .iter()
        .map(|name| {
            let found = ops::trials(workspace, name, &mut |_| {}).unwrap_or_else(|e| panic!("study {name}: {e}"));
            assert_eq!(found.study.objectives, OBJECTIVES, "study {name} is not a [score, params] study");
            let top = found.trials.iter().filter(|t| t.state == TrialState::Complete).map(|t| t.rung).max().unwrap_or(0);
            let points = found
                .trials
                .iter()
                .filter(|t| t.state == TrialState::Complete && t.rung == top)
                .filter_map(|t| Some((t.id, t.score?, t.compression.as_ref()?.student.params)))
                .collect();
            (name.clone(), found.study.sampler.clone(), points)
        })
        .collect()
}

/// Each study's hypervolume after its first `budget` trials, for every budget, and each
/// sampler's mean, all scaled over the union of every study's trials.
fn report_live(workspace: &Workspace, names: &[String], budgets: &[usize], reference: [f64; 2]) {
    let studies = live_studies(workspace, names);
    let union: Vec<(f64, usize)> = studies.iter().flat_map(|(_, _, p)| p.iter().map(|&(_, s, n)| (s, n))).collect();
    let scale = scaler(&union);
    let volume = |points: &[(f64, usize)]| hypervolume(&points.iter().map(|&(s, n)| scale(s, n)).collect::<Vec<_>>(), reference);
    let best = volume(&union);
    println!("| study | sampler | first trials | complete | best score | smallest student (M params) | hypervolume | share of the union's front |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut by_sampler: Vec<(usize, String, Vec<f64>)> = Vec::new();
    for &budget in budgets {
        for (name, sampler, points) in &studies {
            let first: Vec<(f64, usize)> = points.iter().filter(|p| p.0 < budget as u64).map(|&(_, s, n)| (s, n)).collect();
            let v = volume(&first);
            let top = first.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
            let smallest = first.iter().map(|p| p.1).min().unwrap_or(0) as f64 / 1e6;
            println!("| {name} | {sampler} | {budget} | {} | {top:.4} | {smallest:.1} | {v:.4} | {:.1} % |", first.len(), 100.0 * v / best);
            match by_sampler.iter_mut().find(|(b, s, _)| *b == budget && s == sampler) {
                Some((_, _, volumes)) => volumes.push(v),
                None => by_sampler.push((budget, sampler.clone(), vec![v])),
            }
        }
    }
    println!();
    println!("| first trials | sampler | studies | hypervolume, mean ± sd | share of the union's front |");
    println!("|---|---|---|---|---|");
    for (budget, sampler, volumes) in by_sampler {
        let (mean, sd) = mean_sd(&volumes);
        println!("| {budget} | {sampler} | {} | {mean:.4} ± {sd:.4} | {:.1} % |", volumes.len(), 100.0 * mean / best);
    }
}

fn main() {
    let mut csv = PathBuf::from("../shared/data/autodistiller/auto_distiller_tabular_data.csv");
    let (mut seeds, mut budgets, mut tasks) = (10u64, vec![10usize, 20], vec!["cola".to_string(), "rte".to_string()]);
    let (mut workspace, mut studies) = (None, Vec::new());
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--csv" => csv = PathBuf::from(value),
            "--seeds" => seeds = value.parse().expect("--seeds N"),
            "--trials" => budgets = value.split(',').map(|n| n.parse().expect("--trials N,M")).collect(),
            "--tasks" => tasks = value.split(',').map(String::from).collect(),
            "--workspace" => workspace = Some(Workspace::new(value)),
            "--studies" => studies = value.split(',').map(String::from).collect(),
            other => panic!("unknown flag {other}"),
        }
    }
    let reference = [1.1, 1.1];
    if let Some(workspace) = workspace {
        return report_live(&workspace, &studies, &budgets, reference);
    }
    let (trials, _) = paper_trials::load(&csv).expect("the paper's table");
    println!("| task | points (students) | trials | sampler | hypervolume, mean ± sd over {seeds} seeds | share of the table's front |");
    println!("|---|---|---|---|---|---|");
    for task in &tasks {
        let table = table(&trials, task);
        let scale = scaler(&table.by_pipeline.values().copied().collect::<Vec<_>>());
        let students = match &table.space.dims.last().unwrap().domain {
            Domain::Categorical(c) => c.len(),
            _ => 0,
        };
        let best = hypervolume(&table.by_pipeline.values().map(|&(s, n)| scale(s, n)).collect::<Vec<_>>(), reference);
        for &budget in &budgets {
            for name in ["bo", "random"] {
                let volumes: Vec<f64> = (0..seeds)
                    .map(|seed| {
                        let mut sampler: Box<dyn Sampler> = if name == "bo" { Box::new(BoSampler::new(seed)) } else { Box::new(RandomSampler { seed }) };
                        let found = run(&table, sampler.as_mut(), budget);
                        hypervolume(&found.into_iter().map(|(s, n)| scale(s, n)).collect::<Vec<_>>(), reference)
                    })
                    .collect();
                let (mean, sd) = mean_sd(&volumes);
                println!("| {task} | {} ({students}) | {budget} | {name} | {mean:.4} ± {sd:.4} | {:.1} % |", table.by_pipeline.len(), 100.0 * mean / best);
            }
        }
    }
}
