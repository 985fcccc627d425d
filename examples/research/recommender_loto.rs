//! Leave-one-task-out evaluation of the recommender on the paper's released trials
//! (TinyBERT4 ← BERT-base, 8 GLUE tasks): for each held-out task, learn from the other 7, pick
//! among the configurations the held-out task actually ran, and report the realised score of the
//! top-1 pick relative to the task's best, its rank, and Spearman between predicted and realised
//! scores — next to the fixed "most popular" baseline.
//!
//! ```text
//! cargo run --example recommender_loto [-- --variants] [--plot DIR]
//! cargo run --example recommender_loto -- --workspace .distiller [--workspace DIR ...]
//! ```
//! `--workspace` runs the same report on our own searches instead: the default-space studies in
//! those workspaces' stores, one per task.
//! `--plot DIR` draws the default model's predicted vs realised scores (predicted_vs_realised.png/svg).
//! A last table measures the table's own noise: duplicate runs of one configuration against the
//! spread between configurations, and how well a configuration's rank on the other tasks predicts
//! its score here — what bounds any cross-task Spearman.

use distiller::recommend::paper_trials;
use distiller::recommend::{PastTask, Recommender, RecommenderConfig, Target, load_task_features, most_popular, normalised_ranks, past_tasks_in_store, spearman};
use distiller::search::Space;
use distiller::search::space::Point;
use std::path::{Path, PathBuf};

/// A task and every score each of its configurations got (duplicate runs kept apart).
type TaskRuns = (String, Vec<(Point, Vec<f64>)>);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let workspaces: Vec<PathBuf> = args.windows(2).filter(|w| w[0] == "--workspace").map(|w| PathBuf::from(&w[1])).collect();
    if !workspaces.is_empty() {
        return own_studies(&workspaces);
    }
    let dir = Path::new("../shared/data/autodistiller");
    let (table, features) = (dir.join("auto_distiller_tabular_data.csv"), dir.join("dataset_features_50_concat.csv"));
    if !table.is_file() || !features.is_file() {
        eprintln!("skipping: the paper's released trials are not in {}", dir.display());
        return;
    }
    let variants = args.iter().any(|a| a == "--variants");
    let plot_dir = args.iter().position(|a| a == "--plot").and_then(|i| args.get(i + 1)).map(PathBuf::from);
    let (trials, _) = paper_trials::load(&table).unwrap_or_else(|e| panic!("{e}"));
    let trials: Vec<_> = trials.into_iter().filter(|t| t.teacher == "BERT_BASE" && t.student == "TinyBERT4").collect();
    let meta = load_task_features(&features).unwrap_or_else(|e| panic!("{e}"));
    let space = paper_trials::space_of(&trials, "paper");
    let runs: Vec<TaskRuns> = paper_trials::groups(&trials).into_iter().map(|((task, _, _), group)| (task, paper_trials::scores_by_config(&group))).collect();
    let tasks: Vec<PastTask> = runs
        .iter()
        .map(|(task, configs)| PastTask {
            meta: meta.get(task).cloned().unwrap_or_default(),
            name: task.clone(),
            results: configs.iter().map(|(p, scores)| (p.clone(), mean(scores))).collect(),
        })
        .collect();

    let mut configs = vec![("kernel regression, all tasks equal (default)", RecommenderConfig::default())];
    if variants {
        let base = RecommenderConfig::default();
        configs.push(("task-similarity weighted (scale 1)", RecommenderConfig { task_scale: 1.0, ..base }));
        configs.push(("config scale 0.05 (near lookup)", RecommenderConfig { config_scale: 0.05, ..base }));
        configs.push(("config scale 1", RecommenderConfig { config_scale: 1.0, ..base }));
        configs.push(("config scale 0.25", RecommenderConfig { config_scale: 0.25, ..base }));
        configs.push(("config scale 0.05 + task-similarity (scale 1)", RecommenderConfig { config_scale: 0.05, task_scale: 1.0, ..base }));
        configs.push(("no shrinkage", RecommenderConfig { prior_weight: 1e-9, ..base }));
        configs.push(("strong shrinkage (5)", RecommenderConfig { prior_weight: 5.0, ..base }));
        configs.push(("score relative to the teacher regressed instead of rank", RecommenderConfig { target: Target::Value, ..base }));
    }
    // Scores relative to the task's teacher (the table's `ratio` = score / teacher score): ranks,
    // top-1 / best and Spearman within a task do not change, but a value-regressing model sees
    // every task on the teacher's scale.
    let relative: Vec<PastTask> = tasks
        .iter()
        .map(|task| {
            let teacher = median(trials.iter().filter(|t| t.task == task.name).filter_map(|t| t.ratio.map(|r| t.score / r)).collect());
            PastTask { results: task.results.iter().map(|(p, s)| (p.clone(), s / teacher)).collect(), ..task.clone() }
        })
        .collect();
    leave_one_task_out(&relative, &space, &configs, 3, plot_dir.as_deref());
    println!();
    noise_table(&runs, &tasks);
}

