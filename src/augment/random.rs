//! `random`: word-level noise. Each word, with probability `aug_p`, is swapped with its right
//! neighbour, deleted (never the last one left) or preceded by a copy of a random word of the same
//! sentence (insertion without a synonym dictionary).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use super::SentenceOp;
use crate::error::Result;

pub struct RandomWords {
    pub aug_p: f64,
}

impl RandomWords {
    /// One sentence; returned unchanged (byte for byte) when no operation fired.
    pub fn sentence(&self, text: &str, seed: u64) -> String {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut words: Vec<&str> = text.split_whitespace().collect();
        let mut changed = false;
        let mut i = 0;
        while i < words.len() {
            if self.aug_p > 0.0 && rng.random::<f64>() < self.aug_p {
                match rng.random_range(0..3) {
                    0 if i + 1 < words.len() => {
                        words.swap(i, i + 1);
                        changed = true;
                        i += 2;
                        continue;
                    }
                    1 if words.len() > 1 => {
                        words.remove(i);
                        changed = true;
                        continue;
                    }
                    2 => {
                        let copy = words[rng.random_range(0..words.len())];
                        words.insert(i, copy);
                        changed = true;
                        i += 2;
                        continue;
                    }
                    _ => {}
                }
            }
            i += 1;
        }
        if changed { words.join(" ") } else { text.to_string() }
    }
}

impl SentenceOp for RandomWords {
    fn apply(&self, sentences: &[&str], seeds: &[u64]) -> Result<Vec<String>> {
        Ok(sentences.par_iter().zip(seeds).map(|(s, &seed)| self.sentence(s, seed)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_bag_of_words_but_changes_it() {
        let op = RandomWords { aug_p: 0.5 };
        let text = "the quick brown fox jumps over the lazy dog";
        let outputs: Vec<String> = (0..20).map(|seed| op.sentence(text, seed)).collect();
        assert!(outputs.iter().any(|o| o != text), "p = 0.5 changes some of 20 sentences");
        let vocab: std::collections::HashSet<&str> = text.split_whitespace().collect();
        for o in &outputs {
            assert!(!o.is_empty());
            assert!(o.split_whitespace().all(|w| vocab.contains(w)), "only words of the sentence: {o}");
        }
        assert_eq!(op.sentence(text, 7), op.sentence(text, 7));
        assert_eq!(RandomWords { aug_p: 0.0 }.sentence("a  b   c", 3), "a  b   c");
        assert_eq!(RandomWords { aug_p: 1.0 }.sentence("", 3), "");
    }
}
