//! Dense layers on the `flex` backend as one autodiff op whose forward and backward products call
//! `gemm` directly. burn-flex allocates every matmul output through `FlexTensor::empty`, which
//! zero-fills a byte vector and then copies it once more to realign it: two passes over the output
//! before gemm writes it, in the forward product and both backward ones. Here gemm writes each
//! product once into a fresh vector, and the bias (forward) and its gradient (a column sum) are one
//! parallel pass each (measured: +35–50 % KD-step samples/s, README "Performance"). Other
//! backends keep burn's `Linear`.

use burn::nn::Linear;
use burn::tensor::Tensor;

/// `layer.forward(x)`, through the host path on `flex`.
pub fn linear<const D: usize>(layer: &Linear, x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if let Some(bias) = &layer.bias
        && x.dtype() == burn::tensor::DType::F32
        && x.device().inner() == burn::tensor::Device::flex()
    {
        let dims = x.dims();
        let d_in = dims[D - 1];
        let rows = dims[..D - 1].iter().product::<usize>();
        let weight = layer.weight.val();
        let d_out = weight.dims()[1];
        let out = Tensor::<2>::from_dispatch(flex::host_linear_dispatch(
            x.reshape([rows, d_in]).into_dispatch(),
            weight.into_dispatch(),
            bias.val().into_dispatch(),
        ));
        let mut out_dims = dims;
        out_dims[D - 1] = d_out;
        return out.reshape(out_dims);
    }
    layer.forward(x)
}

#[cfg(feature = "flex")]
mod flex {
    use burn::backend::autodiff::checkpoint::base::Checkpointer;
    use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::autodiff::{Autodiff, NodeId};
    use burn::backend::ops::FloatTensorOps;
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{Backend, Dispatch, DispatchTensor, Flex, backend_extension};
    use burn::tensor::TensorData;
    use rayon::prelude::*;

    type HostTensor = FloatTensor<Flex>;

    /// About this many elements (whole rows) per task in the parallel bias pass.
    const BIAS_CHUNK: usize = 1 << 14;

    /// `x @ weight + bias` for `x [rows, d_in]`, `weight [d_in, d_out]`, `bias [d_out]` (f32).
    #[backend_extension(Autodiff, Flex)]
    pub trait HostLinear: Backend {
        fn host_linear(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self>;
    }

    pub fn host_linear_dispatch(x: DispatchTensor, weight: DispatchTensor, bias: DispatchTensor) -> DispatchTensor {
        <Dispatch as HostLinear>::host_linear(x, weight, bias)
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
        let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
        assert_eq!(k, rhs.rows, "host linear: inner dimensions differ");
        let mut out: Vec<f32> = Vec::with_capacity(m * n);
        let parallelism = if m * n * k >= 1 << 18 { gemm::Parallelism::Rayon(0) } else { gemm::Parallelism::None };
        // SAFETY: the operands' strides and extents come from their layouts, which stay inside
        // their storage; `out` has room for m·n values, which gemm writes without reading.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                out.as_mut_ptr(),
                1,
                n as isize,
                false,
                lhs.ptr(),
                lhs.col_stride,
                lhs.row_stride,
                rhs.ptr(),
                rhs.col_stride,
                rhs.row_stride,
                0.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            );
            out.set_len(m * n);
        }
        // A separate parallel pass: gemm reading a bias-filled output is slower than this.
        if let Some(bias) = bias {
            out.par_chunks_mut(n * BIAS_CHUNK.div_ceil(n)).for_each(|rows| {
                rows.chunks_exact_mut(n).for_each(|row| row.iter_mut().zip(bias).for_each(|(v, b)| *v += b));
            });
        }
        host_tensor(out, [m, n])
    }

    fn host_tensor<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> HostTensor {
        Flex::float_from_data(TensorData::new(values, shape), &Default::default())
    }

    fn contiguous_values(t: &HostTensor) -> std::borrow::Cow<'_, [f32]> {
        match t.layout().contiguous_offsets() {
            Some((start, end)) => std::borrow::Cow::Borrowed(&t.storage::<f32>()[start..end]),
            None => std::borrow::Cow::Owned(t.to_contiguous().storage::<f32>().to_vec()),
        }
    }

    /// Column sums of `grad [rows, d_out]`: the bias gradient.
    fn column_sums(grad: &HostTensor) -> HostTensor {
        let d_out = grad.layout().shape()[1];
        let values = contiguous_values(grad);
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

    impl HostLinear for Flex {
        fn host_linear(x: HostTensor, weight: HostTensor, bias: HostTensor) -> HostTensor {
            product(Operand::of(&x), Operand::of(&weight), Some(&contiguous_values(&bias)))
        }
    }

    #[derive(Debug)]
    struct HostLinearBackward;

    impl Backward<Flex, 3> for HostLinearBackward {
        /// The checkpointed input (for the weight gradient) and weight (for the input gradient).
        type State = (Option<NodeId>, Option<NodeId>);

        fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
            let [node_x, node_weight, node_bias] = ops.parents;
            let grad = grads.consume::<Flex>(&ops.node);
            let (x_state, weight_state) = ops.state;
            if let Some(node) = node_x {
                let weight = checkpointer.retrieve_node_output::<HostTensor>(weight_state.expect("weight kept for dx"));
                grads.register::<Flex>(node.id, product(Operand::of(&grad), Operand::of(&weight).transposed(), None));
            }
            if let Some(node) = node_weight {
                let x = checkpointer.retrieve_node_output::<HostTensor>(x_state.expect("input kept for dW"));
                grads.register::<Flex>(node.id, product(Operand::of(&x).transposed(), Operand::of(&grad), None));
            }
            if let Some(node) = node_bias {
                grads.register::<Flex>(node.id, column_sums(&grad));
            }
        }
    }

    impl<C: CheckpointStrategy> HostLinear for Autodiff<Flex, C> {
        fn host_linear(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self> {
            let (x_tracked, weight_tracked) = (x.is_tracked(), weight.is_tracked());
            match HostLinearBackward.prepare::<C>([x.node(), weight.node(), bias.node()]).compute_bound().stateful() {
                OpsKind::Tracked(mut prep) => {
                    let x_state = weight_tracked.then(|| prep.checkpoint(&x));
                    let weight_state = x_tracked.then(|| prep.checkpoint(&weight));
                    let out = Flex::host_linear(x.into_primitive(), weight.into_primitive(), bias.into_primitive());
                    prep.finish((x_state, weight_state), out)
                }
                OpsKind::UnTracked(prep) => prep.finish(Flex::host_linear(x.into_primitive(), weight.into_primitive(), bias.into_primitive())),
            }
        }
    }
}
