//! Shared by the research examples (each includes it with `#[path]`): the "most popular"
//! baseline and the paper's table as candidates, for leave-one-task-out runs of the recommender.

use distiller::recommend::paper_trials::{self, PaperTrial, Skipped, scores_by_config};
use distiller::recommend::{Candidate, PastTask, normalised_ranks};
use distiller::search::space::{Point, Space};
use distiller::store::MemoryStorage;
use distiller::{Error, Result};

/// The "most popular" baseline: candidates ordered by their mean normalised rank over the past
/// tasks (except `exclude`) that ran them, among those run on at least `min_tasks` tasks; the
/// rest follow in table order.
pub fn most_popular(tasks: &[PastTask], candidates: &[Point], exclude: &str, min_tasks: usize) -> Vec<Point> {
    let others: Vec<(&PastTask, Vec<f64>)> = tasks.iter().filter(|t| t.task != exclude).map(|t| (t, normalised_ranks(&t.results))).collect();
    let mut scored: Vec<(f64, usize)> = Vec::new();
    for (i, c) in candidates.iter().enumerate() {
        let ranks: Vec<f64> = others.iter().filter_map(|(t, r)| t.results.iter().position(|(p, _)| p == c).map(|j| r[j])).collect();
        let mean = if ranks.len() >= min_tasks { ranks.iter().sum::<f64>() / ranks.len() as f64 } else { f64::NEG_INFINITY };
        scored.push((mean, i));
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().map(|(_, i)| candidates[i].clone()).collect()
}

/// The paper's space with a paraphrase file named (never read: nothing is trained), so that every
/// pipeline of the released table — back-translation chains included — composes and can be ranked.
pub fn paper_space_for_ranking() -> Space {
    Space::parse(&distiller::search::PAPER_SPACE.replace("[fixed]\n", "[fixed]\n\"augment.paraphrases\" = \"paraphrases.tsv\"\n"), "paper space with paraphrases")
        .expect("the paper space parses (tested)")
}

/// The distinct pipelines of `rows` as candidates of `space`, each with its mean score over
/// duplicate runs, in first-seen order.
pub fn table_candidates(space: &Space, rows: &[PaperTrial]) -> Result<Vec<(Candidate, f64)>> {
    scores_by_config(rows)
        .into_iter()
        .map(|(choices, scores)| {
            let point = choices.point(space).map_err(Error::Recommend)?;
            Ok((Candidate { line: 0, pipeline: space.compose(&point)?, point }, scores.iter().sum::<f64>() / scores.len() as f64))
        })
        .collect()
}

/// The paper's table stored as `distiller import-trials` stores it (each task's `.meta` from its
/// GLUE data here, else the shipped one), in memory.
pub fn import_in_memory(trials: &[PaperTrial], mut skipped: Skipped) -> MemoryStorage {
    let storage = MemoryStorage::default();
    let studies = paper_trials::import(&storage, trials, "paper", &|task| distiller::data::task_meta(task, None).map(|(m, _)| m), &mut skipped).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("imported {} studies", studies.len());
    storage
}
