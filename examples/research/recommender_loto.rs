//! Leave-one-task-out evaluation of the recommender through the CLI's code path: the paper's
//! released trials are imported as `distiller import-trials` does (each task's `.meta` from its
//! GLUE data here, else the shipped one), and each held-out task's pipelines are ranked by
//! `recommend::rank` — what `distiller recommend META --space S --candidates F` calls —
//! with every study of the held-out task left out of what it learns from. Everything the model
//! chooses (configuration scale, task bandwidth) is chosen inside, by leave-one-task-out among the
//! remaining tasks. Reports, per held-out task, the realised score of the top-1 pick relative to
//! the task's best, its rank and the Spearman between predicted and realised scores, with `.meta`
//! conditioning (`--task-weights auto`) and without (`equal`), next to the fixed "most popular"
//! baseline.
//!
//! ```text
//! cargo run --release --example recommender_loto [-- --plot DIR]
//! cargo run --release --example recommender_loto -- --workspace DIR [--workspace DIR ...] [--space FILE]
//! ```
//! Groups evaluated: TinyBERT4 ← BERT-base (8 tasks) and TinyBERT4 ← ELECTRA-large (2 tasks).
//! `--workspace` runs the same report on our own studies instead: the studies over `--space`
//! (default: the built-in default space) in those workspaces' stores, one per task. `--plot DIR` draws predicted vs realised scores of the
//! BERT-base group (predicted_vs_realised.png/svg). A last table measures the table's own noise.

// Shared with the tabular benchmark.
#[path = "lib/loto.rs"]
mod loto;

use distiller::data::metrics::spearman;
use distiller::data::{DatasetMeta, task_meta};
use distiller::recommend::paper_trials::{self, PaperTrial};
use distiller::recommend::{Candidate, PastTask, Query, Students, TaskWeighting, history, normalised_ranks, rank};
use distiller::search::Space;
use distiller::search::space::Point;
use distiller::store::{MemoryStorage, Storage, TrialState};
use loto::{import_in_memory, most_popular, paper_space_for_ranking, table_candidates};
use std::path::{Path, PathBuf};

/// A task and every score each of its configurations got (duplicate runs kept apart).
type TaskRuns = (String, Vec<(Point, Vec<f64>)>);

/// A held-out task: its name, meta-features and every distinct pipeline it ran with its mean score.
struct HeldOut {
    task: String,
    meta: DatasetMeta,
    results: Vec<(Candidate, f64)>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let workspaces: Vec<PathBuf> = args.windows(2).filter(|w| w[0] == "--workspace").map(|w| PathBuf::from(&w[1])).collect();
    if !workspaces.is_empty() {
        let space = match args.iter().position(|a| a == "--space").and_then(|i| args.get(i + 1)) {
            Some(path) => Space::from_file(Path::new(path)).unwrap_or_else(|e| panic!("{e}")),
            None => Space::builtin_default(),
        };
        return own_studies(&workspaces, &space);
    }
    let table = Path::new("../shared/data/autodistiller/auto_distiller_tabular_data.csv");
    if !table.is_file() {
        eprintln!("skipping: the paper's released trials are not at {}", table.display());
        return;
    }
    let plot_dir = args.iter().position(|a| a == "--plot").and_then(|i| args.get(i + 1)).map(PathBuf::from);
    let (trials, skipped) = paper_trials::load(table).unwrap_or_else(|e| panic!("{e}"));
    let storage = import_in_memory(&trials, skipped);
    let space = paper_space_for_ranking();
    for (teacher, label) in [("BERT_BASE", "TinyBERT4 ← BERT-base"), ("ELECTRA-large", "TinyBERT4 ← ELECTRA-large")] {
        let group: Vec<PaperTrial> = trials.iter().filter(|t| t.teacher == teacher && t.student == "TinyBERT4").cloned().collect();
        let held_out: Vec<HeldOut> = paper_trials::groups(&group)
            .into_iter()
            .filter(|(_, rows)| rows.len() >= 10)
            .map(|(paper_trials::Group { task, .. }, rows)| HeldOut {
                meta: task_meta(&task, None).map(|(m, _)| m).unwrap_or_else(|| panic!("no meta for {task}")),
                results: table_candidates(&space, &rows).unwrap_or_else(|e| panic!("{e}")),
                task,
            })
            .collect();
        println!("### {label}: {} tasks\n", held_out.len());
        leave_one_task_out(&storage, &space, &held_out, teacher, 3, plot_dir.as_deref().filter(|_| teacher == "BERT_BASE"));
        println!();
    }
    noise_table(&trials, &space);
}

