use clap::Args;

use super::{Common, Format};
use distiller::data::Task;

#[derive(Debug, Args)]
pub struct MetaArgs {
    /// GLUE task name or custom task spec (.toml).
    #[arg(long)]
    pub task: String,
    /// table: the .meta file (TOML); json: the same fields as JSON.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn exec(args: MetaArgs, common: &Common) -> super::Outcome {
    let task = Task::resolve(&args.task)?;
    let meta = distiller::ops::meta(&task, common.data_dir.as_deref())?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string(&meta).expect("meta serialises")),
        Format::Table => print!("{}", meta.to_toml()),
    }
    Ok(())
}
