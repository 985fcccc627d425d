//! Tabular benchmark of the samplers on the paper's released trials: each (task, teacher,
//! student) group with enough trials is a lookup objective whose space is the set of distinct
//! configurations the group ran (duplicates averaged). Prints, per group and sampler, the median
//! (IQR) trials to reach the group's best score and to reach within 1 % of it, and the mean
//! shortfall from the best after 10 and 20 trials; then the geometric mean over groups of
//! random/bo (trials to the best).
//!
//! ```text
//! cargo run --example tabular_benchmark -- [--seeds 50] [--min-trials 40] [--groups 10] [--variants] [--warm-start [--warm-k 5] [--sigma-weight 1]] [--samplers bo,grid,...]
//! cargo run --example tabular_benchmark -- --workers 1,2,4,8 [--seeds 50]
//! ```
//! `--workers` instead simulates that many workers of one study (each ask made while the
//! workers − 1 asked before it still run) for random and bo, and prints the trials and rounds
//! (wall clock, in trial durations) to the group's best, against one worker.
//! `--variants` also runs the BO variants docs/search.md compares; `--warm-start` adds BO whose
//! initial design is the recommender's top 5 (`--warm-k N`), the recommender trained on every group of the
//! table except those of the held-out group's task (leave-one-task-out), and `bo+warm+prior`,
//! which also uses the recommender's predictions as the GP's trend, and the same two with
//! Thompson sampling instead of EI (`bo:thompson+…`, σ weighted by `--sigma-weight`). `--samplers` keeps only
//! the named samplers (random always runs: it is the reference).

// Shared with the other research examples; each uses part of them.
#[allow(dead_code)]
#[path = "lib/loto.rs"]
mod loto;
#[allow(dead_code)]
#[path = "lib/tabular.rs"]
mod tabular;

use distiller::recommend::paper_trials::{self, PaperTrial, Skipped};
use distiller::recommend::{Candidate, Query, rank};
use distiller::search::encoding::Encoding;
use distiller::search::samplers::bo::{Acquisition, BoConfig, BoSampler, InitialDesign};
use distiller::search::samplers::{GridSampler, RandomSampler, Sampler, warm_start_points};
use distiller::search::space::Point;
use distiller::store::MemoryStorage;
use loto::{paper_space_for_ranking, table_candidates};
use rayon::prelude::*;
use std::path::PathBuf;
use tabular::{Replay, replay, replay_with_workers};

/// A (task, teacher, student) group of the paper's table and its trials.
type Group = (paper_trials::Group, Vec<PaperTrial>);

struct Args {
    csv: PathBuf,
    seeds: u64,
    min_trials: usize,
    groups: usize,
    variants: bool,
    warm_start: bool,
    warm_k: usize,
    sigma_weight: f64,
    warm_diverse: usize,
    only: Option<Vec<String>>,
    workers: Option<Vec<usize>>,
}