/// The same report on our own studies: every study over `space` in the given workspaces' stores
/// (for a task found more than once, the study with the most finished first-rung pipelines), one
/// task held out at a time, scored on its first rung.
fn own_studies(workspaces: &[PathBuf], space: &Space) {
    let storage = MemoryStorage::default();
    let mut held_out: Vec<HeldOut> = Vec::new();
    for ws in workspaces {
        let source = distiller::store::sled::read_snapshots(&ws.join("store")).unwrap_or_else(|e| panic!("{e}"));
        for study in source.studies().unwrap_or_else(|e| panic!("{e}")) {
            let trials = source.trials(&study.name).unwrap_or_else(|e| panic!("{e}"));
            storage.put_study(&study).unwrap();
            for t in &trials {
                storage.put_trial(t).unwrap();
            }
            if study.space.trim() != space.source.trim() {
                continue;
            }
            let mut results: Vec<(Candidate, Vec<f64>)> = Vec::new();
            for t in trials.iter().filter(|t| t.state == TrialState::Complete && t.rung == 0) {
                let Some(score) = t.score else { continue };
                match results.iter_mut().find(|(c, _)| c.point == t.point) {
                    Some((_, scores)) => scores.push(score),
                    None => results.push((Candidate { line: 0, point: t.point.clone(), pipeline: t.pipeline.clone() }, vec![score])),
                }
            }
            eprintln!("{}: study {} ({}) has {} first-rung pipelines", ws.display(), study.name, study.task, results.len());
            let meta = study.meta.clone().or_else(|| task_meta(&study.task, None).map(|(m, _)| m)).unwrap_or_else(|| panic!("no meta for {}", study.task));
            let task = HeldOut { task: study.task.clone(), meta, results: results.into_iter().map(|(c, s)| (c, mean(&s))).collect() };
            match held_out.iter_mut().find(|h| h.task == task.task) {
                Some(seen) if seen.results.len() >= task.results.len() => {}
                Some(seen) => *seen = task,
                None => held_out.push(task),
            }
        }
    }
    if held_out.len() < 2 {
        eprintln!("skipping: leave-one-task-out needs default-space studies of at least 2 tasks, found {}", held_out.len());
        return;
    }
    // Each study ran a few dozen of the space's pipelines, so few ran on 3 other tasks: the
    // baseline here ranks every pipeline that at least one other task ran.
    leave_one_task_out(&storage, space, &held_out, "", 1, None);
}

