//! Encoder operations on the `flex` backend as single autodiff ops over host slices, where burn
//! would run several tensor ops (each allocating its output) or scalar library calls:
//!
//! - dense layers: gemm called directly. burn-flex allocates every matmul output through
//!   `FlexTensor::empty`, which zero-fills a byte vector and copies it once more to realign it —
//!   two passes over the output before gemm writes it, in the forward product and both backward
//!   ones. Here gemm writes each product once into a fresh vector; the bias and its gradient (a
//!   column sum) are one parallel pass each.
//! - GELU: one pass computes xΦ(x) and its slope Φ(x) + xφ(x) (Abramowitz & Stegun 7.1.26 for
//!   erf, error ≤ 1.5e-7, sharing one `exp`); the backward pass is one multiply. burn's kernel
//!   calls libm's `erf` per element in both passes.
//! - a dense layer and its GELU (the feed-forward block): one pass over gemm's output adds the
//!   bias and takes GELU in place, writing the slope too when training.
//! - softmax over the last axis: one pass per row forward, one backward (`y ⊙ (g − ⟨g, y⟩)`).
//! - LayerNorm: one pass per row forward (mean, variance, then `x̂·γ + β`), keeping `x̂` and
//!   `1/σ`; one pass backward for the input gradient (`(ĝ − mean(ĝ) − x̂·mean(ĝ ⊙ x̂)) / σ` with
//!   `ĝ = g ⊙ γ`) that also sums the gradients of γ and β. burn's LayerNorm is a chain of
//!   reductions and broadcasts each way, each allocating its output.
//! - attention: per (row, head), the scores `QₕKₕᵀ/√dₕ` by gemm straight from the projections'
//!   `[batch, seq, hidden]` layout, the additive mask and position bias and the softmax in one
//!   pass, dropout as one multiply by the mask the dropout stream draws, and `PVₕ` by gemm written
//!   into the head's columns of the output; (row, head) pairs run in parallel. The backward pass
//!   is five gemms and one softmax pass per pair. burn's path copies the heads apart and back
//!   together, broadcasts the bias into a new tensor and runs batched matmuls, each way.
//! - embedding lookups: burn-flex's rows forward; backward, the incoming rows added into one fresh
//!   table gradient, where burn-flex zero-fills a byte vector and copies the whole table again to
//!   realign it.
//! - "add & norm": a sublayer's output dropped out, added to the sublayer's input and normalised,
//!   in one pass per row; the backward pass writes the input's gradient and the masked one for the
//!   sublayer's output in LayerNorm's own pass. burn runs a multiply and an add first, each
//!   allocating its output.
//!
//! The kernels write fresh outputs into uninitialised memory, without zero-filling them first.
//!
//! `exp` is a branch-free polynomial, so these loops vectorise; they run compiled for AVX-512 or
//! AVX2 + FMA when the CPU has it ([`isa`]). Measured in docs/performance.md. Other backends and
//! dtypes keep burn's ops.

use burn::nn::{Dropout, Embedding, LayerNorm, Linear};
use burn::tensor::{Int, Tensor};
use std::mem::MaybeUninit;

/// The vector extension the host kernels' loops are compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    Avx512,
    Avx2,
    /// The crate's target: SSE2 on x86-64.
    Baseline,
}

impl Isa {
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "AVX-512",
            Isa::Avx2 => "AVX2 + FMA",
            Isa::Baseline => "baseline",
        }
    }

    /// The widest of these this CPU has (what gemm, which dispatches on its own, runs too).
    pub fn widest() -> Isa {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("fma") {
            return Isa::Avx512;
        } else if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return Isa::Avx2;
        }
        Isa::Baseline
    }
}

/// The extension the host kernels run: [`Isa::widest`], chosen once. `DISTILLER_KERNEL_ISA`
/// (`avx2` or `baseline`) holds them to a narrower one, to compare or test them; it never picks
/// one the CPU lacks.
pub fn isa() -> Isa {
    static CHOSEN: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
    *CHOSEN.get_or_init(|| {
        let widest = Isa::widest();
        match std::env::var("DISTILLER_KERNEL_ISA").ok().as_deref() {
            Some("avx2") if widest != Isa::Baseline => Isa::Avx2,
            Some("baseline") => Isa::Baseline,
            _ => widest,
        }
    })
}

/// Declares a function whose body is compiled three times, for AVX-512, for AVX2 + FMA and for
/// baseline x86-64, and runs the one [`isa`] names: the crate targets baseline x86-64,
/// whose 4-wide SSE2 would leave most of the vector unit idle (measured: the GELU pass 2.2x
/// faster with AVX-512).
macro_rules! simd_kernel {
    ($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$doc])*
        fn $name($($arg: $ty),*) {
            // The inner copies mirror the outer signature, whose attributes (lints included)
            // are the caller's.
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            match $crate::model::kernels::isa() {
                $crate::model::kernels::Isa::Avx512 => $crate::model::kernels::simd_kernel!(@run "avx512f,avx512vl,avx512dq,avx2,fma", wide, $($arg: $ty),*),
                $crate::model::kernels::Isa::Avx2 => $crate::model::kernels::simd_kernel!(@run "avx2,fma", narrow, $($arg: $ty),*),
                $crate::model::kernels::Isa::Baseline => {}
            }
            body($($arg),*)
        }
    };
    // `body` compiled with `$features` as `$copy`, called: `isa` names an extension only where
    // the CPU has it.
    (@run $features:literal, $copy:ident, $($arg:ident: $ty:ty),*) => {{
        #[target_feature(enable = $features)]
        #[allow(clippy::too_many_arguments)]
        fn $copy($($arg: $ty),*) {
            body($($arg),*)
        }
        // SAFETY: `isa` chose this extension only because the CPU has it.
        return unsafe { $copy($($arg),*) };
    }};
}
pub(crate) use simd_kernel;

/// A fresh output of `n` values, written by the kernels (or gemm) into uninitialised memory: a
/// zero-filled `vec![0.0; n]` would cost a pass over memory as large as the output itself.
pub(crate) struct Output {
    values: Vec<f32>,
    n: usize,
}

impl Output {
    pub(crate) fn new(n: usize) -> Self {
        Self { values: Vec::with_capacity(n), n }
    }

    /// The `n` slots to write.
    pub(crate) fn slots(&mut self) -> &mut [MaybeUninit<f32>] {
        &mut self.values.spare_capacity_mut()[..self.n]
    }

    /// The first slot, for writers that take a raw pointer (gemm, parallel tasks).
    #[cfg(feature = "flex")]
    fn ptr(&mut self) -> *mut f32 {
        self.values.as_mut_ptr()
    }

    /// The values, once every slot is written.
    ///
    /// # Safety
    /// Every slot of [`Output::slots`] must have been written.
    pub(crate) unsafe fn written(mut self) -> Vec<f32> {
        // SAFETY: the caller wrote all n slots.
        unsafe { self.values.set_len(self.n) };
        self.values
    }
}

/// Whether `x` takes the host path: f32 on flex (with or without autodiff).
#[cfg(feature = "flex")]
fn on_flex<const D: usize>(x: &Tensor<D>) -> bool {
    x.dtype() == burn::tensor::DType::F32 && x.device().inner() == burn::tensor::Device::flex()
}

/// `x` as a `[rows, last axis]` matrix, and its shape.
#[cfg(feature = "flex")]
fn as_rows<const D: usize>(x: Tensor<D>) -> (Tensor<2>, [usize; D]) {
    let dims = x.dims();
    (x.reshape([dims[..D - 1].iter().product::<usize>(), dims[D - 1]]), dims)
}

/// `op(x as rows, weight, bias)` in `x`'s shape: a dense layer's host op.
#[cfg(feature = "flex")]
fn host_dense<const D: usize>(
    layer: &Linear,
    bias: &burn::module::Param<Tensor<1>>,
    x: Tensor<D>,
    op: fn(burn::backend::DispatchTensor, burn::backend::DispatchTensor, burn::backend::DispatchTensor) -> burn::backend::DispatchTensor,
) -> Tensor<D> {
    let (x, mut dims) = as_rows(x);
    let weight = layer.weight.val();
    dims[D - 1] = weight.dims()[1];
    Tensor::<2>::from_dispatch(op(x.into_dispatch(), weight.into_dispatch(), bias.val().into_dispatch())).reshape(dims)
}

/// `layer.forward(x)`.
pub fn linear<const D: usize>(layer: &Linear, x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if let Some(bias) = &layer.bias
        && on_flex(&x)
    {
        return host_dense(layer, bias, x, flex::linear);
    }
    layer.forward(x)
}

/// `gelu(layer.forward(x))`: on flex the bias and GELU are one pass over the product.
pub fn linear_gelu<const D: usize>(layer: &Linear, x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if let Some(bias) = &layer.bias
        && on_flex(&x)
    {
        return host_dense(layer, bias, x, flex::linear_gelu);
    }
    gelu(layer.forward(x))
}

