use clap::{Args, ValueEnum};
use std::path::PathBuf;

use super::Common;
use distiller::report::PageFormat;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// report.md linking PNG plots.
    Md,
    /// One self-contained report.html (plots inlined as SVG).
    Html,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[arg(long)]
    pub study: String,
    /// Output directory (default: <workspace>/reports/<study>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    pub format: ReportFormat,
}

pub fn exec(args: ReportArgs, common: &Common) -> distiller::Result<()> {
    let storage = super::open_store_to_read(&common.workspace)?;
    let study = storage.study(&args.study)?.ok_or_else(|| distiller::Error::Config(format!("no study `{}` in {}", args.study, common.workspace.display())))?;
    let trials = storage.trials(&args.study)?;
    if trials.is_empty() {
        return Err(distiller::Error::Config(format!("study `{}` has no trials yet: nothing to report", args.study)));
    }
    let out = args.out.unwrap_or_else(|| common.workspace.join("reports").join(&args.study));
    let format = match args.format {
        ReportFormat::Md => PageFormat::Markdown,
        ReportFormat::Html => PageFormat::Html,
    };
    let files = distiller::report::write(&study, &trials, &out, format)?;
    println!("{} ({} plot files)", files.page.display(), files.images.len());
    Ok(())
}
