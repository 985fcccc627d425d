//! A study's report (plots and a page): what `distiller report` does.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::report::{PageFormat, ReportFiles};
use crate::workspace::Workspace;

/// A `distiller report` request.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    pub workspace: Workspace,
    pub study: String,
    /// Output folder (default: the workspace's report folder of the study).
    pub out: Option<PathBuf>,
    pub page: PageFormat,
}

/// Draws the study's plots and writes its page.
pub fn report(request: &ReportRequest, log: &mut dyn FnMut(&str)) -> Result<ReportFiles> {
    let storage = super::open_store_to_read(&request.workspace, log)?;
    let (study, trials) = crate::store::study_trials(storage.as_ref(), &request.study)?;
    if trials.is_empty() {
        return Err(Error::NoTrials { study: request.study.clone() });
    }
    let out = request.out.clone().unwrap_or_else(|| request.workspace.report_dir(&request.study));
    crate::report::write(&study, &trials, &out, request.page)
}
