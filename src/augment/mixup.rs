//! `mixup` on input embeddings: per training batch, λ ~ Beta(0.4, 0.4) and a shuffled partner for
//! every row; the mixed rows `λ·e_i + (1−λ)·e_partner(i)` (padding mask: the union of the two) go
//! through the student after the embedding layer and are added to the batch's loss with targets
//! mixed the same way: teacher logits `λ·z_i + (1−λ)·z_partner(i)`, hard labels as
//! `λ·CE(y_i) + (1−λ)·CE(y_partner(i))`. Intermediate objectives see only the unmixed rows (the
//! teacher's states of a mixed input are not in the cache).

use burn::tensor::{Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_distr::Beta;

/// Beta(α, α) shape of the mixing weight, as in the paper.
pub const ALPHA: f64 = 0.4;

/// One batch's mixing: weight and partner of each row.
#[derive(Debug, Clone, PartialEq)]
pub struct Mixup {
    pub lambda: f64,
    pub partner: Vec<usize>,
}

impl Mixup {
    /// Deterministic for (seed, step).
    pub fn draw(seed: u64, step: u64, rows: usize) -> Self {
        let mut rng = StdRng::seed_from_u64(super::mix_seed(seed, step));
        let lambda = rng.sample(Beta::new(ALPHA, ALPHA).expect("valid Beta parameters"));
        let mut partner: Vec<usize> = (0..rows).collect();
        partner.shuffle(&mut rng);
        Self { lambda, partner }
    }

    fn partners<const D: usize>(&self, t: Tensor<D>) -> Tensor<D> {
        let device = t.device();
        let index: Vec<i64> = self.partner.iter().map(|&p| p as i64).collect();
        t.select(0, Tensor::<1, Int>::from_data(TensorData::new(index, [self.partner.len()]), &device))
    }

    /// `λ·t + (1−λ)·t[partner]` along the batch dimension.
    pub fn mix<const D: usize>(&self, t: Tensor<D>) -> Tensor<D> {
        let other = self.partners(t.clone());
        t.mul_scalar(self.lambda) + other.mul_scalar(1.0 - self.lambda)
    }

    /// The mixed rows' padding mask: a position is a token if it is one in either row.
    pub fn mask(&self, mask: Tensor<2>) -> Tensor<2> {
        let other = self.partners(mask.clone());
        mask.max_pair(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixes_rows_with_their_partners() {
        let device = crate::backend::device(None).unwrap();
        let a = Mixup::draw(3, 7, 4);
        assert_eq!(a, Mixup::draw(3, 7, 4));
        assert!((0.0..=1.0).contains(&a.lambda));
        let mut sorted = a.partner.clone();
        sorted.sort();
        assert_eq!(sorted, vec![0, 1, 2, 3]);
        let t = Tensor::<2>::from_data(TensorData::new(vec![0.0f32, 1.0, 2.0, 3.0], [4, 1]), &device);
        let mixed = crate::model::to_host(a.mix(t));
        for (i, m) in mixed.iter().enumerate() {
            let expected = a.lambda * i as f64 + (1.0 - a.lambda) * a.partner[i] as f64;
            assert!((*m as f64 - expected).abs() < 1e-5);
        }
        let mask = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0], [4, 2]), &device);
        let union = crate::model::to_host(a.mask(mask));
        for i in 0..4 {
            let second: f32 = [0.0f32, 1.0, 0.0, 0.0][i].max([0.0f32, 1.0, 0.0, 0.0][a.partner[i]]);
            assert_eq!(union[2 * i + 1], second);
        }
        let lambdas: Vec<f64> = (0..200).map(|s| Mixup::draw(s, 0, 2).lambda).collect();
        let extreme = lambdas.iter().filter(|&&l| !(0.1..=0.9).contains(&l)).count();
        assert!(extreme > 60, "Beta(0.4, 0.4) puts most mass near 0 and 1: {extreme}/200");
    }
}