/// `table.forward(ids)`: the rows of the table for `ids [batch, seq]`. On flex the backward pass
/// adds the incoming rows into one fresh gradient table, where burn-flex's backward zero-fills a
/// table and then copies all of it again to realign it (47 MB for BERT's 30,522 × 384 word
/// embeddings, 94 MB at width 768, every step).
pub fn embedding(table: &Embedding, ids: Tensor<2, Int>) -> Tensor<3> {
    #[cfg(feature = "flex")]
    {
        let weight = table.weight.val();
        if on_flex(&weight) {
            return Tensor::from_dispatch(flex::embedding(weight.into_dispatch(), ids.into_dispatch()));
        }
    }
    table.forward(ids)
}

/// GELU(x) = xΦ(x), exact (not the tanh approximation).
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if on_flex(&x) {
        return Tensor::from_dispatch(flex::gelu(x.into_dispatch()));
    }
    burn::tensor::activation::gelu(x)
}

/// Softmax along `dim`.
pub fn softmax<const D: usize>(x: Tensor<D>, dim: usize) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if dim == D - 1 && on_flex(&x) {
        return Tensor::from_dispatch(flex::softmax(x.into_dispatch()));
    }
    burn::tensor::activation::softmax(x, dim)
}

/// `norm.forward(x)`, where `eps` is the epsilon `norm` was built with.
pub fn layer_norm<const D: usize>(norm: &LayerNorm, x: Tensor<D>, eps: f64) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if let Some(beta) = &norm.beta
        && on_flex(&x)
    {
        let (x, dims) = as_rows(x);
        return Tensor::<2>::from_dispatch(flex::layer_norm(x.into_dispatch(), norm.gamma.val().into_dispatch(), beta.val().into_dispatch(), eps as f32)).reshape(dims);
    }
    let _ = eps; // burn's LayerNorm keeps its own copy
    norm.forward(x)
}

/// `layer_norm(norm, dropout(y) + residual, eps)`: a sublayer's output, dropped out, added to
/// the sublayer's input and normalised (BERT's "add & norm"). On flex one pass per row builds the
/// sum and normalises it, where burn would run a multiply and an add (each allocating its output)
/// before the norm; the backward pass writes the residual's gradient and the masked one for `y`
/// together. The mask is the one [`super::dropout::dropout`] would draw.
pub fn residual_norm<const D: usize>(norm: &LayerNorm, y: Tensor<D>, residual: Tensor<D>, dropout: &Dropout, eps: f64) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if let Some(beta) = &norm.beta
        && on_flex(&y)
    {
        let (keep, key) = super::dropout::draw(dropout, &y.device()).unwrap_or((1.0, 0));
        let ((y, dims), (residual, _)) = (as_rows(y), as_rows(residual));
        let (gamma, beta) = (norm.gamma.val().into_dispatch(), beta.val().into_dispatch());
        return Tensor::<2>::from_dispatch(flex::residual_norm(y.into_dispatch(), residual.into_dispatch(), gamma, beta, eps as f32, keep, key)).reshape(dims);
    }
    layer_norm(norm, super::dropout::dropout(dropout, y) + residual, eps)
}

/// `dropout(softmax(q·kᵀ/√dₕ + bias))·v` over `heads` heads, for `q`, `k`, `v`
/// `[batch, seq, hidden]` (heads side by side along `hidden`) and an additive `bias` that
/// broadcasts to `[batch, heads, seq, seq]`; returns the heads' outputs side by side,
/// `[batch, seq, hidden]`, with a backward pass on an autodiff device. The dropout mask is the one
/// [`super::dropout::dropout`] would draw for the probabilities. `None` where there is no host
/// path (other backends), and the caller runs burn's ops.
pub fn attention(q: &Tensor<3>, k: &Tensor<3>, v: &Tensor<3>, bias: &Tensor<4>, heads: usize, dropout: &Dropout) -> Option<Tensor<3>> {
    #[cfg(feature = "flex")]
    if on_flex(q) {
        let ([batch, seq, _], dims) = (q.dims(), bias.dims());
        let full = [batch, heads, seq, seq];
        assert!(dims[3] == seq && dims.iter().zip(full).all(|(&n, f)| n == 1 || n == f), "attention bias {dims:?} does not broadcast to {full:?}");
        let (keep, key) = super::dropout::draw(dropout, &q.device()).unwrap_or((1.0, 0));
        let [q, k, v] = [q, k, v].map(|t| t.clone().into_dispatch());
        return Some(Tensor::from_dispatch(flex::attention(q, k, v, bias.clone().into_dispatch(), heads, keep as f32, key)));
    }
    let _ = (q, k, v, bias, heads, dropout);
    None
}

#[cfg(feature = "flex")]
mod flex {
    use burn::backend::autodiff::checkpoint::base::Checkpointer;
    use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::autodiff::{Autodiff, NodeId};
    use burn::backend::ops::{FloatTensorOps, ModuleOps};
    use burn::backend::tensor::{FloatTensor, IntTensor};
    use burn::backend::{Backend, Dispatch, DispatchTensor, Flex, backend_extension};
    use burn::tensor::{Shape, TensorData};
    use rayon::prelude::*;
    use std::mem::MaybeUninit;

    use super::Output;

    type HostTensor = FloatTensor<Flex>;

    /// About this many elements (whole rows) per parallel task.
    const CHUNK: usize = 1 << 14;

    /// An initialised scratch buffer as slots for a kernel to overwrite.
    ///
    /// # Safety
    /// Whoever writes the slots writes initialised values only (as `MaybeUninit::write` does).
    unsafe fn as_slots(buffer: &mut [f32]) -> &mut [MaybeUninit<f32>] {
        // SAFETY: same layout; the caller writes only initialised values.
        unsafe { &mut *(buffer as *mut [f32] as *mut [MaybeUninit<f32>]) }
    }

    #[backend_extension(Autodiff, Flex)]
    pub trait HostOps: Backend {
        /// `x @ weight + bias` for `x [rows, d_in]`, `weight [d_in, d_out]`, `bias [d_out]`.
        fn host_linear(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self>;
        fn host_gelu(x: FloatTensor<Self>) -> FloatTensor<Self>;
        /// `gelu(x @ weight + bias)`, shapes as [`HostOps::host_linear`]'s.
        fn host_linear_gelu(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self>;
        /// Softmax along the last axis.
        fn host_softmax(x: FloatTensor<Self>) -> FloatTensor<Self>;
        /// LayerNorm of each row of `x [rows, d]` with `gamma [d]`, `beta [d]`.
        fn host_layer_norm(x: FloatTensor<Self>, gamma: FloatTensor<Self>, beta: FloatTensor<Self>, eps: f32) -> FloatTensor<Self>;
        /// [`HostOps::host_layer_norm`] of `y ⊙ mask + residual`, the dropout mask keeping each
        /// value of `y` with `keep` (1: none), drawn from `key`.
        fn host_residual_norm(
            y: FloatTensor<Self>,
            residual: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            beta: FloatTensor<Self>,
            eps: f32,
            keep: f64,
            key: u64,
        ) -> FloatTensor<Self>;
        /// [`super::attention`] for `q`, `k`, `v` `[batch, seq, hidden]` and `bias` that
        /// broadcasts to `[batch, heads, seq, seq]`; dropout keeps each probability with `keep`
        /// (1: none) by the mask drawn from `key`.
        fn host_attention(q: FloatTensor<Self>, k: FloatTensor<Self>, v: FloatTensor<Self>, bias: FloatTensor<Self>, heads: usize, keep: f32, key: u64) -> FloatTensor<Self>;
        /// The rows of `table [rows, d]` for `ids [batch, seq]`, as `[batch, seq, d]`.
        fn host_embedding(table: FloatTensor<Self>, ids: IntTensor<Self>) -> FloatTensor<Self>;
    }

    pub fn embedding(table: DispatchTensor, ids: DispatchTensor) -> DispatchTensor {
        <Dispatch as HostOps>::host_embedding(table, ids)
    }

    pub fn attention(q: DispatchTensor, k: DispatchTensor, v: DispatchTensor, bias: DispatchTensor, heads: usize, keep: f32, key: u64) -> DispatchTensor {
        <Dispatch as HostOps>::host_attention(q, k, v, bias, heads, keep, key)
    }

    pub fn linear(x: DispatchTensor, weight: DispatchTensor, bias: DispatchTensor) -> DispatchTensor {
        <Dispatch as HostOps>::host_linear(x, weight, bias)
    }

    pub fn gelu(x: DispatchTensor) -> DispatchTensor {
        <Dispatch as HostOps>::host_gelu(x)
    }

    pub fn linear_gelu(x: DispatchTensor, weight: DispatchTensor, bias: DispatchTensor) -> DispatchTensor {
        <Dispatch as HostOps>::host_linear_gelu(x, weight, bias)
    }

    pub fn softmax(x: DispatchTensor) -> DispatchTensor {
        <Dispatch as HostOps>::host_softmax(x)
    }

    pub fn layer_norm(x: DispatchTensor, gamma: DispatchTensor, beta: DispatchTensor, eps: f32) -> DispatchTensor {
        <Dispatch as HostOps>::host_layer_norm(x, gamma, beta, eps)
    }

    pub fn residual_norm(y: DispatchTensor, residual: DispatchTensor, gamma: DispatchTensor, beta: DispatchTensor, eps: f32, keep: f64, key: u64) -> DispatchTensor {
        <Dispatch as HostOps>::host_residual_norm(y, residual, gamma, beta, eps, keep, key)
    }

    /// A 2-D operand as gemm reads it: first element, row stride, column stride (in elements).
    struct Operand<'a> {
        data: &'a [f32],
        offset: usize,
        rows: usize,
        cols: usize,
        row_stride: isize,
        col_stride: isize,
    }

