//! Leave-one-task-out evaluation of the recommender through the CLI's code path: the paper's
//! released trials are imported by `ops::import_trials` (what `distiller import-trials` calls)
//! into a workspace of their own, each held-out task's pipelines are written as a candidates file,
//! and `ops::recommend` ranks them (what `distiller recommend META --space S --candidates F`
//! calls), with every study of the held-out task left out of what it learns from. Everything the
//! model chooses (blend, configuration scale, task bandwidth, teacher pooling) is chosen inside, by
//! leave-one-task-out among the remaining tasks.
//!
//! Per held-out task, side by side for the recommender (`--task-weights auto`, the default), the
//! "most popular" baseline (the `baseline_rank` that `recommend -f json` prints beside each pick)
//! and a random order (its expected value, exactly): the realised score of the top-1 pick over the
//! task's best, the Spearman correlation of the ranking with the realised scores over every
//! candidate, and NDCG@10 with each candidate's realised normalised rank (1 = best, 0 = worst) as
//! its gain. Then one summary row per method, equal task weights included.
//!
//! ```text
//! cargo run --release --example recommender_loto [-- --plot DIR]
//! cargo run --release --example recommender_loto -- --workspace DIR [--space FILE]
//! ```
//! Groups evaluated: TinyBERT4 ← BERT-base (8 tasks) and TinyBERT4 ← ELECTRA-large (2 tasks).
//! `--workspace` runs the same report on our own studies instead: the studies over `--space`
//! (default: the built-in default space) in that workspace's store, one per task. `--plot DIR`
//! draws predicted vs realised scores of the BERT-base group (predicted_vs_realised.png/svg).
//! For the BERT-base group, one more table gives the top-1 pick of every fixed blend and
//! configuration scale (`recommend --blend B --config-scale L`), and how many of each task's
//! pipelines are within 1 % and 1.5 % of its best. A last table measures the table's own noise.

// Shared with the tabular benchmark.
#[path = "lib/loto.rs"]
mod loto;

use distiller::data::metrics::spearman;
use distiller::data::{DatasetMeta, task_meta};
use distiller::ops::{ImportRequest, RecommendRequest, import_trials, recommend};
use distiller::recommend::paper_trials::{self, PaperTrial};
use distiller::recommend::{ModelChoice, Query, Recommendation, TaskWeighting, normalised_ranks};
use distiller::search::Space;
use distiller::search::space::Point;
use distiller::store::TrialState;
use distiller::workspace::Workspace;
use loto::{paper_space_for_ranking, table_candidates};
use std::path::{Path, PathBuf};

/// A task and every score each of its configurations got (duplicate runs kept apart).
type TaskRuns = (String, Vec<(Point, Vec<f64>)>);

/// A held-out task: its name, meta-features and every distinct pipeline it ran with its mean
/// score, in candidates-file order.
struct HeldOut {
    task: String,
    meta: DatasetMeta,
    results: Vec<(distiller::Pipeline, f64)>,
}

/// One ranking of a held-out task's candidates, scored.
#[derive(Clone, Copy, Default)]
struct Scored {
    top1: f64,
    rank_of_top1: usize,
    spearman: f64,
    ndcg10: f64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1));
    let scratch = tempfile::tempdir().expect("a scratch directory");
    if let Some(ws) = value("--workspace") {
        let space = match value("--space") {
            Some(path) => Space::from_file(Path::new(path)).unwrap_or_else(|e| panic!("{e}")),
            None => Space::builtin_default(),
        };
        return own_studies(&Workspace::new(ws), &space, scratch.path());
    }
    let table = Path::new("../shared/data/autodistiller/auto_distiller_tabular_data.csv");
    if !table.is_file() {
        eprintln!("skipping: the paper's released trials are not at {}", table.display());
        return;
    }
    let plot_dir = value("--plot").map(PathBuf::from);
    let workspace = Workspace::new(scratch.path().join("workspace"));
    let request = ImportRequest { csv: table.to_path_buf(), prefix: "paper".into(), data_dir: None, workspace: workspace.clone() };
    let imported = import_trials(&request, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("imported {} studies", imported.studies.len());
    let (trials, _) = paper_trials::load(table).unwrap_or_else(|e| panic!("{e}"));
    let space = paper_space_for_ranking();
    for (teacher, label) in [("BERT_BASE", "TinyBERT4 ← BERT-base"), ("ELECTRA-large", "TinyBERT4 ← ELECTRA-large")] {
        let group: Vec<PaperTrial> = trials.iter().filter(|t| t.teacher == teacher && t.student == "TinyBERT4").cloned().collect();
        let held_out: Vec<HeldOut> = paper_trials::groups(&group)
            .into_iter()
            .filter(|(_, rows)| rows.len() >= 10)
            .map(|(paper_trials::Group { task, .. }, rows)| HeldOut {
                meta: task_meta(&task, None).map(|(m, _)| m).unwrap_or_else(|| panic!("no meta for {task}")),
                results: table_candidates(&space, &rows).unwrap_or_else(|e| panic!("{e}")).into_iter().map(|(c, s)| (c.pipeline, s)).collect(),
                task,
            })
            .collect();
        println!("### {label}: {} tasks\n", held_out.len());
        leave_one_task_out(&workspace, &space, &held_out, teacher, scratch.path(), plot_dir.as_deref().filter(|_| teacher == "BERT_BASE"));
        println!();
        if teacher == "BERT_BASE" {
            fixed_settings(&workspace, &space, &held_out, teacher, scratch.path());
        }
    }
    noise_table(&trials, &space);
}

