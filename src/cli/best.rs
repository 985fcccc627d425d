use clap::Args;

use super::{Common, Format};

#[derive(Debug, Args)]
pub struct BestArgs {
    #[arg(long)]
    pub study: String,
    /// table: a summary and the pipeline as TOML (ready for `distiller train --pipeline`); json: the trial record.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn exec(args: BestArgs, common: &Common) -> distiller::Result<()> {
    let storage = distiller::ops::open_store_to_read(&common.workspace()?, &mut super::note)?;
    let (_, trials) = distiller::ops::study_trials(storage.as_ref(), &args.study)?;
    let best = distiller::search::study::best_trial(&args.study, &trials)?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string(best).expect("trial serialises")),
        Format::Table => {
            println!("# best of study {}: trial #{} | {}", args.study, best.id, best.metrics.as_ref().map(|m| m.to_string()).unwrap_or_default());
            print!("{}", best.pipeline.to_toml());
        }
    }
    Ok(())
}