    impl<'a> Operand<'a> {
        fn of(t: &'a HostTensor) -> Self {
            let layout = t.layout();
            let (rows, cols, row_stride, col_stride) = layout.as_2d_strides().expect("host linear takes 2-D operands");
            Self { data: t.storage::<f32>(), offset: layout.start_offset(), rows, cols, row_stride, col_stride }
        }

        fn transposed(self) -> Self {
            Self { rows: self.cols, cols: self.rows, row_stride: self.col_stride, col_stride: self.row_stride, ..self }
        }

        fn ptr(&self) -> *const f32 {
            self.data[self.offset..].as_ptr()
        }
    }

    /// `lhs @ rhs` into a new `[m, n]` tensor, plus `bias` on every row when given.
    fn product(lhs: Operand, rhs: Operand, bias: Option<&[f32]>) -> HostTensor {
        let (mut out, [m, n]) = product_values(lhs, rhs);
        // A separate parallel pass: gemm reading a bias-filled output is slower than this.
        if let Some(bias) = bias {
            out.par_chunks_mut(row_chunk(n)).for_each(|rows| {
                rows.chunks_exact_mut(n).for_each(|row| row.iter_mut().zip(bias).for_each(|(v, b)| *v += b));
            });
        }
        host_tensor(out, [m, n])
    }

    /// `lhs @ rhs` as the values of a row-major `[m, n]` matrix.
    fn product_values(lhs: Operand, rhs: Operand) -> (Vec<f32>, [usize; 2]) {
        let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
        assert_eq!(k, rhs.rows, "host linear: inner dimensions differ");
        let mut out = Output::new(m * n);
        let parallelism = if m * n * k >= 1 << 18 { gemm::Parallelism::Rayon(0) } else { gemm::Parallelism::None };
        // SAFETY: the operands' strides and extents come from their layouts, which stay inside
        // their storage; `out` has m·n slots, which gemm writes all of without reading.
        unsafe {
            gemm_into(out.ptr(), n, (lhs.ptr(), lhs.row_stride, lhs.col_stride), (rhs.ptr(), rhs.row_stride, rhs.col_stride), [m, n, k], 1.0, parallelism);
            (out.written(), [m, n])
        }
    }

    fn host_tensor(values: Vec<f32>, shape: impl Into<Shape>) -> HostTensor {
        Flex::float_from_data(TensorData::new(values, shape), &Default::default())
    }

    /// `t` with its values in one dense row-major run (copied only when they are not).
    fn dense(t: HostTensor) -> HostTensor {
        if t.layout().contiguous_offsets().is_some() { t } else { t.to_contiguous() }
    }

    /// The values of a [`dense`] tensor.
    fn values(t: &HostTensor) -> &[f32] {
        let (start, end) = t.layout().contiguous_offsets().expect("a dense tensor");
        &t.storage::<f32>()[start..end]
    }

    /// Column sums of `grad [rows, d_out]`: the bias gradient.
    fn column_sums(grad: HostTensor) -> HostTensor {
        let d_out = grad.layout().shape()[1];
        let grad = dense(grad);
        let values = values(&grad);
        let chunk_rows = (values.len() / d_out).div_ceil(rayon::current_num_threads()).max(1);
        let sums = values
            .par_chunks(chunk_rows * d_out)
            .map(|rows| {
                let mut acc = vec![0f32; d_out];
                for row in rows.chunks_exact(d_out) {
                    acc.iter_mut().zip(row).for_each(|(a, v)| *a += v);
                }
                acc
            })
            .reduce_with(|mut a, b| {
                a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                a
            })
            .unwrap_or_else(|| vec![0f32; d_out]);
        host_tensor(sums, [d_out])
    }

    /// eˣ for f32 without a library call (Cephes' expf polynomial on x − n·ln 2; relative error
    /// about 1e-7), branch-free so that loops over it vectorise. 0 below −87 (where f32 turns
    /// subnormal: a masked attention score gets exactly 0); NaN stays NaN.
    #[inline(always)]
    fn exp(x: f32) -> f32 {
        const ROUND: f32 = 12_582_912.0; // 1.5 · 2²³: adding it rounds to an integer kept in the low mantissa bits
        let underflow = x < -87.0;
        let x = x.clamp(-87.0, 88.0);
        let shifted = x * std::f32::consts::LOG2_E + ROUND;
        let n = shifted - ROUND;
        let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
        let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 1.666_666_5e-1) * r + 5e-1;
        // 2ⁿ: n (two's complement in `shifted`'s low bits) plus the bias 127, moved into the exponent.
        let scale = f32::from_bits(shifted.to_bits().wrapping_sub(ROUND.to_bits()).wrapping_add(127) << 23);
        let value = (p * r * r + r + 1.0) * scale;
        if underflow { 0.0 } else { value }
    }

    const INV_SQRT_2PI: f32 = 0.398_942_3;

