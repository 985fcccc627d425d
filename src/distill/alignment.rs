//! Token alignment between a teacher and a student that read text through different tokenizers.
//!
//! Prediction-layer KD compares one distribution per row and needs none. Hidden-state objectives
//! compare position with position: each student position reads the teacher position that holds
//! the same word piece, paired as the longest common subsequence of the two rows' non-special
//! pieces (truncation may keep different pieces of a long row); a special token pairs with the
//! teacher's first special token in the same gap between word pieces (BERT's `[SEP]` with the
//! first of MPNet's `</s></s>`). Student positions left unpaired are left out of the loss.
//! Tokenizers that split text differently (WordPiece against byte-level BPE, cased against
//! uncased) pair few pieces, and [`TokenAlignment::build`] refuses them in one line.

use burn::tensor::{Device, Int, Tensor, TensorData};
use std::collections::HashSet;

use super::loss::TeacherTargets;
use crate::data::{Encoded, TextEncoder};
use crate::error::{Error, Result};

/// The least share of the student's word pieces that must find their teacher piece.
pub const MIN_PAIRED: f64 = 0.95;

/// What a tokenizer's ids mean to the alignment: each id's piece, and which ids are special.
pub struct Pieces {
    vocabulary: Vec<String>,
    special: HashSet<u32>,
}

impl Pieces {
    pub fn of(encoder: &TextEncoder) -> Self {
        Self { vocabulary: encoder.vocabulary(), special: encoder.special_ids() }
    }

    fn piece(&self, id: u32) -> &str {
        self.vocabulary.get(id as usize).map_or("", String::as_str)
    }
}

/// For every row, the teacher position each student position reads (`None`: unpaired).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenAlignment {
    rows: Vec<Vec<Option<usize>>>,
}

