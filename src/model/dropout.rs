//! Dropout with cheap masks on CPU backends. burn's `Dropout` draws a Bernoulli tensor through a
//! ChaCha sampler, element by element, then multiplies twice (mask, then scale). On host-memory
//! backends we build the scaled mask directly from a counter-based hash (four 16-bit draws per
//! 64-bit hash, in parallel) and multiply once. GPU backends keep burn's on-device sampling, which
//! needs no host → device copy.
//!
//! The random stream belongs to the batch (or half batch) being trained: the training loop runs
//! each one's forward pass inside [`with_stream`], which seeds the running thread's stream and
//! restores it afterwards. A rayon worker that waits inside a parallel op may steal another half's
//! job; that job runs to completion on top of the first one's stack and restores its stream, so a
//! run is reproducible however its jobs are scheduled and whatever else trains at the same time.

use burn::nn::Dropout;
use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;
use std::cell::Cell;
use std::mem::MaybeUninit;

thread_local! {
    static STREAM: Cell<u64> = const { Cell::new(0x853C_49E6_748F_EA9B) };
}

/// splitmix64's output function: spreads every input bit over the whole word. Shared by the
/// dropout stream and the augmentation seeds.
#[inline(always)]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// splitmix64: a well-mixed 64-bit hash of a counter.
#[inline(always)]
fn hash(x: u64) -> u64 {
    mix64(x.wrapping_add(0x9E37_79B9_7F4A_7C15))
}

/// Runs `f` with this thread's dropout stream started from `seed`, then restores the stream it had.
pub fn with_stream<R>(seed: u64, f: impl FnOnce() -> R) -> R {
    let saved = STREAM.with(|s| s.replace(hash(seed ^ 0xD1B5_4A32_D192_ED03)));
    let result = f();
    STREAM.with(|s| s.set(saved));
    result
}

fn next_key() -> u64 {
    STREAM.with(|s| {
        let key = s.get();
        s.set(hash(key));
        key
    })
}

/// Elements per parallel task of [`mask`].
const MASK_CHUNK: usize = 1 << 14;

/// `n` values, each `scale` with probability `keep` and 0 otherwise, from stream key `key`.
pub fn mask(n: usize, keep: f64, key: u64) -> Vec<f32> {
    let threshold = (keep * 65536.0).round() as u64;
    let scale = (1.0 / keep) as f32;
    let mut values = super::kernels::Output::new(n);
    values.slots().par_chunks_mut(MASK_CHUNK).enumerate().for_each(|(c, chunk)| fill_mask(chunk, (c * MASK_CHUNK / 4) as u64, key, threshold, scale));
    // SAFETY: the tasks above wrote all n values.
    unsafe { values.written() }
}

super::kernels::simd_kernel! {
    /// One task's share of [`mask`]: quad `q` of the whole mask (elements 4q … 4q + 3) draws one
    /// 64-bit hash of `q` and gives its elements the hash's four 16-bit fields, lowest first. The
    /// hashes are computed in a loop of their own, then each field is compared with the
    /// threshold: both loops vectorise (AVX-512 multiplies 64-bit lanes).
    fn fill_mask(chunk: &mut [MaybeUninit<f32>], first_quad: u64, key: u64, threshold: u64, scale: f32) {
        let mut draws = [0u64; MASK_CHUNK / 4];
        let draws = &mut draws[..chunk.len().div_ceil(4)];
        for (q, d) in draws.iter_mut().enumerate() {
            // Little-endian in memory on any CPU, so the fields below come lowest first.
            *d = hash(key ^ (first_quad + q as u64).wrapping_mul(0xA24B_AED4_963E_E407)).to_le();
        }
        // SAFETY: `draws` is initialised u64s, read as the u16s they are made of (u64's alignment
        // covers u16's, every bit pattern is a u16).
        let fields = unsafe { std::slice::from_raw_parts(draws.as_ptr().cast::<u16>(), draws.len() * 4) };
        for (v, &field) in chunk.iter_mut().zip(fields) {
            v.write(if u64::from(field) < threshold { scale } else { 0.0 });
        }
    }
}

/// The keep probability and stream key of `layer`'s next mask on a host-memory `device`, drawn
/// from the stream; `None` (and nothing drawn) when the layer is the identity there: not
/// training, not on an autodiff device, or `prob == 0`.
pub(crate) fn draw(layer: &Dropout, device: &Device) -> Option<(f64, u64)> {
    (layer.training.is_enabled() && device.is_autodiff() && layer.prob > 0.0).then(|| (1.0 - layer.prob, next_key()))
}

/// Applies `layer` to `x`: identity unless training on an autodiff device with `prob > 0`.
pub fn dropout<const D: usize>(layer: &Dropout, x: Tensor<D>) -> Tensor<D> {
    let device = x.device();
    if !crate::backend::host_memory(&device) {
        return layer.forward(x);
    }
    let Some((keep, key)) = draw(layer, &device) else { return x };
    let shape = x.shape();
    x * Tensor::<D>::from_data(TensorData::new(mask(shape.num_elements(), keep, key), shape), &device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_the_right_share_scaled_and_are_reproducible() {
        let m = mask(100_003, 0.9, 7);
        let kept = m.iter().filter(|&&v| v > 0.0).count() as f64 / m.len() as f64;
        assert!((kept - 0.9).abs() < 0.005, "{kept}");
        assert!(m.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.9).abs() < 1e-6));
        assert_eq!(m, mask(100_003, 0.9, 7));
        assert_ne!(m, mask(100_003, 0.9, 8));
        let outside = next_key();
        let (a, b) = with_stream(1, || (next_key(), next_key()));
        assert_eq!((a, b), with_stream(1, || (next_key(), next_key())));
        assert_ne!(a, b);
        // A nested stream (a stolen job) leaves the outer one where it was.
        let (c, nested, d) = with_stream(1, || (next_key(), with_stream(2, next_key), next_key()));
        assert_eq!((c, d), (a, b));
        assert_ne!(nested, c);
        assert_ne!(outside, a);
    }
}
