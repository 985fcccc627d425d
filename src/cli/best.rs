use clap::Args;

use super::{Common, Format};

#[derive(Debug, Args)]
pub struct BestArgs {
    #[arg(long)]
    pub study: String,
    /// table: a summary and the pipeline as TOML (ready for `distiller train --pipeline`); json:
    /// the trial record. A multi-objective study gives its Pareto set: every trial no other beats
    /// in all its objectives (json: an array of records).
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn exec(args: BestArgs, common: &Common) -> super::Outcome {
    let best = distiller::ops::best(&common.workspace()?, &args.study, &mut super::note)?;
    let objectives = &best.study.objectives;
    match args.format {
        Format::Json if objectives.len() > 1 => println!("{}", serde_json::to_string(&best.trials).expect("trials serialise")),
        Format::Json => println!("{}", serde_json::to_string(&best.trials[0]).expect("trial serialises")),
        Format::Table => {
            if objectives.len() > 1 {
                let names: Vec<&str> = objectives.iter().map(|o| o.name()).collect();
                println!("# Pareto set of study {} ({}): {} trial(s), best score first", args.study, names.join(", "), best.trials.len());
            }
            let mut trials = best.trials.clone();
            trials.sort_by(|a, b| b.score.unwrap_or(f64::MIN).total_cmp(&a.score.unwrap_or(f64::MIN)));
            for trial in &trials {
                let heading = if objectives.len() > 1 { String::new() } else { format!("best of study {}: ", args.study) };
                println!("# {heading}trial #{} | {}", trial.id, trial.metrics.as_ref().map(|m| m.to_string()).unwrap_or_default());
                if let Some(c) = &trial.compression {
                    println!("# {}", c.summary());
                }
                print!("{}", trial.pipeline.to_toml());
            }
        }
    }
    Ok(())
}