fn parse_args() -> Args {
    let mut args = Args {
        csv: PathBuf::from("../shared/data/autodistiller/auto_distiller_tabular_data.csv"),
        seeds: 50,
        min_trials: 40,
        groups: 10,
        variants: false,
        warm_start: false,
        warm_k: 5,
        sigma_weight: 1.0,
        warm_diverse: 1,
        only: None,
        workers: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--csv" => args.csv = PathBuf::from(value()),
            "--seeds" => args.seeds = value().parse().expect("--seeds N"),
            "--min-trials" => args.min_trials = value().parse().expect("--min-trials N"),
            "--groups" => args.groups = value().parse().expect("--groups N"),
            "--variants" => args.variants = true,
            "--warm-start" => args.warm_start = true,
            "--samplers" => args.only = Some(value().split(',').map(str::to_string).collect()),
            "--warm-k" => args.warm_k = value().parse().expect("--warm-k N"),
            "--sigma-weight" => args.sigma_weight = value().parse().expect("--sigma-weight W"),
            "--workers" => args.workers = Some(value().split(',').map(|q| q.parse().expect("--workers 1,2,4")).collect()),
            "--warm-diverse" => args.warm_diverse = value().parse().expect("--warm-diverse N"),
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

/// A group as a lookup objective: its distinct configurations (with the recommender's
/// candidates), their scores, the paper's space restricted to them, and the best score.
struct Lookup {
    candidates: Vec<(Candidate, f64)>,
    table: Vec<(Point, f64)>,
    space: distiller::search::Space,
    best: f64,
}

fn lookup(ranking_space: &distiller::search::Space, group: &[PaperTrial]) -> Lookup {
    let candidates = table_candidates(ranking_space, group).unwrap_or_else(|e| panic!("{e}"));
    let table: Vec<(Point, f64)> = candidates.iter().map(|(c, s)| (c.point.clone(), *s)).collect();
    let mut space = distiller::search::Space::builtin_paper();
    space.candidates = Some(table.iter().map(|(p, _)| p.clone()).collect());
    let best = table.iter().map(|(_, s)| *s).fold(f64::NEG_INFINITY, f64::max);
    Lookup { candidates, table, space, best }
}

/// Median and interquartile range of a sample.
fn quartiles(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let pos = q * (v.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
    };
    (at(0.5), at(0.25), at(0.75))
}

struct Summary {
    to_best: Vec<f64>,
    to_1pct: Vec<f64>,
    shortfall10: f64,
    shortfall20: f64,
}

fn summarise(runs: &[Replay], best: f64, size: usize) -> Summary {
    // A run that never reached the target counts as the whole table.
    let count = |r: &Replay, target: f64| r.trials_to(target).unwrap_or(size) as f64;
    let mean = |v: Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
    Summary {
        to_best: runs.iter().map(|r| count(r, best)).collect(),
        to_1pct: runs.iter().map(|r| count(r, best - 0.01 * best.abs())).collect(),
        shortfall10: mean(runs.iter().map(|r| r.shortfall_after(10, best)).collect()),
        shortfall20: mean(runs.iter().map(|r| r.shortfall_after(20, best)).collect()),
    }
}

fn main() {
    let args = parse_args();
    if !args.csv.is_file() {
        eprintln!("skipping: {} not found (the paper's released trials live in ../shared/data/autodistiller)", args.csv.display());
        return;
    }
    let (trials, skipped) = paper_trials::load(&args.csv).unwrap_or_else(|e| panic!("{e}"));
    if !skipped.lines.is_empty() {
        eprintln!("{} rows could not be mapped, first: line {}: {}", skipped.lines.len(), skipped.lines[0].0, skipped.lines[0].1);
    }
    let groups: Vec<Group> = paper_trials::groups(&trials).into_iter().filter(|(_, g)| g.len() >= args.min_trials).take(args.groups).collect();
    if let Some(workers) = &args.workers {
        return simulate_workers(&groups, workers, args.seeds);
    }

    // Each maker gets a seed and the recommender's ranking of the group's configurations (best first).
    type MakeSampler = Box<dyn Fn(u64, &[(Point, f64)]) -> Box<dyn Sampler> + Sync>;
    let k = args.warm_k;
    let diverse = args.warm_diverse;
    let top = move |ranked: &[(Point, f64)]| warm_start_points(ranked.iter().map(|(p, _)| p), k, diverse);
    let mut samplers: Vec<(String, MakeSampler)> = vec![
        ("random".into(), Box::new(|s, _| Box::new(RandomSampler { seed: s }))),
        ("grid".into(), Box::new(|_, _| Box::new(GridSampler))),
        ("bo".into(), Box::new(|s, _| Box::new(BoSampler::new(s)))),
    ];
    if args.warm_start {
        samplers.push(("bo+warm-start".into(), Box::new(move |s, ranked| Box::new(BoSampler::new(s).warm_started(top(ranked))))));
        samplers.push(("bo+warm+prior".into(), Box::new(move |s, ranked| Box::new(BoSampler::new(s).warm_started(top(ranked)).with_prior(ranked.to_vec())))));
        let thompson = BoConfig { acquisition: Acquisition::Thompson, sigma_weight: args.sigma_weight, ..BoConfig::default() };
        samplers.push(("bo:thompson+warm-start".into(), Box::new(move |s, ranked| Box::new(BoSampler::with_config(s, thompson).warm_started(top(ranked))))));
        samplers.push((
            "bo:thompson+warm+prior".into(),
            Box::new(move |s, ranked| Box::new(BoSampler::with_config(s, thompson).warm_started(top(ranked)).with_prior(ranked.to_vec()))),
        ));
    }
    if let Some(only) = &args.only {
        samplers.retain(|(name, _)| name == "random" || only.contains(name));
    }
    // The recommender learns from the whole table, imported as `distiller import-trials` does.
    let storage = import_in_memory(&trials, skipped);
    let ranking_space = paper_space_for_ranking();
    if args.variants {
        let base = BoConfig::default();
        let variants = [
            ("bo:egobox-snap", BoConfig { pool: false, encoding: Encoding::Plain, ..base }),
            ("bo:plain-enc", BoConfig { encoding: Encoding::Plain, ..base }),
            ("bo:maximin", BoConfig { design: InitialDesign::Maximin, ..base }),
            ("bo:init3", BoConfig { initial: 3, ..base }),
            ("bo:init10", BoConfig { initial: 10, ..base }),
            ("bo:nugget1e-6", BoConfig { nugget: 1e-6, ..base }),
            ("bo:nugget1e-1", BoConfig { nugget: 1e-1, ..base }),
            ("bo:explore2", BoConfig { sigma_weight: 2.0, ..base }),
        ];
        for (name, config) in variants {
            samplers.push((name.into(), Box::new(move |s, _| Box::new(BoSampler::with_config(s, config)))));
        }
    }

    println!("| group | configs | sampler | trials to best: median (IQR) | to within 1 %: median (IQR) | shortfall after 10 | after 20 |");
    println!("|---|---|---|---|---|---|---|");
    let mut medians: Vec<Vec<f64>> = vec![Vec::new(); samplers.len()];
    let mut shortfall20: Vec<Vec<f64>> = vec![Vec::new(); samplers.len()];
    for (paper_trials::Group { task, teacher, student }, group) in &groups {
        let Lookup { candidates, table, space, best } = lookup(&ranking_space, group);
        let ranked: Vec<(Point, f64)> = if args.warm_start {
            // What `search --warm-start` asks: every other task's studies, this task left out.
            let meta = distiller::data::task_meta(task, None).unwrap_or_else(|| panic!("no meta for {task}")).0;
            let query = Query {
                candidates: Some(candidates.into_iter().map(|(c, _)| c).collect()),
                top: usize::MAX,
                exclude_task: Some(task.clone()),
                ..Query::new(meta, ranking_space.clone())
            };
            rank(&storage, &query).unwrap_or_else(|e| panic!("{e}")).picks.into_iter().map(|p| (p.prediction.point, p.prediction.mean)).collect()
        } else {
            Vec::new()
        };
        for (k, (name, make)) in samplers.iter().enumerate() {
            let seeds = if name == "grid" { 1 } else { args.seeds };
            let runs: Vec<Replay> =
                (0..seeds).into_par_iter().map(|seed| replay(make(seed, &ranked).as_mut(), &space, &table, 20).unwrap_or_else(|e| panic!("{name}: {e}"))).collect();
            let s = summarise(&runs, best, table.len());
            let (m, q1, q3) = quartiles(&s.to_best);
            let (m1, p1, p3) = quartiles(&s.to_1pct);
            medians[k].push(m);
            shortfall20[k].push(s.shortfall20);
            println!(
                "| {task} {teacher}→{student} | {} | {name} | {m:.1} ({q1:.0}–{q3:.0}) | {m1:.1} ({p1:.0}–{p3:.0}) | {:.3} % | {:.3} % |",
                table.len(),
                s.shortfall10,
                s.shortfall20
            );
        }
    }
    println!();
    println!("| sampler | geo-mean random/sampler (trials to best) | worst group | mean shortfall after 20 |");
    println!("|---|---|---|---|");
    for (k, (name, _)) in samplers.iter().enumerate() {
        let ratios: Vec<f64> = medians[0].iter().zip(&medians[k]).map(|(r, s)| r / s).collect();
        let geo = (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp();
        let worst = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let sf = shortfall20[k].iter().sum::<f64>() / shortfall20[k].len() as f64;
        println!("| {name} | {geo:.2}× | {worst:.2}× | {sf:.3} % |");
    }
}

/// Per group and sampler, the median trials and rounds to the group's best with q simulated
/// workers; then, per sampler and q, the geometric mean over groups of each against the first q.
fn simulate_workers(groups: &[Group], workers: &[usize], seeds: u64) {
    type MakeSampler = fn(u64) -> Box<dyn Sampler>;
    let samplers: [(&str, MakeSampler); 2] = [("random", |s| Box::new(RandomSampler { seed: s })), ("bo", |s| Box::new(BoSampler::new(s)))];
    let ranking_space = paper_space_for_ranking();
    // [sampler][q] -> per-group (median trials, median rounds)
    let mut medians = vec![vec![Vec::new(); workers.len()]; samplers.len()];
    println!("| group | configs | sampler | workers | trials to best: median (IQR) | rounds to best: median (IQR) |");
    println!("|---|---|---|---|---|---|");
    for (paper_trials::Group { task, teacher, student }, group) in groups {
        let Lookup { table, space, best, .. } = lookup(&ranking_space, group);
        for (k, (name, make)) in samplers.iter().enumerate() {
            for (j, &q) in workers.iter().enumerate() {
                let runs: Vec<Replay> =
                    (0..seeds).into_par_iter().map(|seed| replay_with_workers(make(seed).as_mut(), &space, &table, 1, q).unwrap_or_else(|e| panic!("{name}: {e}"))).collect();
                // A run that never reached the best counts as the whole table.
                let trials: Vec<f64> = runs.iter().map(|r| r.trials_to(best).unwrap_or(table.len()) as f64).collect();
                let rounds: Vec<f64> = runs.iter().map(|r| r.rounds_to(best).unwrap_or(table.len() as f64 / q as f64)).collect();
                let ((t, t1, t3), (r, r1, r3)) = (quartiles(&trials), quartiles(&rounds));
                medians[k][j].push((t, r));
                println!("| {task} {teacher}→{student} | {} | {name} | {q} | {t:.1} ({t1:.0}–{t3:.0}) | {r:.1} ({r1:.1}–{r3:.1}) |", table.len());
            }
        }
    }
    println!();
    let reference = workers[0];
    println!("| sampler | workers | trials to best vs {reference} worker(s) (geo-mean over groups) | rounds to best vs {reference} worker(s) |");
    println!("|---|---|---|---|");
    let geo = |v: Vec<f64>| (v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64).exp();
    for (k, (name, _)) in samplers.iter().enumerate() {
        for (j, q) in workers.iter().enumerate() {
            let base = &medians[k][0];
            let trials = geo(medians[k][j].iter().zip(base).map(|(m, b)| m.0 / b.0).collect());
            let rounds = geo(medians[k][j].iter().zip(base).map(|(m, b)| m.1 / b.1).collect());
            println!("| {name} | {q} | {trials:.2}× | {rounds:.2}× |");
        }
    }
}

/// The paper's table stored as `distiller import-trials` stores it (each task's `.meta` from its
/// GLUE data here, else the shipped one), in memory.
fn import_in_memory(trials: &[PaperTrial], mut skipped: Skipped) -> MemoryStorage {
    let storage = MemoryStorage::default();
    let studies = paper_trials::import(&storage, trials, "paper", &|task| distiller::data::task_meta(task, None).map(|(m, _)| m), &mut skipped).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("imported {} studies", studies.len());
    storage
}
