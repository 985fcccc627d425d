use clap::Args;

use super::{Common, Format};
use distiller::store::TrialState;

#[derive(Debug, Args)]
pub struct StudiesArgs {
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn exec(args: StudiesArgs, common: &Common) -> distiller::Result<()> {
    let storage = super::open_store_to_read(&common.workspace)?;
    let mut rows = Vec::new();
    for study in storage.studies()? {
        let trials = storage.trials(&study.name)?;
        let best = distiller::search::study::best_of(&trials).and_then(|t| t.score).unwrap_or(f64::NAN);
        rows.push(serde_json::json!({
            "name": study.name, "task": study.task, "sampler": study.sampler, "created": study.created,
            "trials": trials.len(), "complete": trials.iter().filter(|t| t.state == TrialState::Complete).count(),
            "best": if best.is_nan() { serde_json::Value::Null } else { serde_json::json!(best) },
        }));
    }
    match args.format {
        Format::Json => println!("{}", serde_json::Value::Array(rows)),
        Format::Table => {
            println!("{:<16} {:<8} {:<8} {:>7} {:>9} {:>8}", "study", "task", "sampler", "trials", "complete", "best");
            for r in rows {
                println!("{:<16} {:<8} {:<8} {:>7} {:>9} {:>8}", r["name"].as_str().unwrap_or(""), r["task"].as_str().unwrap_or(""), r["sampler"].as_str().unwrap_or(""), r["trials"].as_u64().unwrap_or(0), r["complete"].as_u64().unwrap_or(0), r["best"].as_f64().map_or("-".into(), |b| format!("{b:.4}")));
            }
        }
    }
    Ok(())
}
