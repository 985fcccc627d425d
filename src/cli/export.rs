use clap::Args;
use std::path::PathBuf;

use super::{Common, Format};
use distiller::ops::{ExportRequest, export};

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long)]
    pub study: String,
    /// Trial id (default: the study's best complete trial).
    #[arg(long, allow_negative_numbers = true)]
    pub trial: Option<u64>,
    /// Destination directory: student checkpoint, pipeline.toml and metrics.json.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn exec(args: ExportArgs, common: &Common) -> super::Outcome {
    let request = ExportRequest { workspace: common.workspace()?, study: args.study, trial: args.trial, out: args.out };
    let exported = export(&request, &mut super::note)?;
    if let Some(note) = exported.hf_note {
        eprintln!("note: {note}");
    }
    let trial = exported.trial;
    match args.format {
        Format::Json => println!("{}", serde_json::json!({"study": request.study, "trial": trial.id, "score": trial.score, "out": request.out})),
        Format::Table => println!("exported trial #{} of study {} to {}", trial.id, request.study, request.out.display()),
    }
    Ok(())
}
