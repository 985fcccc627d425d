//! Batches with dynamic padding: examples of similar length are grouped (length bucketing) so a
//! batch is padded only to its own longest row.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::tokenize::Encoded;

/// Host-side batch, ready to become tensors: row-major `[rows, width]` ids, segment ids and mask.
#[derive(Debug, Clone, PartialEq)]
pub struct HostBatch {
    /// Positions of the rows in the split, so outputs can be matched back to examples.
    pub indices: Vec<usize>,
    pub rows: usize,
    pub width: usize,
    pub ids: Vec<i64>,
    pub type_ids: Vec<i64>,
    pub mask: Vec<f32>,
}

impl HostBatch {
    /// Pads the given examples to the longest one.
    pub fn pad(encoded: &[Encoded], indices: &[usize], pad_id: u32) -> Self {
        let width = indices.iter().map(|&i| encoded[i].ids.len()).max().unwrap_or(1).max(1);
        let rows = indices.len();
        let mut ids = vec![pad_id as i64; rows * width];
        let mut type_ids = vec![0i64; rows * width];
        let mut mask = vec![0f32; rows * width];
        for (r, &i) in indices.iter().enumerate() {
            let e = &encoded[i];
            for (c, (&id, &ty)) in e.ids.iter().zip(&e.type_ids).enumerate() {
                ids[r * width + c] = id as i64;
                type_ids[r * width + c] = ty as i64;
                mask[r * width + c] = 1.0;
            }
        }
        Self { indices: indices.to_vec(), rows, width, ids, type_ids, mask }
    }
}

/// How many batches' worth of examples are sorted together by length; larger pads less but
/// shuffles less.
const BUCKET_BATCHES: usize = 50;

/// Batch plan for one epoch: shuffled (with `seed`), bucketed by length, batches in random order.
/// With `seed = None` the order is the split's, still bucketed, for evaluation.
pub fn plan_batches(encoded: &[Encoded], batch_size: usize, seed: Option<u64>) -> Vec<Vec<usize>> {
    let batch_size = batch_size.max(1);
    let mut order: Vec<usize> = (0..encoded.len()).collect();
    let mut rng = seed.map(StdRng::seed_from_u64);
    if let Some(rng) = rng.as_mut() {
        order.shuffle(rng);
    }
    let mut batches: Vec<Vec<usize>> = Vec::new();
    for bucket in order.chunks(batch_size * BUCKET_BATCHES) {
        let mut bucket = bucket.to_vec();
        bucket.sort_by_key(|&i| encoded[i].ids.len());
        batches.extend(bucket.chunks(batch_size).map(|c| c.to_vec()));
    }
    if let Some(rng) = rng.as_mut() {
        batches.shuffle(rng);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(len: usize) -> Encoded {
        Encoded { ids: vec![7; len], type_ids: vec![0; len] }
    }

    #[test]
    fn pads_to_longest_and_masks_padding() {
        let e = vec![enc(3), enc(5)];
        let b = HostBatch::pad(&e, &[0, 1], 0);
        assert_eq!((b.rows, b.width), (2, 5));
        assert_eq!(&b.mask[..5], &[1.0, 1.0, 1.0, 0.0, 0.0]);
        assert_eq!(&b.ids[..5], &[7, 7, 7, 0, 0]);
    }

    #[test]
    fn plan_covers_every_example_once_and_is_seeded() {
        let e: Vec<Encoded> = (0..1000).map(|i| enc(1 + i % 37)).collect();
        let a = plan_batches(&e, 32, Some(3));
        let mut all: Vec<usize> = a.iter().flatten().copied().collect();
        all.sort();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
        assert_eq!(a, plan_batches(&e, 32, Some(3)));
        assert_ne!(a, plan_batches(&e, 32, Some(4)));
        // bucketing: padding waste is small compared with random batches
        let waste = |plan: &[Vec<usize>]| -> usize {
            plan.iter()
                .map(|b| {
                    let m = b.iter().map(|&i| e[i].ids.len()).max().unwrap();
                    b.iter().map(|&i| m - e[i].ids.len()).sum::<usize>()
                })
                .sum()
        };
        let unbucketed: Vec<Vec<usize>> = (0..1000).collect::<Vec<_>>().chunks(32).map(|c| c.to_vec()).collect();
        assert!(waste(&a) * 4 < waste(&unbucketed));
    }
}
