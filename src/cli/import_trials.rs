use clap::Args;
use std::path::PathBuf;

use super::{Common, Format};
use distiller::recommend::paper_trials;

#[derive(Debug, Args)]
pub struct ImportTrialsArgs {
    /// The paper's released trials (auto_distiller_tabular_data.csv).
    pub csv: PathBuf,
    /// Study names are <prefix>-<task>-<teacher>-<student>.
    #[arg(long, default_value = "paper")]
    pub prefix: String,
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn exec(args: ImportTrialsArgs, common: &Common) -> distiller::Result<()> {
    let (trials, skipped) = paper_trials::load(&args.csv)?;
    let storage = distiller::ops::open_store(&common.workspace(), &mut super::note)?;
    let imported = paper_trials::import(&storage, &trials, &args.csv, &args.prefix)?;
    for (line, reason) in &skipped.lines {
        eprintln!("not imported: {}:{line}: {reason}", args.csv.display());
    }
    match args.format {
        Format::Json => {
            let studies: Vec<_> = imported.iter().map(|(n, k)| serde_json::json!({"study": n, "trials": k})).collect();
            println!("{}", serde_json::json!({"trials": trials.len(), "studies": studies, "skipped": skipped.lines.len()}));
        }
        Format::Table => {
            println!(
                "imported {} trials into {} studies (largest: {})",
                trials.len(),
                imported.len(),
                imported.first().map(|(n, k)| format!("{n}, {k} trials")).unwrap_or_default()
            );
            if !skipped.lines.is_empty() {
                println!("{} rows could not be mapped and were not imported (listed on stderr)", skipped.lines.len());
            }
        }
    }
    Ok(())
}
