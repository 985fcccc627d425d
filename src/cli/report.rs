use clap::{Args, ValueEnum};
use std::path::PathBuf;

use super::{Common, Format};
use distiller::ops::ReportRequest;
use distiller::report::PageFormat;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Page {
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
    /// The report page's format.
    #[arg(long, value_enum, default_value_t = Page::Md)]
    pub page: Page,
    /// What is printed: the page's path (table) or the written files (json).
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn exec(args: ReportArgs, common: &Common) -> super::Outcome {
    let page = match args.page {
        Page::Md => PageFormat::Markdown,
        Page::Html => PageFormat::Html,
    };
    let request = ReportRequest { workspace: common.workspace()?, study: args.study, out: args.out, page };
    let files = distiller::ops::report(&request, &mut super::note)?;
    match args.format {
        Format::Json => println!("{}", serde_json::json!({"page": files.page, "images": files.images})),
        Format::Table => println!("{} ({} plot files)", files.page.display(), files.images.len()),
    }
    Ok(())
}
