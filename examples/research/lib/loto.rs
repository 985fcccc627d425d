//! Shared by the research examples (each includes it with `#[path]`): the paper's table as
//! candidates, for leave-one-task-out runs of the recommender.

use distiller::recommend::Candidate;
use distiller::recommend::paper_trials::{PaperTrial, scores_by_config};
use distiller::search::space::Space;
use distiller::{Error, Result};

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
