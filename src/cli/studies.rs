use clap::Args;

use super::{Common, Format};
use distiller::store::TrialState;

#[derive(Debug, Args)]
pub struct StudiesArgs {
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn exec(args: StudiesArgs, common: &Common) -> distiller::Result<()> {
    let storage = distiller::ops::open_store_to_read(&common.workspace()?, &mut super::note)?;
    let mut rows = Vec::new();
    for study in storage.studies()? {
        let trials = storage.trials(&study.name)?;
        let best = distiller::search::study::best_of(&trials).and_then(|t| t.score);
        let complete = trials.iter().filter(|t| t.state == TrialState::Complete).count();
        let foreign = storage.foreign_trials(&study.name)?.len();
        rows.push((study, trials.len(), complete, best, foreign));
    }
    match args.format {
        Format::Json => {
            let rows: Vec<_> = rows
                .iter()
                .map(|(s, n, complete, best, foreign)| {
                    serde_json::json!({
                        "name": s.name, "task": s.task, "sampler": s.sampler, "created": s.created, "trials": n, "complete": complete, "best": best, "foreign": foreign,
                        "teacher": s.teacher, "student": s.student, "meta": s.meta,
                    })
                })
                .collect();
            println!("{}", serde_json::Value::Array(rows));
        }
        Format::Table => {
            let cells: Vec<[String; 7]> = rows
                .iter()
                .map(|(s, n, complete, best, foreign)| {
                    [s.name.clone(), s.task.clone(), s.sampler.clone(), n.to_string(), complete.to_string(), best.map_or("-".into(), |b| format!("{b:.4}")), foreign.to_string()]
                })
                .collect();
            // `foreign`: trials other clients wrote that are not pipelines of the study's space.
            super::print_table(&["study", "task", "sampler", "trials", "complete", "best", "foreign"], &cells, 3);
        }
    }
    Ok(())
}
