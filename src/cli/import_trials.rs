use clap::Args;
use std::path::PathBuf;

use super::{Common, Format};
use distiller::data::MetaSource;
use distiller::ops::ImportRequest;

#[derive(Debug, Args)]
pub struct ImportTrialsArgs {
    /// The paper's released trials (auto_distiller_tabular_data.csv). Each (task, teacher,
    /// student) group becomes a study over search-spaces/paper.toml, with the task's meta-features
    /// (computed from its GLUE data when found, else the .meta shipped for the GLUE task).
    pub csv: PathBuf,
    /// Study names are <prefix>-<task>-<teacher>-<student>.
    #[arg(long, default_value = "paper")]
    pub prefix: String,
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn exec(args: ImportTrialsArgs, common: &Common) -> super::Outcome {
    let request = ImportRequest { csv: args.csv, prefix: args.prefix, data_dir: common.data_dir.clone(), workspace: common.workspace()? };
    let outcome = distiller::ops::import_trials(&request, &mut super::note)?;
    for (line, reason) in &outcome.skipped.lines {
        eprintln!("not imported: {}:{line}: {reason}", request.csv.display());
    }
    let source = |s: &Option<MetaSource>| match s {
        Some(MetaSource::Data) => "computed from its data",
        Some(MetaSource::Shipped) => "shipped .meta (public facts)",
        None => "none (unknown task)",
    };
    match args.format {
        Format::Json => {
            let studies: Vec<_> = outcome.studies.iter().map(|s| serde_json::json!({"study": s.name, "task": s.task, "trials": s.trials})).collect();
            let metas: serde_json::Map<String, serde_json::Value> = outcome.metas.iter().map(|(t, s)| (t.clone(), serde_json::json!(source(s)))).collect();
            println!("{}", serde_json::json!({"rows": outcome.rows, "studies": studies, "meta": metas, "skipped": outcome.skipped.lines.len()}));
        }
        Format::Table => {
            let imported: usize = outcome.studies.iter().map(|s| s.trials).sum();
            println!(
                "imported {imported} of {} rows into {} studies over search-spaces/paper.toml (largest: {})",
                outcome.rows,
                outcome.studies.len(),
                outcome.studies.first().map(|s| format!("{}, {} trials", s.name, s.trials)).unwrap_or_default()
            );
            println!("task meta-features: {}", outcome.metas.iter().map(|(t, s)| format!("{t}: {}", source(s))).collect::<Vec<_>>().join("; "));
            if !outcome.skipped.lines.is_empty() {
                println!("{} rows could not be mapped and were not imported (listed on stderr)", outcome.skipped.lines.len());
            }
        }
    }
    Ok(())
}
