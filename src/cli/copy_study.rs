use clap::Args;

use super::{Common, Format};

#[derive(Debug, Args)]
pub struct CopyStudyArgs {
    /// The study to copy, from the workspace's store (or --storage).
    #[arg(long)]
    pub study: String,
    /// Where to copy it: sled:PATH or postgresql://user@host:port/db.
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// The copy's name (default: the same name).
    #[arg(long = "as", value_name = "NAME")]
    pub as_name: Option<String>,
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn exec(args: CopyStudyArgs, common: &Common) -> distiller::Result<()> {
    // The location parser names --storage; here the flag is --to.
    let target = distiller::store::StoreLocation::parse(&args.to).map_err(|e| distiller::Error::Usage(e.to_string().replacen("--storage", "--to", 1)))?;
    let from_workspace = common.workspace()?;
    let to_workspace = from_workspace.clone().with_store(target.clone());
    if from_workspace.store() == to_workspace.store() {
        return Err(distiller::Error::Usage(format!("--to {target} is the store the study is in")));
    }
    let mut note = |line: &str| eprintln!("{line}");
    let from = distiller::ops::open_store_to_read(&from_workspace, &mut note)?;
    let to = distiller::ops::open_store(&to_workspace, &mut note)?;
    let name = args.as_name.as_deref().unwrap_or(&args.study);
    let copied = distiller::ops::copy_study(from.as_ref(), &args.study, to.as_ref(), name)?;
    for trial in &copied.left_out {
        eprintln!("note: trial #{} was left out: another client wrote it, and its parameters make no pipeline of the space ({})", trial.id, trial.reason);
    }
    let trials = copied.trials;
    match args.format {
        Format::Json => println!("{}", serde_json::json!({"study": name, "trials": trials, "left_out": copied.left_out.len(), "to": target.to_string()})),
        Format::Table => println!("copied study `{}` ({trials} trials) to {target} as `{name}`", args.study),
    }
    Ok(())
}
