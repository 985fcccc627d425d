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
    #[error("no data for task {task}: looked in {looked}", looked = .looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
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
    /// A request option whose value cannot work, named as the request's field (`max_len`).
    #[error("{option}: {message}")]
    InvalidOption { option: &'static str, message: String },
    /// An option only the BO sampler takes, asked of another sampler.
    #[error("{option} needs the bo sampler")]
    NeedsBo { option: &'static str },
    /// A text longer than the positions a model has.
    #[error("max_len {max_len} exceeds the {positions} positions of {}", .model.display())]
    TooLong { max_len: usize, positions: usize, model: PathBuf },
    /// A study the store does not hold; `known` lists those it does.
    #[error("no study `{name}` ({})", if .known.is_empty() { "the store has none yet".to_string() } else { format!("studies: {}", .known.join(", ")) })]
    NoSuchStudy { name: String, known: Vec<String> },
    /// A new study whose name the target store already holds.
    #[error("the target store already has a study `{name}`")]
    StudyExists { name: String },
    /// A study of that name that distiller did not make (another Optuna client's).
    #[error("study `{name}` exists and was not made by distiller")]
    StudyNotOurs { name: String },
    /// A study resumed for another task than it was made for.
    #[error("study `{study}` is for task {has}, not {asked}")]
    StudyOfOtherTask { study: String, has: String, asked: String },
    /// A study resumed with another search space than it was made with.
    #[error("study `{study}` was created with a different search space")]
    StudyOfOtherSpace { study: String },
    /// A study with no trial, where one was needed.
    #[error("study `{study}` has no trials yet")]
    NoTrials { study: String },
    /// A study with no COMPLETE trial, where a best one was asked for.
    #[error("study `{study}` has no complete trial")]
    NoCompleteTrial { study: String },
    #[error("study `{study}` has no trial #{id}")]
    NoSuchTrial { study: String, id: u64 },
    /// A trial that did not complete, where its student was asked for.
    #[error("trial #{id} is {state}, not COMPLETE: it has no student")]
    TrialNotComplete { id: u64, state: &'static str },
    #[error("trial #{id} kept no student checkpoint")]
    NoStudent { id: u64 },
    /// A student that lives on the machine that trained it (a study many workers share).
    #[error("trial #{id}'s checkpoint is on {host}, at {}", .path.display())]
    StudentElsewhere { id: u64, host: String, path: PathBuf },
    /// A task without a fine-tuned teacher where one was needed.
    #[error("no teacher checkpoint at {}", .dir.display())]
    NoTeacher { dir: PathBuf, task: String },
    /// A teacher name no study learnt from has.
    #[error("no study learnt from has the teacher `{wanted}` (teachers: {})", .known.join(", "))]
    UnknownTeacher { wanted: String, known: Vec<String> },
    /// A sampler that cannot propose (egobox failed, no valid point).
    #[error("sampler: {0}")]
    Sampler(String),
    /// The recommender cannot rank (too few tasks to choose its scales, candidates it cannot read).
    #[error("recommend: {0}")]
    Recommend(String),
    /// No study in the store fits the space (`why`: the first reasons; empty when there is none).
    #[error("recommend: nothing to learn from: {}", if .why.is_empty() { "the store holds no study".to_string() } else { format!("no study in the store fits this space ({})", .why) })]
    NothingToLearnFrom { why: String },
    /// A report plot that could not be drawn.
    #[error("{path}: could not draw: {message}")]
    Plot { path: PathBuf, message: String },
    /// A compute backend that is not compiled in.
    #[error("{0}")]
    Backend(String),
    #[error("pretrained teacher not found: {0}")]
    TeacherNotFound(String),
    /// A store address that does not parse (the URL without its password).
    #[error("{url}: {message}")]
    StoreUrl { url: String, message: String },
    /// A sled store another process holds (its pid, when the lock file says it).
    #[error("{}: store is locked by {} (another distiller is using it)", .path.display(), .pid.map_or("another process".to_string(), |pid| format!("pid {pid}")))]
    StoreLocked { path: PathBuf, pid: Option<u32> },
    /// A store whose database opens fine, asked to be rebuilt.
    #[error("{}: the store opens fine, nothing to rebuild", .path.display())]
    NothingToRebuild { path: PathBuf },
    /// A shared database asked to be rebuilt from snapshots, which only sled stores keep.
    #[error("{url} is a PostgreSQL database, which keeps no snapshots: only a sled store is rebuilt from them")]
    NoSnapshots { url: String },
    /// A study copied onto the store it is in.
    #[error("{store} is the store the study is in")]
    SameStore { store: String },
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