/// The same report on our own studies: every study over the built-in default space found in the
/// given workspaces' stores (for a task found more than once, the study with the most complete
/// first-rung pipelines), one task held out at a time, scored on its first rung (500 rows).
fn own_studies(workspaces: &[PathBuf]) {
    let space = Space::builtin_default();
    let mut tasks: Vec<PastTask> = Vec::new();
    for ws in workspaces {
        let storage = distiller::store::sled::read_snapshots(&ws.join("store")).unwrap_or_else(|e| panic!("{e}"));
        for mut task in past_tasks_in_store(&storage, &space, None).unwrap_or_else(|e| panic!("{e}")) {
            let name = task.name.rsplit_once(" (").map(|(_, t)| t.trim_end_matches(')').to_string()).unwrap_or(task.name.clone());
            eprintln!("{}: study {} has {} first-rung pipelines", ws.display(), task.name, task.results.len());
            task.name = name;
            match tasks.iter_mut().find(|t| t.name == task.name) {
                Some(seen) if seen.results.len() >= task.results.len() => {}
                Some(seen) => *seen = task,
                None => tasks.push(task),
            }
        }
    }
    if tasks.len() < 2 {
        eprintln!("skipping: leave-one-task-out needs default-space studies of at least 2 tasks, found {}", tasks.len());
        return;
    }
    // Each study ran 40 of the space's 390 pipelines, so few ran on 3 other tasks: the baseline
    // here ranks every pipeline that at least one other task ran.
    leave_one_task_out(&tasks, &space, &[("kernel regression, all tasks equal (default)", RecommenderConfig::default())], 1, None);
    println!();
    println!("| task | pipelines | also run by another task | best | worst |");
    println!("|---|---|---|---|---|");
    for task in &tasks {
        let shared = task.results.iter().filter(|(p, _)| tasks.iter().any(|o| o.name != task.name && o.results.iter().any(|(q, _)| q == p))).count();
        let (best, worst) = task.results.iter().fold((f64::NEG_INFINITY, f64::INFINITY), |(b, w), (_, s)| (b.max(*s), w.min(*s)));
        println!("| {} | {} | {shared} | {best:.4} | {worst:.4} |", task.name, task.results.len());
    }
}

