use clap::Args;

use super::Common;
use distiller::data::{Split, Task, load_split};
use distiller::meta::DatasetMeta;

#[derive(Debug, Args)]
pub struct MetaArgs {
    /// GLUE task name or custom task spec (.toml).
    #[arg(long)]
    pub task: String,
}

pub fn exec(args: MetaArgs, common: &Common) -> distiller::Result<()> {
    let task = Task::resolve(&args.task)?;
    let train = load_split(&task, Split::Train, common.data_dir.as_deref())?;
    print!("{}", DatasetMeta::from_examples(&train, &task.label_kind()).to_toml());
    Ok(())
}