/// The pairs of a longest common subsequence of `a` and `b` (indices into each).
fn common_subsequence(a: &[&str], b: &[&str]) -> Vec<(usize, usize)> {
    if a == b {
        return (0..a.len()).map(|i| (i, i)).collect();
    }
    let (n, m) = (a.len(), b.len());
    let mut len = vec![0u16; (n + 1) * (m + 1)];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            len[i * (m + 1) + j] = if a[i] == b[j] { len[(i + 1) * (m + 1) + j + 1] + 1 } else { len[(i + 1) * (m + 1) + j].max(len[i * (m + 1) + j + 1]) };
        }
    }
    let (mut i, mut j, mut pairs) = (0, 0, Vec::new());
    while i < n && j < m {
        if a[i] == b[j] {
            pairs.push((i, j));
            (i, j) = (i + 1, j + 1);
        } else if len[(i + 1) * (m + 1) + j] >= len[i * (m + 1) + j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    pairs
}

/// One row: the student positions' teacher positions, and how many of the student's word pieces
/// were paired.
fn align_row(student: &[u32], teacher: &[u32], sp: &Pieces, tp: &Pieces) -> (Vec<Option<usize>>, usize) {
    let words = |ids: &[u32], p: &Pieces| -> Vec<usize> { (0..ids.len()).filter(|&i| !p.special.contains(&ids[i])).collect() };
    let (sw, tw) = (words(student, sp), words(teacher, tp));
    let pieces = |ids: &[u32], at: &[usize], p: &'_ Pieces| -> Vec<String> { at.iter().map(|&i| p.piece(ids[i]).to_string()).collect() };
    let (s_pieces, t_pieces) = (pieces(student, &sw, sp), pieces(teacher, &tw, tp));
    let s_refs: Vec<&str> = s_pieces.iter().map(String::as_str).collect();
    let t_refs: Vec<&str> = t_pieces.iter().map(String::as_str).collect();
    let mut map = vec![None; student.len()];
    let pairs = common_subsequence(&s_refs, &t_refs);
    for &(s, t) in &pairs {
        map[sw[s]] = Some(tw[t]);
    }
    // A special token sits in the gap after `k` word pieces; it reads the teacher's first special
    // token in the gap after the paired teacher piece.
    let gap = |words: &[usize], pos: usize| words.partition_point(|&w| w < pos);
    for pos in (0..student.len()).filter(|&i| sp.special.contains(&student[i])) {
        let k = gap(&sw, pos);
        // The teacher gap: after the teacher piece paired with the student's k-th piece.
        let t_gap = match k {
            0 => Some(0),
            k => pairs.iter().find(|&&(s, _)| s == k - 1).map(|&(_, t)| t + 1),
        };
        map[pos] = t_gap.and_then(|g| (0..teacher.len()).find(|&i| tp.special.contains(&teacher[i]) && gap(&tw, i) == g));
    }
    (map, pairs.len())
}

impl TokenAlignment {
    /// Pairs every row's student positions with teacher positions, or refuses tokenizers that
    /// pair fewer than [`MIN_PAIRED`] of the student's word pieces.
    pub fn build(student: &[Encoded], teacher: &[Encoded], sp: &Pieces, tp: &Pieces) -> Result<Self> {
        use rayon::prelude::*;
        let aligned: Vec<(Vec<Option<usize>>, usize, usize)> = student
            .par_iter()
            .zip(teacher)
            .map(|(s, t)| {
                let (map, paired) = align_row(&s.ids, &t.ids, sp, tp);
                (map, paired, s.ids.iter().filter(|id| !sp.special.contains(id)).count())
            })
            .collect();
        let (paired, pieces) = aligned.iter().fold((0, 0), |(p, n), (_, rp, rn)| (p + rp, n + rn));
        let share = if pieces == 0 { 1.0 } else { paired as f64 / pieces as f64 };
        if share < MIN_PAIRED {
            return Err(Error::pipeline(
                "student.checkpoint",
                format!(
                    "the student's tokenizer splits text unlike the teacher's ({:.0}% of its word pieces match, {:.0}% needed): hidden-state objectives cannot pair positions; use prediction-layer KD alone (intermediate.objective = \"none\")",
                    share * 100.0,
                    MIN_PAIRED * 100.0
                ),
            ));
        }
        Ok(Self { rows: aligned.into_iter().map(|(map, _, _)| map).collect() })
    }

    /// The teacher's hidden states moved to the student's positions (`[rows, width, hidden]`,
    /// zero where unpaired), and the `[rows, width]` mask of the paired positions.
    pub fn apply(&self, targets: TeacherTargets, indices: &[usize], width: usize, device: &Device) -> (TeacherTargets, Tensor<2>) {
        let (mut index, mut paired) = (vec![0i64; indices.len() * width], vec![0f32; indices.len() * width]);
        for (r, &i) in indices.iter().enumerate() {
            for (p, t) in self.rows[i].iter().enumerate() {
                if let Some(t) = t {
                    index[r * width + p] = *t as i64;
                    paired[r * width + p] = 1.0;
                }
            }
        }
        let index = Tensor::<2, Int>::from_data(TensorData::new(index, [indices.len(), width]), device);
        let hidden = targets
            .hidden
            .into_iter()
            .map(|(layer, h)| {
                let d = h.dims()[2];
                let rows = index.clone().reshape([indices.len(), width, 1]).expand([indices.len(), width, d]);
                (layer, h.gather(1, rows))
            })
            .collect();
        let mask = Tensor::<2>::from_data(TensorData::new(paired, [indices.len(), width]), device);
        (TeacherTargets { hidden, ..targets }, mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_common_subsequence_skips_what_one_side_lacks() {
        let pairs = common_subsequence(&["a", "b", "c", "d"], &["a", "c", "d", "e"]);
        assert_eq!(pairs, vec![(0, 0), (2, 1), (3, 2)]);
    }

    #[test]
    fn a_bert_pair_reads_the_positions_of_an_mpnet_pair() {
        let pieces = |words: &[&str], special: &[u32]| Pieces { vocabulary: words.iter().map(|w| w.to_string()).collect(), special: special.iter().copied().collect() };
        // `[CLS] the cat [SEP] sat [SEP]` against `<s> the cat </s> </s> sat </s>`.
        let bert = pieces(&["[CLS]", "[SEP]", "the", "cat", "sat"], &[0, 1]);
        let mpnet = pieces(&["<s>", "</s>", "the", "cat", "sat"], &[0, 1]);
        let (map, paired) = align_row(&[0, 2, 3, 1, 4, 1], &[0, 2, 3, 1, 1, 4, 1], &bert, &mpnet);
        assert_eq!(map, vec![Some(0), Some(1), Some(2), Some(3), Some(5), Some(6)]);
        assert_eq!(paired, 3);
        // Truncated differently: the piece the teacher lacks stays unpaired.
        let (map, _) = align_row(&[0, 2, 3, 1, 4, 1], &[0, 2, 1, 1, 4, 1], &bert, &mpnet);
        assert_eq!(map, vec![Some(0), Some(1), None, None, Some(4), Some(5)]);
    }
}
