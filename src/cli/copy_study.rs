use clap::Args;

use super::{Common, Format};
use distiller::ops::CopyRequest;

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

pub fn exec(args: CopyStudyArgs, common: &Common) -> super::Outcome {
    let to = super::parse_store("--to", &args.to)?;
    let request = CopyRequest { from: common.workspace()?, study: args.study, to, as_name: args.as_name };
    let copied = distiller::ops::copy_study(&request, &mut super::note)?;
    let (name, target) = (&copied.name, &request.to);
    for trial in &copied.left_out {
        eprintln!("note: trial #{} was left out: another client wrote it, and its parameters make no pipeline of the space ({})", trial.id, trial.reason);
    }
    let trials = copied.trials;
    match args.format {
        Format::Json => println!("{}", serde_json::json!({"study": name, "trials": trials, "left_out": copied.left_out.len(), "to": target.to_string()})),
        Format::Table => println!("copied study `{}` ({trials} trials) to {target} as `{name}`", request.study),
    }
    Ok(())
}