/// Per held-out task: the realised score of the top-1 pick against its best, for the baseline and
/// for `recommend::rank` with and without `.meta` conditioning, matched to `teacher` (its default
/// when empty); then one summary row per method. The baseline ranks pipelines run on at least
/// `popular_min_tasks` other tasks.
fn leave_one_task_out(storage: &MemoryStorage, space: &Space, held_out: &[HeldOut], teacher: &str, popular_min_tasks: usize, plot_dir: Option<&Path>) {
    let rank_of = |task: &HeldOut, s: f64| 1 + task.results.iter().filter(|(_, o)| *o > s).count();
    let realised = |task: &HeldOut, p: &Point| task.results.iter().find(|(c, _)| c.point == *p).map(|(_, s)| *s).expect("a pick is a candidate");
    let mut rows = Vec::new();
    let mut summaries: Vec<(&str, Vec<f64>, Vec<f64>)> =
        vec![("most popular (baseline)", vec![], vec![]), ("recommend, .meta-conditioned (auto)", vec![], vec![]), ("recommend, equal task weights", vec![], vec![])];
    let mut series = Vec::new();
    for task in held_out {
        let best = task.results.iter().map(|(_, s)| *s).fold(f64::NEG_INFINITY, f64::max);
        let points: Vec<Point> = task.results.iter().map(|(c, _)| c.point.clone()).collect();
        // The baseline learns from the same teacher's other tasks.
        let mut past: Vec<PastTask> = history(storage, space, Some(&task.task), Students::SameDepth).unwrap_or_else(|e| panic!("{e}")).tasks;
        past.retain(|t| teacher.is_empty() || t.teacher.as_deref() == Some(teacher));
        let others = past.iter().map(|t| t.task.as_str()).collect::<std::collections::BTreeSet<_>>().len();
        let popular = realised(task, &most_popular(&past, &points, &task.task, popular_min_tasks.min(others).max(1))[0]);
        summaries[0].1.push(popular / best);
        let mut cells = vec![task.task.clone(), task.results.len().to_string(), format!("{:.4} ({})", popular / best, rank_of(task, popular))];
        for (k, weighting) in [TaskWeighting::Auto, TaskWeighting::Equal].into_iter().enumerate() {
            let query = Query {
                candidates: Some(task.results.iter().map(|(c, _)| c.clone()).collect()),
                top: usize::MAX,
                weighting,
                teacher: Some(teacher.to_string()).filter(|t| !t.is_empty()),
                exclude_task: Some(task.task.clone()),
                ..Query::new(task.meta.clone(), space.clone())
            };
            let answer = rank(storage, &query).unwrap_or_else(|e| panic!("{}: {e}", task.task));
            let top = realised(task, &answer.picks[0].prediction.point);
            let predicted: Vec<f64> = answer.picks.iter().map(|p| p.prediction.mean).collect();
            let actual: Vec<f64> = answer.picks.iter().map(|p| realised(task, &p.prediction.point)).collect();
            let rho = spearman(&predicted, &actual);
            summaries[k + 1].1.push(top / best);
            summaries[k + 1].2.push(rho);
            cells.push(format!("{:.4} ({})", top / best, rank_of(task, top)));
            cells.push(format!("{rho:.3}"));
            if weighting == TaskWeighting::Auto {
                let bandwidth = answer.scales.task.map_or("equal".into(), |h| format!("{h}× median"));
                let bandwidth = format!("{bandwidth}, {}", if answer.scales.pooled { "pooled" } else { "same teacher" });
                let heaviest = answer.learnt_from.iter().take(2).map(|l| format!("{} {:.0} %", l.task, 100.0 * l.share)).collect::<Vec<_>>().join(", ");
                cells.push(format!("{bandwidth}, ℓ {}; {heaviest}", answer.scales.config));
                series.push((task.task.clone(), predicted.into_iter().zip(actual).collect::<Vec<_>>()));
            }
        }
        rows.push(cells);
    }
    if let Some(dir) = plot_dir {
        let files = distiller::report::write_predicted_vs_realised(dir, series).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("wrote {}", files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", "));
    }
    println!(
        "| held-out task | pipelines | most popular: top-1 / best (rank) | auto: top-1 / best (rank) | Spearman | chosen bandwidth, teachers, ℓ; heaviest tasks | equal weights: top-1 / best (rank) | Spearman |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for c in &rows {
        println!("| {} | {} | {} | {} | {} | {} | {} | {} |", c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]);
    }
    println!();
    println!("| method | top-1 ≥ 99 % of best | mean top-1 / best | worst | mean Spearman |");
    println!("|---|---|---|---|---|");
    for (name, ratios, rhos) in &summaries {
        let hits = ratios.iter().filter(|&&r| r >= 0.99).count();
        let worst = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let rho = if rhos.is_empty() { "–".to_string() } else { format!("{:.3}", mean(rhos)) };
        println!("| {name} | {hits}/{} | {:.4} | {worst:.4} | {rho} |", ratios.len(), mean(ratios));
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn sample_variance(v: &[f64]) -> f64 {
    let m = mean(v);
    v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64
}

/// Per task of the TinyBERT4 ← BERT-base group: pooled variance of duplicate runs (same
/// configuration, same task) against the variance between configuration means — reliability =
/// 1 − within / between, the share of the spread that is signal — and the Spearman of "this
/// configuration's mean normalised rank on the other tasks" against its score here, i.e.
/// exact-configuration transfer.
fn noise_table(trials: &[PaperTrial], space: &Space) {
    let group: Vec<PaperTrial> = trials.iter().filter(|t| t.teacher == "BERT_BASE" && t.student == "TinyBERT4").cloned().collect();
    let runs: Vec<TaskRuns> = paper_trials::groups(&group)
        .into_iter()
        .map(|(paper_trials::Group { task, .. }, rows)| {
            (task, paper_trials::scores_by_config(&rows).into_iter().map(|(c, s)| (c.point(space).unwrap_or_else(|e| panic!("{e}")), s)).collect())
        })
        .collect();
    let means: Vec<Vec<(Point, f64)>> = runs.iter().map(|(_, configs)| configs.iter().map(|(p, s)| (p.clone(), mean(s))).collect()).collect();
    let ranks: Vec<Vec<f64>> = means.iter().map(|m| normalised_ranks(m)).collect();
    println!("| task | configs | run ≥ 2× | duplicate-run sd | between-config sd | reliability | exact-config transfer Spearman (configs) |");
    println!("|---|---|---|---|---|---|---|");
    let mut transfer = Vec::new();
    for (i, (name, configs)) in runs.iter().enumerate() {
        let repeated: Vec<&Vec<f64>> = configs.iter().map(|(_, s)| s).filter(|s| s.len() > 1).collect();
        let within = if repeated.is_empty() { f64::NAN } else { mean(&repeated.iter().map(|s| sample_variance(s)).collect::<Vec<_>>()) };
        let between = sample_variance(&means[i].iter().map(|(_, s)| *s).collect::<Vec<_>>());
        let (mut predicted, mut realised) = (Vec::new(), Vec::new());
        for (point, score) in &means[i] {
            let elsewhere: Vec<f64> = (0..runs.len()).filter(|&j| j != i).filter_map(|j| means[j].iter().position(|(p, _)| p == point).map(|k| ranks[j][k])).collect();
            if !elsewhere.is_empty() {
                predicted.push(mean(&elsewhere));
                realised.push(*score);
            }
        }
        let rho = spearman(&predicted, &realised);
        transfer.push(rho);
        println!(
            "| {name} | {} | {} | {:.4} | {:.4} | {:.2} | {rho:.2} ({}) |",
            configs.len(),
            repeated.len(),
            within.sqrt(),
            between.sqrt(),
            1.0 - within / between,
            predicted.len()
        );
    }
    println!("| mean | | | | | | {:.3} |", mean(&transfer));
}