    /// Φ(x) and φ(x): Abramowitz & Stegun 7.1.26 for erf (absolute error ≤ 1.5e-7), whose
    /// `exp(−z²)` at `z = |x|/√2` is `exp(−x²/2)`, i.e. √(2π)·φ(x).
    #[inline(always)]
    fn cdf_pdf(x: f32) -> (f32, f32) {
        const P: f32 = 0.327_591_1;
        const A: [f32; 5] = [0.254_829_6, -0.284_496_74, 1.421_413_8, -1.453_152_1, 1.061_405_4];
        let e = exp(-0.5 * x * x);
        let t = 1.0 / (1.0 + P * std::f32::consts::FRAC_1_SQRT_2 * x.abs());
        let tail = 0.5 * t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4])))) * e;
        (if x >= 0.0 { 1.0 - tail } else { tail }, INV_SQRT_2PI * e)
    }

    simd_kernel! {
        fn gelu_kernel(x: &[f32], y: &mut [MaybeUninit<f32>]) {
            y.iter_mut().zip(x).for_each(|(y, &x)| {
                y.write(x * cdf_pdf(x).0);
            });
        }
    }

    simd_kernel! {
        /// GELU and its slope `Φ(x) + xφ(x)`.
        fn gelu_slope_kernel(x: &[f32], y: &mut [MaybeUninit<f32>], slope: &mut [MaybeUninit<f32>]) {
            for ((y, s), &x) in y.iter_mut().zip(slope.iter_mut()).zip(x) {
                let (cdf, pdf) = cdf_pdf(x);
                y.write(x * cdf);
                s.write(cdf + x * pdf);
            }
        }
    }

    simd_kernel! {
        /// `y ← GELU(y + bias)` on each row of `y`, in place.
        fn bias_gelu_kernel(y: &mut [f32], bias: &[f32]) {
            for row in y.chunks_exact_mut(bias.len()) {
                row.iter_mut().zip(bias).for_each(|(y, &b)| {
                    let x = *y + b;
                    *y = x * cdf_pdf(x).0;
                });
            }
        }
    }

    simd_kernel! {
        /// [`bias_gelu_kernel`], also writing GELU's slope at `y + bias`.
        fn bias_gelu_slope_kernel(y: &mut [f32], bias: &[f32], slope: &mut [MaybeUninit<f32>]) {
            for (row, slope) in y.chunks_exact_mut(bias.len()).zip(slope.chunks_exact_mut(bias.len())) {
                for ((y, s), &b) in row.iter_mut().zip(slope.iter_mut()).zip(bias) {
                    let x = *y + b;
                    let (cdf, pdf) = cdf_pdf(x);
                    *y = x * cdf;
                    s.write(cdf + x * pdf);
                }
            }
        }
    }

    simd_kernel! {
        fn multiply_kernel(a: &[f32], b: &[f32], out: &mut [MaybeUninit<f32>]) {
            out.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (a, b))| {
                o.write(a * b);
            });
        }
    }

    simd_kernel! {
        fn softmax_kernel(x: &[f32], y: &mut [f32], row: usize) {
            for (x, y) in x.chunks_exact(row).zip(y.chunks_exact_mut(row)) {
                let max = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                y.iter_mut().zip(x).for_each(|(y, &x)| *y = exp(x - max));
                let inv = 1.0 / y.iter().sum::<f32>();
                y.iter_mut().for_each(|y| *y *= inv);
            }
        }
    }

    simd_kernel! {
        /// Softmax of each `row`-wide row of `scores` in place after adding the bias row: row `r`
        /// reads `bias[r·bias_stride..][..row]` (a stride of 0 shares one row).
        fn biased_softmax_kernel(scores: &mut [f32], bias: &[f32], bias_stride: usize, row: usize) {
            for (r, x) in scores.chunks_exact_mut(row).enumerate() {
                let b = &bias[r * bias_stride..][..row];
                x.iter_mut().zip(b).for_each(|(x, b)| *x += b);
                let max = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                x.iter_mut().for_each(|x| *x = exp(*x - max));
                let inv = 1.0 / x.iter().sum::<f32>();
                x.iter_mut().for_each(|x| *x *= inv);
            }
        }
    }

    simd_kernel! {
        /// `y ⊙ (g − ⟨g, y⟩)` per row.
        fn softmax_grad_kernel(g: &[f32], y: &[f32], dx: &mut [MaybeUninit<f32>], row: usize) {
            for ((g, y), dx) in g.chunks_exact(row).zip(y.chunks_exact(row)).zip(dx.chunks_exact_mut(row)) {
                let dot: f32 = g.iter().zip(y).map(|(g, y)| g * y).sum();
                dx.iter_mut().zip(g.iter().zip(y)).for_each(|(dx, (g, y))| {
                    dx.write(y * (g - dot));
                });
            }
        }
    }

    /// Σ f(aᵢ, bᵢ, cᵢ) in 16 independent lanes: one f32 accumulator must add in order, which keeps
    /// the loop from vectorising.
    #[inline(always)]
    fn lane_sum(a: &[f32], b: &[f32], c: &[f32], f: impl Fn(f32, f32, f32) -> f32) -> f32 {
        const LANES: usize = 16;
        let mut acc = [0f32; LANES];
        let (a_chunks, b_chunks, c_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES), c.chunks_exact(LANES));
        let tail: f32 = a_chunks.remainder().iter().zip(b_chunks.remainder()).zip(c_chunks.remainder()).map(|((&x, &y), &z)| f(x, y, z)).sum();
        for ((x, y), z) in a_chunks.zip(b_chunks).zip(c_chunks) {
            for k in 0..LANES {
                acc[k] += f(x[k], y[k], z[k]);
            }
        }
        acc.iter().sum::<f32>() + tail
    }

    /// Per row of `x`: `y = x̂·γ + β` with `x̂ = (x − mean) / σ`, `σ = √(var + eps)`; writes
    /// `x̂` and `1/σ` when asked (training keeps them for the backward pass).
    #[inline(always)]
    fn normalize_rows(x: &[f32], gamma: &[f32], beta: &[f32], eps: f32, y: &mut [MaybeUninit<f32>], normed: Option<&mut [MaybeUninit<f32>]>, inv_std: Option<&mut [f32]>) {
        let d = gamma.len();
        let mut normed = normed;
        let mut inv_std = inv_std;
        for (r, (x, y)) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)).enumerate() {
            let mean = lane_sum(x, x, x, |v, _, _| v) / d as f32;
            // Two passes: the variance from the centred values, as burn and PyTorch compute it.
            let var = lane_sum(x, x, x, |v, _, _| (v - mean) * (v - mean)) / d as f32;
            let inv = 1.0 / (var + eps).sqrt();
            match normed.as_deref_mut() {
                Some(normed) => {
                    let n = &mut normed[r * d..(r + 1) * d];
                    for ((((n, y), &x), &g), &b) in n.iter_mut().zip(y.iter_mut()).zip(x).zip(gamma).zip(beta) {
                        let v = (x - mean) * inv;
                        n.write(v);
                        y.write(v * g + b);
                    }
                }
                None => y.iter_mut().zip(x).zip(gamma.iter().zip(beta)).for_each(|((y, &x), (&g, &b))| {
                    y.write((x - mean) * inv * g + b);
                }),
            }
            if let Some(inv_std) = inv_std.as_deref_mut() {
                inv_std[r] = inv;
            }
        }
    }

    simd_kernel! {
        /// [`normalize_rows`].
        fn layer_norm_kernel(x: &[f32], gamma: &[f32], beta: &[f32], eps: f32, y: &mut [MaybeUninit<f32>], normed: Option<&mut [MaybeUninit<f32>]>, inv_std: Option<&mut [f32]>) {
            normalize_rows(x, gamma, beta, eps, y, normed, inv_std);
        }
    }

    simd_kernel! {
        /// [`normalize_rows`] of `y ⊙ mask + residual` (`y + residual` without a mask), the sum
        /// built first in `sum`, a buffer of the chunk's size that stays in cache.
        #[allow(clippy::too_many_arguments)]
        fn residual_norm_kernel(y: &[f32], mask: Option<&[f32]>, residual: &[f32], sum: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32, out: &mut [MaybeUninit<f32>], normed: Option<&mut [MaybeUninit<f32>]>, inv_std: Option<&mut [f32]>) {
            let sum = &mut sum[..y.len()];
            match mask {
                Some(mask) => sum.iter_mut().zip(y).zip(mask.iter().zip(residual)).for_each(|((s, &y), (&m, &r))| *s = y * m + r),
                None => sum.iter_mut().zip(y).zip(residual).for_each(|((s, &y), &r)| *s = y + r),
            }
            normalize_rows(sum, gamma, beta, eps, out, normed, inv_std);
        }
    }

    simd_kernel! {
        /// LayerNorm's backward pass over whole rows: `dx = (ĝ − mean(ĝ) − x̂·mean(ĝ ⊙ x̂)) / σ`
        /// with `ĝ = g ⊙ γ`; adds `Σ g ⊙ x̂` into `dgamma` and `Σ g` into `dbeta`, in f64: these
        /// column sums over every row of a batch cancel heavily. With `masked = (mask, dy)`, also
        /// `dy = dx ⊙ mask` (a residual norm's gradient for its dropped-out input).
        #[allow(clippy::too_many_arguments)]
        fn layer_norm_grad_kernel(g: &[f32], normed: &[f32], inv_std: &[f32], gamma: &[f32], dx: &mut [MaybeUninit<f32>], masked: Option<(&[f32], &mut [MaybeUninit<f32>])>, dgamma: &mut [f64], dbeta: &mut [f64]) {
            let d = gamma.len();
            let mut masked = masked;
            for (r, (((g, n), dx), &inv)) in g.chunks_exact(d).zip(normed.chunks_exact(d)).zip(dx.chunks_exact_mut(d)).zip(inv_std).enumerate() {
                for (((&g, &n), dg), db) in g.iter().zip(n).zip(dgamma.iter_mut()).zip(dbeta.iter_mut()) {
                    *dg += f64::from(g * n);
                    *db += f64::from(g);
                }
                let a = lane_sum(g, gamma, n, |g, w, _| g * w) / d as f32;
                let b = lane_sum(g, gamma, n, |g, w, n| g * w * n) / d as f32;
                let dx_of = |g: f32, n: f32, w: f32| (g * w - a - n * b) * inv;
                match masked.as_mut() {
                    Some((mask, dy)) => {
                        let row = r * d..(r + 1) * d;
                        for ((((dx, dy), &m), &g), (&n, &w)) in dx.iter_mut().zip(&mut dy[row.clone()]).zip(&mask[row]).zip(g).zip(n.iter().zip(gamma)) {
                            let v = dx_of(g, n, w);
                            dx.write(v);
                            dy.write(v * m);
                        }
                    }
                    None => dx.iter_mut().zip(g).zip(n.iter().zip(gamma)).for_each(|((dx, &g), (&n, &w))| {
                        dx.write(dx_of(g, n, w));
                    }),
                }
            }
        }
    }

    /// Parallel chunks of whole rows (`row` values each) of about [`CHUNK`] values.
    fn row_chunk(row: usize) -> usize {
        row * CHUNK.div_ceil(row)
    }

    fn last_dim(t: &HostTensor) -> usize {
        t.layout().shape().as_slice().last().copied().unwrap_or(1).max(1)
    }

    fn host_gelu_value(x: HostTensor) -> HostTensor {
        let x = dense(x);
        let mut y = Output::new(values(&x).len());
        y.slots().par_chunks_mut(CHUNK).zip(values(&x).par_chunks(CHUNK)).for_each(|(y, x)| gelu_kernel(x, y));
        // SAFETY: the chunks cover every slot, and the kernel writes each.
        host_tensor(unsafe { y.written() }, x.layout().shape().clone())
    }

    /// GELU's value and slope.
    fn host_gelu_with_slope(x: HostTensor) -> (HostTensor, HostTensor) {
        let x = dense(x);
        let n = values(&x).len();
        let (mut y, mut slope) = (Output::new(n), Output::new(n));
        y.slots().par_chunks_mut(CHUNK).zip(slope.slots().par_chunks_mut(CHUNK)).zip(values(&x).par_chunks(CHUNK)).for_each(|((y, s), x)| gelu_slope_kernel(x, y, s));
        let shape = x.layout().shape().clone();
        // SAFETY: the chunks cover every slot, and the kernel writes each.
        let (y, slope) = unsafe { (y.written(), slope.written()) };
        (host_tensor(y, shape.clone()), host_tensor(slope, shape))
    }

    /// `gelu(x @ weight + bias)`, and GELU's slope for the backward pass when `keep`: the bias
    /// and GELU in one pass over the product, in place.
    fn host_linear_gelu_value(x: HostTensor, weight: HostTensor, bias: HostTensor, keep: bool) -> (HostTensor, Option<HostTensor>) {
        let bias = dense(bias);
        let b = values(&bias);
        let (mut y, shape) = product_values(Operand::of(&x), Operand::of(&weight));
        let chunk = row_chunk(b.len());
        if !keep {
            y.par_chunks_mut(chunk).for_each(|y| bias_gelu_kernel(y, b));
            return (host_tensor(y, shape), None);
        }
        let mut slope = Output::new(y.len());
        y.par_chunks_mut(chunk).zip(slope.slots().par_chunks_mut(chunk)).for_each(|(y, s)| bias_gelu_slope_kernel(y, b, s));
        // SAFETY: the chunks cover every slot, and the kernel writes each.
        (host_tensor(y, shape), Some(host_tensor(unsafe { slope.written() }, shape)))
    }

    fn host_softmax_value(x: HostTensor) -> HostTensor {
        let x = dense(x);
        let row = last_dim(&x);
        let chunk = row_chunk(row);
        let mut y = vec![0f32; values(&x).len()];
        y.par_chunks_mut(chunk).zip(values(&x).par_chunks(chunk)).for_each(|(y, x)| softmax_kernel(x, y, row));
        host_tensor(y, x.layout().shape().clone())
    }

    /// What LayerNorm's backward pass reads: `x̂`, `1/σ` per row, and γ.
    #[derive(Debug, Clone)]
    struct NormState {
        normed: HostTensor,
        inv_std: Vec<f32>,
        gamma: HostTensor,
    }

    /// LayerNorm's value, and the state for its backward pass when `keep`.
    fn host_layer_norm_value(x: HostTensor, gamma: HostTensor, beta: HostTensor, eps: f32, keep: bool) -> (HostTensor, Option<NormState>) {
        let (x, gamma, beta) = (dense(x), dense(gamma), dense(beta));
        let d = last_dim(&x);
        let n = values(&x).len();
        let chunk = row_chunk(d);
        let mut y = Output::new(n);
        let shape = x.layout().shape().clone();
        let (g, b) = (values(&gamma), values(&beta));
        if !keep {
            y.slots().par_chunks_mut(chunk).zip(values(&x).par_chunks(chunk)).for_each(|(y, x)| layer_norm_kernel(x, g, b, eps, y, None, None));
            // SAFETY: the chunks cover every slot, and the kernel writes each.
            return (host_tensor(unsafe { y.written() }, shape), None);
        }
        let (mut normed, mut inv_std) = (Output::new(n), vec![0f32; n / d]);
        y.slots()
            .par_chunks_mut(chunk)
            .zip(values(&x).par_chunks(chunk))
            .zip(normed.slots().par_chunks_mut(chunk))
            .zip(inv_std.par_chunks_mut(chunk / d))
            .for_each(|(((y, x), normed), inv)| layer_norm_kernel(x, g, b, eps, y, Some(normed), Some(inv)));
        // SAFETY: as above, for both outputs.
        let (y, normed) = unsafe { (y.written(), normed.written()) };
        (host_tensor(y, shape.clone()), Some(NormState { normed: host_tensor(normed, shape), inv_std, gamma }))
    }

    /// What the residual norm's backward pass reads: the norm's state and the dropout mask.
    #[derive(Debug, Clone)]
    struct ResidualNormState {
        norm: NormState,
        mask: Option<Vec<f32>>,
    }

    /// LayerNorm of `y ⊙ mask + residual`, and the state for the backward pass when `keep_state`.
    fn host_residual_norm_value(
        y: HostTensor,
        residual: HostTensor,
        gamma: HostTensor,
        beta: HostTensor,
        eps: f32,
        (keep, key): (f64, u64),
        keep_state: bool,
    ) -> (HostTensor, Option<ResidualNormState>) {
        let (y, residual, gamma, beta) = (dense(y), dense(residual), dense(gamma), dense(beta));
        let d = last_dim(&y);
        let n = values(&y).len();
        let chunk = row_chunk(d);
        let mask = (keep < 1.0).then(|| crate::model::dropout::mask(n, keep, key));
        let (ys, rs, g, b) = (values(&y), values(&residual), values(&gamma), values(&beta));
        let inputs = |c: usize| {
            let range = c * chunk..((c + 1) * chunk).min(n);
            (&ys[range.clone()], mask.as_deref().map(|m| &m[range.clone()]), &rs[range])
        };
        let mut out = Output::new(n);
        let shape = y.layout().shape().clone();
        let sum = || vec![0f32; chunk];
        if !keep_state {
            out.slots().par_chunks_mut(chunk).enumerate().for_each_init(sum, |sum, (c, out)| {
                let (y, m, r) = inputs(c);
                residual_norm_kernel(y, m, r, sum, g, b, eps, out, None, None)
            });
            // SAFETY: the chunks cover every slot, and the kernel writes each.
            return (host_tensor(unsafe { out.written() }, shape), None);
        }
        let (mut normed, mut inv_std) = (Output::new(n), vec![0f32; n / d]);
        out.slots().par_chunks_mut(chunk).zip(normed.slots().par_chunks_mut(chunk)).zip(inv_std.par_chunks_mut(chunk / d)).enumerate().for_each_init(
            sum,
            |sum, (c, ((out, normed), inv))| {
                let (y, m, r) = inputs(c);
                residual_norm_kernel(y, m, r, sum, g, b, eps, out, Some(normed), Some(inv))
            },
        );
        // SAFETY: as above, for both outputs.
        let (out, normed) = unsafe { (out.written(), normed.written()) };
        let norm = NormState { normed: host_tensor(normed, shape.clone()), inv_std, gamma };
        (host_tensor(out, shape), Some(ResidualNormState { norm, mask }))
    }

    /// A pointer that parallel tasks write through, each into its own elements.
    #[derive(Clone, Copy)]
    struct SharedOut(*mut f32);

    impl SharedOut {
        /// The pointer (a method, so that closures capture the `Send` wrapper, not its field).
        fn ptr(self) -> *mut f32 {
            self.0
        }
    }
    // SAFETY: every task writes a disjoint set of elements (see `host_attention`).
    unsafe impl Send for SharedOut {}
    unsafe impl Sync for SharedOut {}

    /// The shape of one attention op: `[batch, seq, hidden]` inputs over `heads` heads, and the
    /// bias's own shape with its strides over (batch, head, query row), 0 where it broadcasts.
    #[derive(Debug, Clone, Copy)]
    struct AttentionShape {
        batch: usize,
        seq: usize,
        d: usize,
        heads: usize,
        bias: [usize; 4],
        bias_strides: [usize; 3],
    }

    impl AttentionShape {
        fn of(q: &HostTensor, bias: &HostTensor, heads: usize) -> Self {
            let (x, b) = (q.layout().shape().clone(), bias.layout().shape().clone());
            let bias = [b[0], b[1], b[2], b[3]];
            let stride = |axis: usize, step: usize| if bias[axis] == 1 { 0 } else { step };
            let bias_strides = [stride(0, b[1] * b[2] * b[3]), stride(1, b[2] * b[3]), stride(2, b[3])];
            Self { batch: x[0], seq: x[1], d: x[2], heads, bias, bias_strides }
        }

        fn dh(&self) -> usize {
            self.d / self.heads
        }

        /// (batch row, head) pairs: the parallel tasks.
        fn pairs(&self) -> usize {
            self.batch * self.heads
        }

        /// Offset of pair `task`'s first value in a `[batch, seq, hidden]` tensor.
        fn first(&self, task: usize) -> usize {
            (task / self.heads) * self.seq * self.d + (task % self.heads) * self.dh()
        }

        /// Offset of pair `task`'s bias block in the bias's own layout.
        fn bias_first(&self, task: usize) -> usize {
            (task / self.heads) * self.bias_strides[0] + (task % self.heads) * self.bias_strides[1]
        }
    }

    /// What attention's backward pass reads: the inputs, the probabilities before dropout
    /// (`[batch, heads, seq, seq]`), and the dropout mask when there is one.
    #[derive(Debug, Clone)]
    struct AttentionState {
        q: HostTensor,
        k: HostTensor,
        v: HostTensor,
        probs: Vec<f32>,
        mask: Option<Vec<f32>>,
        shape: AttentionShape,
    }

    /// A matrix operand as gemm reads it: its first element, row stride and column stride.
    type Strided = (*const f32, isize, isize);

    /// `dst[m × n] = beta · lhs[m × k] · rhs[k × n]`, `dst` row-major with row stride `dst_rows`.
    ///
    /// # Safety
    /// Every operand's extent under its strides must lie inside its allocation, and `dst` must
    /// not be written by anyone else meanwhile.
    unsafe fn gemm_into(
        dst: *mut f32,
        dst_rows: usize,
        (lhs, lhs_rs, lhs_cs): Strided,
        (rhs, rhs_rs, rhs_cs): Strided,
        [m, n, k]: [usize; 3],
        beta: f32,
        parallelism: gemm::Parallelism,
    ) {
        unsafe { gemm::gemm(m, n, k, dst, 1, dst_rows as isize, false, lhs, lhs_cs, lhs_rs, rhs, rhs_cs, rhs_rs, 0.0, beta, false, false, false, parallelism) }
    }

    /// [`gemm_into`] on the calling thread, for one (row, head) pair's small products; strides in
    /// elements.
    ///
    /// # Safety
    /// As [`gemm_into`].
    unsafe fn pair_product(
        dst: *mut f32,
        dst_rows: usize,
        (lhs, lhs_rs, lhs_cs): (*const f32, usize, usize),
        (rhs, rhs_rs, rhs_cs): (*const f32, usize, usize),
        mnk: [usize; 3],
        beta: f32,
    ) {
        let s = |x: usize| x as isize;
        unsafe { gemm_into(dst, dst_rows, (lhs, s(lhs_rs), s(lhs_cs)), (rhs, s(rhs_rs), s(rhs_cs)), mnk, beta, gemm::Parallelism::None) }
    }

    /// Attention's value, and the state for its backward pass when `keep_state`.
    fn host_attention_value(
        q: HostTensor,
        k: HostTensor,
        v: HostTensor,
        bias: HostTensor,
        heads: usize,
        (keep, key): (f32, u64),
        keep_state: bool,
    ) -> (HostTensor, Option<AttentionState>) {
        let (q, k, v, bias) = (dense(q), dense(k), dense(v), dense(bias));
        let shape = AttentionShape::of(&q, &bias, heads);
        let (seq, d, dh) = (shape.seq, shape.d, shape.dh());
        let block = seq * seq;
        let mask = (keep < 1.0).then(|| crate::model::dropout::mask(shape.pairs() * block, f64::from(keep), key));
        let kept = if keep_state { shape.pairs() * block } else { 0 };
        let (mut probs, mut out) = (Output::new(kept), Output::new(shape.batch * seq * d));
        let (out_ptr, probs_ptr) = (SharedOut(out.ptr()), SharedOut(probs.ptr()));
        let (qs, ks, vs, bs) = (values(&q), values(&k), values(&v), values(&bias));
        (0..shape.pairs()).into_par_iter().for_each_init(
            || (vec![0f32; block], vec![0f32; block]),
            |(scores, dropped), task| {
                let first = shape.first(task);
                // SAFETY: the pair's block of q, k and v (seq rows of dh values, rows d apart) lies
                // inside the dense [batch, seq, d] storage; `scores` and `dropped` hold seq·seq
                // values; the output block and the probabilities' block are this pair's own, and
                // together the pairs write every output value once.
                let p = if keep_state { unsafe { probs_ptr.ptr().add(task * block) } } else { scores.as_mut_ptr() };
                unsafe { pair_product(p, seq, (qs[first..].as_ptr(), d, 1), (ks[first..].as_ptr(), 1, d), [seq, seq, dh], 1.0 / (dh as f32).sqrt()) };
                // gemm has written the block.
                let p = unsafe { std::slice::from_raw_parts_mut(p, block) };
                biased_softmax_kernel(p, &bs[shape.bias_first(task)..], shape.bias_strides[2], seq);
                let p: &[f32] = match &mask {
                    Some(mask) => {
                        // SAFETY: the kernel writes initialised values.
                        multiply_kernel(p, &mask[task * block..][..block], unsafe { as_slots(dropped) });
                        &dropped[..]
                    }
                    None => p,
                };
                unsafe { pair_product(out_ptr.ptr().add(first), d, (p.as_ptr(), seq, 1), (vs[first..].as_ptr(), d, 1), [seq, dh, seq], 1.0) };
            },
        );
        // SAFETY: the pairs above wrote all batch·seq·d values, and every probability block when
        // they are kept.
        let (out, probs) = unsafe { (out.written(), probs.written()) };
        let out = host_tensor(out, q.layout().shape().clone());
        (out, keep_state.then(|| AttentionState { q, k, v, probs, mask, shape }))
    }

    /// The gradient of a bias of shape `bias` from the score gradients of every pair
    /// (`[batch, heads, seq, seq]`): summed over the axes where the bias broadcasts.
    fn bias_gradient(dscores: Vec<f32>, shape: &AttentionShape) -> HostTensor {
        let [b, h, r, c] = shape.bias;
        if b * h * r * c == dscores.len() {
            return host_tensor(dscores, shape.bias);
        }
        let mut sums = vec![0f64; b * h * r * c];
        let seq = shape.seq;
        for (task, block) in dscores.chunks_exact(seq * seq).enumerate() {
            let (row, head) = (task / shape.heads, task % shape.heads);
            let base = (if b == 1 { 0 } else { row }) * h * r * c + (if h == 1 { 0 } else { head }) * r * c;
            for (i, line) in block.chunks_exact(seq).enumerate() {
                let at = base + if r == 1 { 0 } else { i * c };
                sums[at..at + c].iter_mut().zip(line).for_each(|(s, &g)| *s += f64::from(g));
            }
        }
        host_tensor(sums.into_iter().map(|v| v as f32).collect(), shape.bias)
    }

    /// Attention's backward pass, per (row, head) pair: `dV = P̃ᵀ·G` with `P̃` the probabilities
    /// after dropout, `dP̃ = G·Vᵀ`, `dP = dP̃ ⊙ mask`, the softmax's `dS = P ⊙ (dP − ⟨dP, P⟩)` per
    /// row, then `dQ = dS·K/√dₕ`, `dK = dSᵀ·Q/√dₕ`; the bias's gradient is dS summed where it
    /// broadcasts.
    #[derive(Debug)]
    struct AttentionBackward;

    impl Backward<Flex, 4> for AttentionBackward {
        type State = AttentionState;

        fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
            let [node_q, node_k, node_v, node_bias] = ops.parents;
            let grad = dense(grads.consume::<Flex>(&ops.node));
            let AttentionState { q, k, v, probs, mask, shape } = ops.state;
            let (seq, d, dh) = (shape.seq, shape.d, shape.dh());
            let (block, n) = (seq * seq, shape.batch * seq * d);
            let scale = 1.0 / (dh as f32).sqrt();
            let mut outputs = [n, n, n, if node_bias.is_some() { shape.pairs() * block } else { 0 }].map(Output::new);
            let ptrs = outputs.each_mut().map(|o| SharedOut(o.ptr()));
            let (gs, qs, ks, vs) = (values(&grad), values(&q), values(&k), values(&v));
            (0..shape.pairs()).into_par_iter().for_each_init(
                || (vec![0f32; block], vec![0f32; block]),
                |(a, b), task| {
                    let first = shape.first(task);
                    let p = &probs[task * block..][..block];
                    let dropped: &[f32] = match &mask {
                        Some(mask) => {
                            // SAFETY: the kernel writes initialised values.
                            multiply_kernel(p, &mask[task * block..][..block], unsafe { as_slots(a) });
                            &a[..]
                        }
                        None => p,
                    };
                    // SAFETY: as in the forward pass; each pair writes only its own blocks of
                    // dq, dk, dv (seq rows of dh values, rows d apart) and of the score gradients.
                    unsafe {
                        // dV = P̃ᵀ·G (P̃ read transposed: row stride 1, column stride seq).
                        pair_product(ptrs[2].ptr().add(first), d, (dropped.as_ptr(), 1, seq), (gs[first..].as_ptr(), d, 1), [seq, dh, seq], 1.0);
                        // dP̃ = G·Vᵀ into b.
                        pair_product(b.as_mut_ptr(), seq, (gs[first..].as_ptr(), d, 1), (vs[first..].as_ptr(), 1, d), [seq, seq, dh], 1.0);
                    }
                    if let Some(mask) = &mask {
                        b.iter_mut().zip(&mask[task * block..][..block]).for_each(|(g, m)| *g *= m);
                    }
                    // dS into a (P̃ is no longer needed).
                    // SAFETY: the kernel writes initialised values.
                    softmax_grad_kernel(b, p, unsafe { as_slots(a) }, seq);
                    unsafe {
                        pair_product(ptrs[0].ptr().add(first), d, (a.as_ptr(), seq, 1), (ks[first..].as_ptr(), d, 1), [seq, dh, seq], scale);
                        pair_product(ptrs[1].ptr().add(first), d, (a.as_ptr(), 1, seq), (qs[first..].as_ptr(), d, 1), [seq, dh, seq], scale);
                        if node_bias.is_some() {
                            std::slice::from_raw_parts_mut(ptrs[3].ptr().add(task * block), block).copy_from_slice(a);
                        }
                    }
                },
            );
            // SAFETY: the pairs above wrote all n values of dq, dk and dv, and every pair's block
            // of the score gradients when the bias takes one.
            let [dq, dk, dv, dscores] = outputs.map(|o| unsafe { o.written() });
            let x_shape = q.layout().shape().clone();
            for (node, g) in [(node_q, dq), (node_k, dk), (node_v, dv)] {
                if let Some(node) = node {
                    grads.register::<Flex>(node.id, host_tensor(g, x_shape.clone()));
                }
            }
            if let Some(node) = node_bias {
                grads.register::<Flex>(node.id, bias_gradient(dscores, &shape));
            }
        }
    }

    impl HostOps for Flex {
        fn host_linear(x: HostTensor, weight: HostTensor, bias: HostTensor) -> HostTensor {
            let bias = dense(bias);
            product(Operand::of(&x), Operand::of(&weight), Some(values(&bias)))
        }

        fn host_gelu(x: HostTensor) -> HostTensor {
            host_gelu_value(x)
        }

        fn host_linear_gelu(x: HostTensor, weight: HostTensor, bias: HostTensor) -> HostTensor {
            host_linear_gelu_value(x, weight, bias, false).0
        }

        fn host_softmax(x: HostTensor) -> HostTensor {
            host_softmax_value(x)
        }

        fn host_layer_norm(x: HostTensor, gamma: HostTensor, beta: HostTensor, eps: f32) -> HostTensor {
            host_layer_norm_value(x, gamma, beta, eps, false).0
        }

        fn host_residual_norm(y: HostTensor, residual: HostTensor, gamma: HostTensor, beta: HostTensor, eps: f32, keep: f64, key: u64) -> HostTensor {
            host_residual_norm_value(y, residual, gamma, beta, eps, (keep, key), false).0
        }

        fn host_attention(q: HostTensor, k: HostTensor, v: HostTensor, bias: HostTensor, heads: usize, keep: f32, key: u64) -> HostTensor {
            host_attention_value(q, k, v, bias, heads, (keep, key), false).0
        }

        fn host_embedding(table: HostTensor, ids: IntTensor<Flex>) -> HostTensor {
            Flex::embedding(table, ids)
        }
    }

    /// The embedding lookup's backward pass: each incoming row added into the table gradient's
    /// row for its id; rows no id names stay zero.
    #[derive(Debug)]
    struct EmbeddingBackward;

    impl Backward<Flex, 1> for EmbeddingBackward {
        /// The ids and the table's row count.
        type State = (IntTensor<Flex>, usize);

        fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let [node_table] = ops.parents;
            let grad = dense(grads.consume::<Flex>(&ops.node));
            if let Some(node) = node_table {
                let ((ids, rows), d) = (ops.state, last_dim(&grad));
                let mut table = vec![0f32; rows * d];
                for (id, row) in ids.into_data().iter::<i64>().zip(values(&grad).chunks_exact(d)) {
                    table[id as usize * d..][..d].iter_mut().zip(row).for_each(|(t, g)| *t += g);
                }
                grads.register::<Flex>(node.id, host_tensor(table, [rows, d]));
            }
        }
    }

    #[derive(Debug)]
    struct LinearBackward;

    impl Backward<Flex, 3> for LinearBackward {
        /// The checkpointed input (for the weight gradient) and weight (for the input gradient).
        type State = (Option<NodeId>, Option<NodeId>);

        fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
            let grad = grads.consume::<Flex>(&ops.node);
            linear_gradients(ops.parents.map(|p| p.map(|n| n.id)), grad, ops.state, grads, checkpointer);
        }
    }

    /// Registers a dense layer's gradients from its output's gradient `g`: `dx = g·Wᵀ`,
    /// `dW = xᵀ·g`, the bias's the column sums of `g`, each where its parent is tracked.
    fn linear_gradients(parents: [Option<NodeId>; 3], grad: HostTensor, kept: (Option<NodeId>, Option<NodeId>), grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [node_x, node_weight, node_bias] = parents;
        let (x_state, weight_state) = kept;
        if let Some(node) = node_x {
            let weight = checkpointer.retrieve_node_output::<HostTensor>(weight_state.expect("weight kept for dx"));
            grads.register::<Flex>(node, product(Operand::of(&grad), Operand::of(&weight).transposed(), None));
        }
        if let Some(node) = node_weight {
            let x = checkpointer.retrieve_node_output::<HostTensor>(x_state.expect("input kept for dW"));
            grads.register::<Flex>(node, product(Operand::of(&x).transposed(), Operand::of(&grad), None));
        }
        if let Some(node) = node_bias {
            grads.register::<Flex>(node, column_sums(grad));
        }
    }

    /// A dense layer followed by GELU: the incoming gradient times GELU's slope, then the dense
    /// layer's gradients.
    #[derive(Debug)]
    struct LinearGeluBackward;

    impl Backward<Flex, 3> for LinearGeluBackward {
        /// The checkpointed input and weight (as [`LinearBackward`]'s), and GELU's slope.
        type State = (Option<NodeId>, Option<NodeId>, HostTensor);

        fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
            let (x_state, weight_state, slope) = ops.state;
            // SAFETY: the kernel writes every value of its output.
            let grad = unsafe { zip_rows(grads.consume::<Flex>(&ops.node), slope, 1, multiply_kernel) };
            linear_gradients(ops.parents.map(|p| p.map(|n| n.id)), grad, (x_state, weight_state), grads, checkpointer);
        }
    }

    /// `kernel(a, b, out)` over parallel chunks of whole rows (`row` values each) of two tensors of
    /// one shape, into a new tensor of that shape.
    ///
    /// # Safety
    /// `kernel` writes every value of its output.
    unsafe fn zip_rows(a: HostTensor, b: HostTensor, row: usize, kernel: impl Fn(&[f32], &[f32], &mut [MaybeUninit<f32>]) + Sync) -> HostTensor {
        let (a, b, chunk) = (dense(a), dense(b), row_chunk(row));
        let mut out = Output::new(values(&a).len());
        out.slots().par_chunks_mut(chunk).zip(values(&a).par_chunks(chunk)).zip(values(&b).par_chunks(chunk)).for_each(|((out, a), b)| kernel(a, b, out));
        // SAFETY: the chunks cover every slot, and the caller's kernel writes each.
        host_tensor(unsafe { out.written() }, a.layout().shape().clone())
    }

    /// Registers the input gradient of a one-input op whose backward reads the incoming gradient
    /// and the state kept from the forward pass.
    fn unary_backward(ops: Ops<HostTensor, 1>, grads: &mut Gradients, dx: impl FnOnce(HostTensor, HostTensor) -> HostTensor) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, dx(grad, ops.state));
        }
    }

    /// GELU's backward pass: the incoming gradient times the slope kept from the forward pass.
    #[derive(Debug)]
    struct GeluBackward;

    impl Backward<Flex, 1> for GeluBackward {
        type State = HostTensor;

        fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            // SAFETY: the kernel writes every value of its output.
            unary_backward(ops, grads, |grad, slope| unsafe { zip_rows(grad, slope, 1, multiply_kernel) });
        }
    }

    /// Softmax's backward pass from its output `y`: `dx = y ⊙ (g − ⟨g, y⟩)` per row.
    #[derive(Debug)]
    struct SoftmaxBackward;

    impl Backward<Flex, 1> for SoftmaxBackward {
        type State = HostTensor;

        fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            unary_backward(ops, grads, |grad, y| {
                let row = last_dim(&y);
                // SAFETY: the kernel writes every value of its output.
                unsafe { zip_rows(grad, y, row, |g, y, dx| softmax_grad_kernel(g, y, dx, row)) }
            });
        }
    }

    /// LayerNorm's gradients from its output's gradient: the input's, the input's times `mask`
    /// when given, and γ's and β's, in one pass over row chunks whose partial sums are added at
    /// the end.
    fn norm_gradients(grad: HostTensor, state: NormState, mask: Option<&[f32]>) -> (HostTensor, Option<HostTensor>, HostTensor, HostTensor) {
        let grad = dense(grad);
        let NormState { normed, inv_std, gamma } = state;
        let (d, shape) = (values(&gamma).len(), grad.layout().shape().clone());
        let chunk = row_chunk(d);
        let n = values(&grad).len();
        let mut dx = Output::new(n);
        let mut dy = mask.map(|_| Output::new(n));
        let dy_ptr = dy.as_mut().map(|dy| SharedOut(dy.slots().as_mut_ptr().cast()));
        let g = values(&gamma);
        let (dgamma, dbeta) = dx
            .slots()
            .par_chunks_mut(chunk)
            .zip(values(&grad).par_chunks(chunk))
            .zip(values(&normed).par_chunks(chunk))
            .zip(inv_std.par_chunks(chunk / d))
            .enumerate()
            .map(|(c, (((dx, grad), normed), inv))| {
                let (mut dgamma, mut dbeta) = (vec![0f64; d], vec![0f64; d]);
                let range = c * chunk..c * chunk + dx.len();
                // SAFETY: dy has n slots, and chunk c's range of them is this task's alone.
                let masked = mask.zip(dy_ptr).map(|(m, dy)| (&m[range.clone()], unsafe { std::slice::from_raw_parts_mut(dy.ptr().add(range.start).cast(), range.len()) }));
                layer_norm_grad_kernel(grad, normed, inv, g, dx, masked, &mut dgamma, &mut dbeta);
                (dgamma, dbeta)
            })
            .reduce_with(|(mut ga, mut ba), (gb, bb)| {
                ga.iter_mut().zip(&gb).for_each(|(a, b)| *a += b);
                ba.iter_mut().zip(&bb).for_each(|(a, b)| *a += b);
                (ga, ba)
            })
            .unwrap_or_else(|| (vec![0f64; d], vec![0f64; d]));
        let narrow = |v: Vec<f64>| host_tensor(v.into_iter().map(|v| v as f32).collect::<Vec<f32>>(), [d]);
        // SAFETY: the chunks cover every slot of dx and, with a mask, of dy; the kernel writes each.
        let (dx, dy) = unsafe { (dx.written(), dy.map(|dy| dy.written())) };
        (host_tensor(dx, shape.clone()), dy.map(|dy| host_tensor(dy, shape)), narrow(dgamma), narrow(dbeta))
    }

    /// LayerNorm's backward pass.
    #[derive(Debug)]
    struct LayerNormBackward;

    impl Backward<Flex, 3> for LayerNormBackward {
        type State = NormState;

        fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
            let (dx, _, dgamma, dbeta) = norm_gradients(grads.consume::<Flex>(&ops.node), ops.state, None);
            for (node, g) in ops.parents.into_iter().zip([dx, dgamma, dbeta]) {
                if let Some(node) = node {
                    grads.register::<Flex>(node.id, g);
                }
            }
        }
    }

    /// The residual norm's backward pass: the norm's input gradient goes to the residual as it
    /// is and to `y` times the dropout mask.
    #[derive(Debug)]
    struct ResidualNormBackward;

    impl Backward<Flex, 4> for ResidualNormBackward {
        type State = ResidualNormState;

        fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
            let ResidualNormState { norm, mask } = ops.state;
            let mask = mask.as_deref().filter(|_| ops.parents[0].is_some());
            let (dsum, dy, dgamma, dbeta) = norm_gradients(grads.consume::<Flex>(&ops.node), norm, mask);
            let dy = dy.unwrap_or_else(|| dsum.clone());
            for (node, g) in ops.parents.into_iter().zip([dy, dsum, dgamma, dbeta]) {
                if let Some(node) = node {
                    grads.register::<Flex>(node.id, g);
                }
            }
        }
    }

    impl<C: CheckpointStrategy> HostOps for Autodiff<Flex, C> {
        fn host_linear(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self> {
            let (x_tracked, weight_tracked) = (x.is_tracked(), weight.is_tracked());
            match LinearBackward.prepare::<C>([x.node(), weight.node(), bias.node()]).compute_bound().stateful() {
                OpsKind::Tracked(mut prep) => {
                    let x_state = weight_tracked.then(|| prep.checkpoint(&x));
                    let weight_state = x_tracked.then(|| prep.checkpoint(&weight));
                    let out = Flex::host_linear(x.into_primitive(), weight.into_primitive(), bias.into_primitive());
                    prep.finish((x_state, weight_state), out)
                }
                OpsKind::UnTracked(prep) => prep.finish(Flex::host_linear(x.into_primitive(), weight.into_primitive(), bias.into_primitive())),
            }
        }

        fn host_linear_gelu(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self> {
            let (x_tracked, weight_tracked) = (x.is_tracked(), weight.is_tracked());
            match LinearGeluBackward.prepare::<C>([x.node(), weight.node(), bias.node()]).compute_bound().stateful() {
                OpsKind::Tracked(mut prep) => {
                    let x_state = weight_tracked.then(|| prep.checkpoint(&x));
                    let weight_state = x_tracked.then(|| prep.checkpoint(&weight));
                    let (y, slope) = host_linear_gelu_value(x.into_primitive(), weight.into_primitive(), bias.into_primitive(), true);
                    prep.finish((x_state, weight_state, slope.expect("kept for the backward pass")), y)
                }
                OpsKind::UnTracked(prep) => prep.finish(host_linear_gelu_value(x.into_primitive(), weight.into_primitive(), bias.into_primitive(), false).0),
            }
        }

        fn host_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
            match GeluBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
                OpsKind::Tracked(prep) => {
                    let (y, slope) = host_gelu_with_slope(x.into_primitive());
                    prep.finish(slope, y)
                }
                OpsKind::UnTracked(prep) => prep.finish(host_gelu_value(x.into_primitive())),
            }
        }

        fn host_softmax(x: FloatTensor<Self>) -> FloatTensor<Self> {
            match SoftmaxBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
                OpsKind::Tracked(prep) => {
                    let y = host_softmax_value(x.into_primitive());
                    prep.finish(y.clone(), y)
                }
                OpsKind::UnTracked(prep) => prep.finish(host_softmax_value(x.into_primitive())),
            }
        }

        fn host_layer_norm(x: FloatTensor<Self>, gamma: FloatTensor<Self>, beta: FloatTensor<Self>, eps: f32) -> FloatTensor<Self> {
            match LayerNormBackward.prepare::<C>([x.node(), gamma.node(), beta.node()]).compute_bound().stateful() {
                OpsKind::Tracked(prep) => {
                    let (y, state) = host_layer_norm_value(x.into_primitive(), gamma.into_primitive(), beta.into_primitive(), eps, true);
                    prep.finish(state.expect("kept for the backward pass"), y)
                }
                OpsKind::UnTracked(prep) => prep.finish(host_layer_norm_value(x.into_primitive(), gamma.into_primitive(), beta.into_primitive(), eps, false).0),
            }
        }

        fn host_residual_norm(
            y: FloatTensor<Self>,
            residual: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            beta: FloatTensor<Self>,
            eps: f32,
            keep: f64,
            key: u64,
        ) -> FloatTensor<Self> {
            match ResidualNormBackward.prepare::<C>([y.node(), residual.node(), gamma.node(), beta.node()]).compute_bound().stateful() {
                OpsKind::Tracked(prep) => {
                    let (out, state) =
                        host_residual_norm_value(y.into_primitive(), residual.into_primitive(), gamma.into_primitive(), beta.into_primitive(), eps, (keep, key), true);
                    prep.finish(state.expect("kept for the backward pass"), out)
                }
                OpsKind::UnTracked(prep) => {
                    prep.finish(host_residual_norm_value(y.into_primitive(), residual.into_primitive(), gamma.into_primitive(), beta.into_primitive(), eps, (keep, key), false).0)
                }
            }
        }

        fn host_attention(q: FloatTensor<Self>, k: FloatTensor<Self>, v: FloatTensor<Self>, bias: FloatTensor<Self>, heads: usize, keep: f32, key: u64) -> FloatTensor<Self> {
            match AttentionBackward.prepare::<C>([q.node(), k.node(), v.node(), bias.node()]).compute_bound().stateful() {
                OpsKind::Tracked(prep) => {
                    let (out, state) = host_attention_value(q.into_primitive(), k.into_primitive(), v.into_primitive(), bias.into_primitive(), heads, (keep, key), true);
                    prep.finish(state.expect("kept for the backward pass"), out)
                }
                OpsKind::UnTracked(prep) => {
                    prep.finish(host_attention_value(q.into_primitive(), k.into_primitive(), v.into_primitive(), bias.into_primitive(), heads, (keep, key), false).0)
                }
            }
        }

        fn host_embedding(table: FloatTensor<Self>, ids: IntTensor<Self>) -> FloatTensor<Self> {
            match EmbeddingBackward.prepare::<C>([table.node()]).compute_bound().stateful() {
                OpsKind::Tracked(prep) => {
                    let table = table.into_primitive();
                    let rows = table.layout().shape()[0];
                    prep.finish((ids.clone(), rows), Flex::embedding(table, ids))
                }
                OpsKind::UnTracked(prep) => prep.finish(Flex::embedding(table.into_primitive(), ids)),
            }
        }
    }
}
