use clap::Args;

use super::{Common, Format};
use distiller::ops::StudySummary;

#[derive(Debug, Args)]
pub struct StudiesArgs {
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn exec(args: StudiesArgs, common: &Common) -> super::Outcome {
    let summaries = distiller::ops::studies(&common.workspace()?, &mut super::note)?;
    match args.format {
        Format::Json => {
            let rows: Vec<_> = summaries
                .iter()
                .map(|StudySummary { study: s, trials, complete, best, foreign }| {
                    serde_json::json!({
                        "name": s.name, "task": s.task, "sampler": s.sampler, "created": s.created, "trials": trials, "complete": complete, "best": best, "foreign": foreign,
                        "teacher": s.teacher, "student": s.student, "meta": s.meta,
                    })
                })
                .collect();
            println!("{}", serde_json::Value::Array(rows));
        }
        Format::Table => {
            let cells: Vec<[String; 7]> = summaries
                .iter()
                .map(|StudySummary { study: s, trials, complete, best, foreign }| {
                    [
                        s.name.clone(),
                        s.task.clone(),
                        s.sampler.clone(),
                        trials.to_string(),
                        complete.to_string(),
                        best.map_or("-".into(), |b| format!("{b:.4}")),
                        foreign.to_string(),
                    ]
                })
                .collect();
            // `foreign`: trials other clients wrote that are not pipelines of the study's space.
            super::print_table(&["study", "task", "sampler", "trials", "complete", "best", "foreign"], &cells, 3);
        }
    }
    Ok(())
}
