use clap::Args;
use std::path::PathBuf;

use super::Common;
use distiller::Error;
use distiller::store::TrialState;

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long)]
    pub study: String,
    /// Trial id (default: the study's best complete trial).
    #[arg(long)]
    pub trial: Option<u64>,
    /// Destination directory: student checkpoint, pipeline.toml and metrics.json.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn exec(args: ExportArgs, common: &Common) -> distiller::Result<()> {
    let storage = super::open_store_to_read(&common.workspace)?;
    let trials = storage.trials(&args.study)?;
    let trial = match args.trial {
        Some(id) => trials.iter().find(|t| t.id == id).ok_or_else(|| Error::Config(format!("study `{}` has no trial #{id}", args.study)))?,
        None => distiller::search::study::best_of(&trials).ok_or_else(|| Error::Config(format!("study `{}` has no complete trial", args.study)))?,
    };
    if trial.state != TrialState::Complete {
        return Err(Error::Config(format!("trial #{} is {:?}, not COMPLETE: nothing to export", trial.id, trial.state)));
    }
    let src = trial.student_dir.as_ref().ok_or_else(|| Error::Config(format!("trial #{} kept no student checkpoint", trial.id)))?;
    std::fs::create_dir_all(&args.out).map_err(|e| Error::Io { path: args.out.clone(), source: e })?;
    for entry in std::fs::read_dir(src).map_err(|e| Error::Io { path: src.clone(), source: e })? {
        let entry = entry.map_err(|e| Error::Io { path: src.clone(), source: e })?;
        if entry.path().is_file() {
            std::fs::copy(entry.path(), args.out.join(entry.file_name())).map_err(|e| Error::Io { path: entry.path(), source: e })?;
        }
    }
    let write = |name: &str, text: String| std::fs::write(args.out.join(name), text).map_err(|e| Error::Io { path: args.out.join(name), source: e });
    write("pipeline.toml", trial.pipeline.to_toml())?;
    write("metrics.json", serde_json::to_string_pretty(&serde_json::json!({ "study": args.study, "trial": trial.id, "score": trial.score, "metrics": trial.metrics })).expect("serialises"))?;
    println!("exported trial #{} of study {} to {}", trial.id, args.study, args.out.display());
    Ok(())
}
