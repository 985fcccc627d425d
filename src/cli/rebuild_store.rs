use clap::Args;

use super::{Common, Format};

#[derive(Debug, Args)]
pub struct RebuildStoreArgs {
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn exec(args: RebuildStoreArgs, common: &Common) -> super::Outcome {
    let rebuilt = distiller::ops::rebuild_store(&common.workspace()?)?;
    match args.format {
        Format::Json => println!("{}", serde_json::json!({"studies": rebuilt.studies, "trials": rebuilt.trials, "damaged_store": rebuilt.aside})),
        Format::Table => {
            println!("rebuilt the store from its snapshots: {} studies, {} trials; the damaged database is kept in {}", rebuilt.studies, rebuilt.trials, rebuilt.aside.display())
        }
    }
    Ok(())
}
