use clap::Args;
use std::path::PathBuf;

use super::Common;

#[derive(Debug, Args)]
pub struct ImportTrialsArgs {
    /// The paper's released trials (auto_distiller_tabular_data.csv).
    pub csv: PathBuf,
    /// Study names are <prefix>-<task>-<teacher>-<student>.
    #[arg(long, default_value = "paper")]
    pub prefix: String,
}

pub fn exec(args: ImportTrialsArgs, common: &Common) -> distiller::Result<()> {
    let (trials, skipped) = distiller::paper_trials::load(&args.csv)?;
    let storage = super::open_store(&common.workspace)?;
    let imported = distiller::paper_trials::import(&storage, &trials, &args.csv, &args.prefix)?;
    println!("imported {} trials into {} studies (largest: {})", trials.len(), imported.len(), imported.first().map(|(n, k)| format!("{n}, {k} trials")).unwrap_or_default());
    if !skipped.lines.is_empty() {
        eprintln!("{} rows could not be mapped and were not imported:", skipped.lines.len());
        for (line, reason) in &skipped.lines {
            eprintln!("  {}:{line}: {reason}", args.csv.display());
        }
    }
    Ok(())
}