/// For each task: learn from the others, rank the pipelines it ran, and compare the realised
/// score of the top-1 pick with its best (and with the "most popular" baseline's pick); then one
/// summary row per meta-model. The baseline ranks pipelines run on at least `popular_min_tasks`
/// other tasks.
fn leave_one_task_out(tasks: &[PastTask], space: &Space, configs: &[(&str, RecommenderConfig)], popular_min_tasks: usize, plot_dir: Option<&Path>) {
    let realised = |task: &PastTask, p: &Point| task.results.iter().find(|(q, _)| q == p).map(|(_, s)| *s).expect("candidate from the task");
    let rank_of = |task: &PastTask, s: f64| 1 + task.results.iter().filter(|(_, o)| *o > s).count();
    let summary = |name: &str, ratios: &[f64], rhos: &[f64]| {
        let mean = ratios.iter().sum::<f64>() / ratios.len() as f64;
        let worst = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let hits = ratios.iter().filter(|&&r| r >= 0.99).count();
        let rho = if rhos.is_empty() { "–".to_string() } else { format!("{:.3}", rhos.iter().sum::<f64>() / rhos.len() as f64) };
        println!("| {name} | {hits}/{} | {mean:.4} | {worst:.4} | {rho} |", ratios.len());
    };

    let mut rows = Vec::new();
    let mut popular_ratios = Vec::new();
    for task in tasks {
        let candidates: Vec<Point> = task.results.iter().map(|(p, _)| p.clone()).collect();
        let best = task.results.iter().map(|(_, s)| *s).fold(f64::NEG_INFINITY, f64::max);
        let pick = &most_popular(tasks, &candidates, &task.name, popular_min_tasks)[0];
        let s = realised(task, pick);
        popular_ratios.push(s / best);
        rows.push((task.name.clone(), candidates.len(), s / best, rank_of(task, s)));
    }
    let mut model_tables = Vec::new();
    for (name, config) in configs {
        let recommender = Recommender::new(tasks.to_vec(), space.clone(), *config).unwrap_or_else(|e| panic!("{e}"));
        let (mut ratios, mut rhos, mut per_task, mut series) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for task in tasks {
            let candidates: Vec<Point> = task.results.iter().map(|(p, _)| p.clone()).collect();
            let best = task.results.iter().map(|(_, s)| *s).fold(f64::NEG_INFINITY, f64::max);
            let ranked = recommender.rank(&task.meta, &candidates, Some(&task.name));
            let s = realised(task, &ranked[0].point);
            let predicted: Vec<f64> = ranked.iter().map(|p| p.mean).collect();
            let actual: Vec<f64> = ranked.iter().map(|p| realised(task, &p.point)).collect();
            let rho = spearman(&predicted, &actual);
            ratios.push(s / best);
            rhos.push(rho);
            per_task.push((s / best, rank_of(task, s), rho, ranked[0].mean, ranked[0].sd));
            series.push((task.name.clone(), predicted.into_iter().zip(actual).collect::<Vec<_>>()));
        }
        if let (Some(dir), true) = (plot_dir, model_tables.is_empty()) {
            let files = distiller::report::write_predicted_vs_realised(dir, series).unwrap_or_else(|e| panic!("{e}"));
            eprintln!("wrote {}", files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", "));
        }
        model_tables.push((name, ratios, rhos, per_task));
    }

    println!("| held-out task | configs | most popular: top-1 / best (rank) | recommender: top-1 / best (rank) | Spearman | predicted rank ± sd |");
    println!("|---|---|---|---|---|---|");
    for (i, (task, n, ratio, rank)) in rows.iter().enumerate() {
        let (r, k, rho, mean, sd) = model_tables[0].3[i];
        println!("| {task} | {n} | {ratio:.4} ({rank}) | {r:.4} ({k}) | {rho:.3} | {mean:.2} ± {sd:.2} |");
    }
    println!();
    println!("| model | top-1 ≥ 99 % of best | mean top-1 / best | worst | mean Spearman |");
    println!("|---|---|---|---|---|");
    summary("most popular (baseline)", &popular_ratios, &[]);
    for (name, ratios, rhos, _) in &model_tables {
        summary(name, ratios, rhos);
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    assert!(!v.is_empty(), "a task without any teacher ratio");
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn sample_variance(v: &[f64]) -> f64 {
    let m = mean(v);
    v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64
}

/// Per task: pooled variance of duplicate runs (same configuration, same task) against the
/// variance between configuration means — reliability = 1 − within / between, the share of the
/// spread that is signal — and the Spearman of "this configuration's mean normalised rank on the
/// other tasks" against its score here, i.e. exact-configuration transfer.
fn noise_table(runs: &[TaskRuns], tasks: &[PastTask]) {
    let ranks: Vec<Vec<f64>> = tasks.iter().map(|t| normalised_ranks(&t.results)).collect();
    println!("| task | configs | run ≥ 2× | duplicate-run sd | between-config sd | reliability | exact-config transfer Spearman (configs) |");
    println!("|---|---|---|---|---|---|---|");
    let mut transfer = Vec::new();
    for ((name, configs), task) in runs.iter().zip(tasks) {
        let repeated: Vec<&Vec<f64>> = configs.iter().map(|(_, s)| s).filter(|s| s.len() > 1).collect();
        let within = if repeated.is_empty() { f64::NAN } else { mean(&repeated.iter().map(|s| sample_variance(s)).collect::<Vec<_>>()) };
        let between = sample_variance(&task.results.iter().map(|(_, s)| *s).collect::<Vec<_>>());
        let (mut predicted, mut realised) = (Vec::new(), Vec::new());
        for (point, score) in &task.results {
            let elsewhere: Vec<f64> = tasks
                .iter()
                .zip(&ranks)
                .filter(|(other, _)| other.name != task.name)
                .filter_map(|(other, r)| other.results.iter().position(|(p, _)| p == point).map(|i| r[i]))
                .collect();
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
