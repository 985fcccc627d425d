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

pub fn exec(args: BestArgs, common: &Common) -> super::Outcome {
    let best = distiller::ops::best(&common.workspace()?, &args.study, &mut super::note)?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string(&best).expect("trial serialises")),
        Format::Table => {
            println!("# best of study {}: trial #{} | {}", args.study, best.id, best.metrics.as_ref().map(|m| m.to_string()).unwrap_or_default());
            print!("{}", best.pipeline.to_toml());
        }
    }
    Ok(())
}
