//! `back_translation` without an MT model: paraphrases are read from a user's file, e.g. made
//! once with any translation system (English → German → English) on a machine that has one.
//!
//! Format: UTF-8 TSV, one `original<TAB>paraphrase` per line; an original may have several lines
//! (one of its paraphrases is picked per copy); an optional first line `original<TAB>paraphrase`
//! is a header; originals are matched after trimming surrounding whitespace. Every sentence of the
//! training data must have a paraphrase.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::SentenceOp;
use crate::error::{Error, Result};

pub struct Paraphrases {
    path: PathBuf,
    by_original: HashMap<String, Vec<String>>,
}

impl Paraphrases {
    pub fn load(path: &Path) -> Result<Self> {
        let text = crate::data::read_utf8(existing(path)?)?;
        let mut by_original: HashMap<String, Vec<String>> = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() || (n == 0 && line.eq_ignore_ascii_case("original\tparaphrase")) {
                continue;
            }
            let columns: Vec<&str> = line.split('\t').collect();
            let [original, paraphrase] = columns[..] else {
                return Err(Error::malformed(path, n + 1, format!("expected 2 tab-separated columns (original, paraphrase), found {}", columns.len())));
            };
            if original.trim().is_empty() || paraphrase.trim().is_empty() {
                return Err(Error::malformed(path, n + 1, "empty original or paraphrase"));
            }
            by_original.entry(original.trim().to_string()).or_default().push(paraphrase.trim().to_string());
        }
        Ok(Self { path: path.into(), by_original })
    }
}

/// The paraphrase file's path, or the error a user should see when it is not there.
pub(crate) fn existing(path: &Path) -> Result<&Path> {
    if path.is_file() { Ok(path) } else { Err(Error::pipeline("augment.paraphrases", format!("{}: paraphrase file for back_translation not found", path.display()))) }
}

impl SentenceOp for Paraphrases {
    fn apply(&self, sentences: &[&str], seeds: &[u64]) -> Result<Vec<String>> {
        let mut missing = sentences.iter().filter(|s| !self.by_original.contains_key(s.trim()));
        if let Some(first) = missing.next() {
            let count = 1 + missing.count();
            let message = format!("no paraphrase for {count} of {} training sentences (first: \"{}\"); the file must cover every sentence", sentences.len(), first.trim());
            return Err(Error::malformed(&self.path, 0, message));
        }
        Ok(sentences
            .iter()
            .zip(seeds)
            .map(|(s, &seed)| {
                let options = &self.by_original[s.trim()];
                options[StdRng::seed_from_u64(seed).random_range(0..options.len())].clone()
            })
            .collect())
    }
}