/// The same report on our own studies: every study over `space` in the workspace's store (for a
/// task found more than once, the study with the most finished first-rung pipelines), one task
/// held out at a time, scored on its first rung.
fn own_studies(workspace: &Workspace, space: &Space, scratch: &Path) {
    let storage = distiller::ops::open_store_to_read(workspace, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
    let mut held_out: Vec<HeldOut> = Vec::new();
    for study in storage.studies().unwrap_or_else(|e| panic!("{e}")) {
        if study.space.trim() != space.source.trim() {
            continue;
        }
        let mut results: Vec<(distiller::Pipeline, Point, Vec<f64>)> = Vec::new();
        for t in storage.trials(&study.name).unwrap_or_else(|e| panic!("{e}")).into_iter().filter(|t| t.state == TrialState::Complete && t.rung == 0) {
            let Some(score) = t.score else { continue };
            match results.iter_mut().find(|(_, p, _)| *p == t.point) {
                Some((_, _, scores)) => scores.push(score),
                None => results.push((t.pipeline, t.point, vec![score])),
            }
        }
        eprintln!("study {} ({}) has {} first-rung pipelines", study.name, study.task, results.len());
        let meta = study.meta.clone().or_else(|| task_meta(&study.task, None).map(|(m, _)| m)).unwrap_or_else(|| panic!("no meta for {}", study.task));
        let task = HeldOut { task: study.task.clone(), meta, results: results.into_iter().map(|(p, _, s)| (p, mean(&s))).collect() };
        match held_out.iter_mut().find(|h| h.task == task.task) {
            Some(seen) if seen.results.len() >= task.results.len() => {}
            Some(seen) => *seen = task,
            None => held_out.push(task),
        }
    }
    drop(storage);
    if held_out.len() < 2 {
        eprintln!("skipping: leave-one-task-out needs studies over the space of at least 2 tasks, found {}", held_out.len());
        return;
    }
    leave_one_task_out(workspace, space, &held_out, "", scratch, None);
}

/// `distiller recommend` for a held-out task: its pipelines written as a candidates file, ranked
/// by `ops::recommend` from every other task's studies.
fn recommend_held_out(workspace: &Workspace, space: &Space, task: &HeldOut, teacher: &str, model: ModelChoice, scratch: &Path) -> Recommendation {
    let file = scratch.join(format!("{}-candidates.jsonl", task.task));
    let lines: Vec<String> = task.results.iter().map(|(p, _)| serde_json::to_string(p).expect("a pipeline serialises")).collect();
    std::fs::write(&file, lines.join("\n")).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let query = Query {
        top: usize::MAX,
        model,
        teacher: Some(teacher.to_string()).filter(|t| !t.is_empty()),
        exclude_task: Some(task.task.clone()),
        ..Query::new(task.meta.clone(), space.clone())
    };
    let request = RecommendRequest { query, candidates: Some(file), workspace: workspace.clone() };
    recommend(request, &mut |_| {}).unwrap_or_else(|e| panic!("{}: {e}", task.task))
}

/// The top-1 pick of each held-out task (over its best, and its rank) under every fixed blend and
/// configuration scale, the rest chosen as by default; then how many of each task's pipelines are
/// within 1 % and 1.5 % of its best: how far the top-1 target is from chance.
fn fixed_settings(workspace: &Workspace, space: &Space, held_out: &[HeldOut], teacher: &str, scratch: &Path) {
    println!("Top-1 / best (its rank) with the blend and configuration scale fixed:\n");
    println!("| blend, ℓ | {} | ≥ 99 % | worst |", held_out.iter().map(|t| t.task.as_str()).collect::<Vec<_>>().join(" | "));
    println!("|---|{}---|---|", "---|".repeat(held_out.len()));
    for blend in [0.0, 0.5, 1.0] {
        for scale in [0.05, 0.1, 0.25, 1.0] {
            let model = ModelChoice { blend: Some(blend), config_scale: Some(scale), ..ModelChoice::default() };
            let picks: Vec<Scored> = held_out
                .iter()
                .map(|task| {
                    let answer = recommend_held_out(workspace, space, task, teacher, model, scratch);
                    score_order(task, &[answer.picks[0].line.expect("a candidates file gives lines") - 1])
                })
                .collect();
            let cells: Vec<String> = picks.iter().map(|s| format!("{:.4} ({})", s.top1, s.rank_of_top1)).collect();
            let worst = picks.iter().map(|s| s.top1).fold(f64::INFINITY, f64::min);
            println!("| {blend}, {scale} | {} | {}/{} | {worst:.4} |", cells.join(" | "), picks.iter().filter(|s| s.top1 >= 0.99).count(), picks.len());
        }
    }
    let within = |share: f64| -> Vec<String> {
        held_out
            .iter()
            .map(|t| {
                let best = t.results.iter().map(|(_, s)| *s).fold(f64::NEG_INFINITY, f64::max);
                format!("{} of {}", t.results.iter().filter(|(_, s)| *s >= share * best).count(), t.results.len())
            })
            .collect()
    };
    println!("| pipelines ≥ 99 % of best | {} | | |", within(0.99).join(" | "));
    println!("| pipelines ≥ 98.5 % of best | {} | | |\n", within(0.985).join(" | "));
}

/// Scores an order of the task's candidates (indices, best first): top-1 over the best, the top
/// pick's rank, Spearman of the order's position against the realised score, NDCG@10.
fn score_order(task: &HeldOut, order: &[usize]) -> Scored {
    let scores: Vec<f64> = task.results.iter().map(|(_, s)| *s).collect();
    let best = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let gains = gains(task);
    let top = scores[order[0]];
    let position: Vec<f64> = {
        let mut at = vec![0.0; scores.len()];
        for (k, &i) in order.iter().enumerate() {
            at[i] = -(k as f64);
        }
        at
    };
    let dcg: f64 = order.iter().take(10).enumerate().map(|(k, &i)| gains[i] / (k as f64 + 2.0).log2()).sum();
    Scored { top1: top / best, rank_of_top1: 1 + scores.iter().filter(|&&o| o > top).count(), spearman: spearman(&position, &scores), ndcg10: dcg / ideal_dcg(&gains) }
}

/// Each candidate's realised normalised rank (1 = best, 0 = worst): NDCG's gain.
fn gains(task: &HeldOut) -> Vec<f64> {
    let results: Vec<(Point, f64)> = task.results.iter().enumerate().map(|(i, (_, s))| (vec![Some(serde_json::json!(i))], *s)).collect();
    normalised_ranks(&results)
}

fn ideal_dcg(gains: &[f64]) -> f64 {
    let mut sorted = gains.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    sorted.iter().take(10).enumerate().map(|(k, g)| g / (k as f64 + 2.0).log2()).sum::<f64>().max(f64::MIN_POSITIVE)
}

/// A random order's expected scores, exactly: every candidate is equally likely at every position.
fn random_expectation(task: &HeldOut) -> Scored {
    let scores: Vec<f64> = task.results.iter().map(|(_, s)| *s).collect();
    let best = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let gains = gains(task);
    let discount: f64 = (0..scores.len().min(10)).map(|k| 1.0 / (k as f64 + 2.0).log2()).sum();
    Scored { top1: mean(&scores) / best, rank_of_top1: 0, spearman: 0.0, ndcg10: mean(&gains) * discount / ideal_dcg(&gains) }
}

/// Per held-out task, the recommender (auto and equal task weights), most popular and random side
/// by side; then one summary row per method.
fn leave_one_task_out(workspace: &Workspace, space: &Space, held_out: &[HeldOut], teacher: &str, scratch: &Path, plot_dir: Option<&Path>) {
    let names = ["recommend (auto, the default)", "recommend, equal task weights", "most popular (baseline)", "random (expected)"];
    let mut summaries: Vec<Vec<Scored>> = vec![Vec::new(); names.len()];
    let mut rows = Vec::new();
    let mut series = Vec::new();
    for task in held_out {
        let auto = recommend_held_out(workspace, space, task, teacher, TaskWeighting::Auto.into(), scratch);
        let equal = recommend_held_out(workspace, space, task, teacher, TaskWeighting::Equal.into(), scratch);
        // Candidate lines are 1-based, in the held-out task's order.
        let order = |answer: &Recommendation| answer.picks.iter().map(|p| p.line.expect("a candidates file gives lines") - 1).collect::<Vec<usize>>();
        let mut baseline: Vec<(usize, usize)> = auto.picks.iter().map(|p| (p.baseline_rank, p.line.expect("a line") - 1)).collect();
        baseline.sort();
        let scored = [
            score_order(task, &order(&auto)),
            score_order(task, &order(&equal)),
            score_order(task, &baseline.iter().map(|(_, i)| *i).collect::<Vec<_>>()),
            random_expectation(task),
        ];
        for (summary, s) in summaries.iter_mut().zip(scored) {
            summary.push(s);
        }
        let setting = auto.setting;
        let weighting =
            format!("{}, {}, ℓ {}", setting.task.map_or("equal".into(), |h| format!("{h}× median")), if setting.pooled { "pooled" } else { "same teacher" }, setting.config);
        let cell = |s: &Scored| format!("{:.4} ({}) / {:.3} / {:.3}", s.top1, s.rank_of_top1, s.spearman, s.ndcg10);
        rows.push(format!(
            "| {} | {} | {} | {} | {:.4} / {:.3} / {:.3} | {}; {weighting} |",
            task.task,
            task.results.len(),
            cell(&scored[0]),
            cell(&scored[2]),
            scored[3].top1,
            scored[3].spearman,
            scored[3].ndcg10,
            setting.model_name()
        ));
        let realised = |line: Option<usize>| task.results[line.expect("a line") - 1].1;
        series.push((task.task.clone(), auto.picks.iter().map(|p| (p.prediction.mean, realised(p.line))).collect::<Vec<_>>()));
    }
    if let Some(dir) = plot_dir {
        let files = distiller::report::write_predicted_vs_realised(dir, series).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("wrote {}", files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", "));
    }
    println!("Each cell: top-1 / best (its rank) / Spearman / NDCG@10.\n");
    println!("| held-out task | pipelines | recommend (auto) | most popular | random (expected) | model chosen; task weighting, teachers, ℓ |");
    println!("|---|---|---|---|---|---|");
    for row in &rows {
        println!("{row}");
    }
    println!();
    let wins = |a: usize, b: usize, f: fn(&Scored) -> f64| summaries[a].iter().zip(&summaries[b]).filter(|(x, y)| f(x) >= f(y)).count();
    println!("| method | top-1 ≥ 99 % of best | mean top-1 / best | worst | mean Spearman | mean NDCG@10 | Spearman ≥ most popular's | top-1 ≥ most popular's − 0.005 |");
    println!("|---|---|---|---|---|---|---|---|");
    for (k, (name, scored)) in names.iter().zip(&summaries).enumerate() {
        let top1: Vec<f64> = scored.iter().map(|s| s.top1).collect();
        let hits = top1.iter().filter(|&&r| r >= 0.99).count();
        let worst = top1.iter().copied().fold(f64::INFINITY, f64::min);
        let n = scored.len();
        let versus = if k < 2 {
            let close = summaries[k].iter().zip(&summaries[2]).filter(|(x, y)| x.top1 >= y.top1 - 0.005).count();
            (format!("{}/{n}", wins(k, 2, |s| s.spearman)), format!("{close}/{n}"))
        } else {
            ("–".into(), "–".into())
        };
        println!(
            "| {name} | {hits}/{n} | {:.4} | {worst:.4} | {:.3} | {:.3} | {} | {} |",
            mean(&top1),
            mean(&scored.iter().map(|s| s.spearman).collect::<Vec<_>>()),
            mean(&scored.iter().map(|s| s.ndcg10).collect::<Vec<_>>()),
            versus.0,
            versus.1
        );
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
