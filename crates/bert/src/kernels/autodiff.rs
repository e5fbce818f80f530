//! GELU under autodiff: the forward pass is the inner backend's kernel, and the
//! backward pass its derivative kernel, instead of burn's element-wise fallback.

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Backend};

use super::BertKernels;

impl<B: Backend + BertKernels, C: CheckpointStrategy> BertKernels for Autodiff<B, C> {
    fn erf_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct ErfGelu;

        impl<B: Backend + BertKernels> Backward<B, 1> for ErfGelu {
            /// The input, which the derivative needs.
            type State = NodeId;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                checkpointer: &mut Checkpointer,
            ) {
                let input = checkpointer.retrieve_node_output(ops.state);
                unary::<B, _>(ops.parents, ops.node, grads, |grad| {
                    B::erf_gelu_backward(input, grad)
                });
            }
        }

        match ErfGelu.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let state = prep.checkpoint(&x);
                prep.finish(state, B::erf_gelu(x.primitive().clone()))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::erf_gelu(x.into_primitive())),
        }
    }

    fn softmax_last(x: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct SoftmaxLast;

        impl<B: Backend + BertKernels> Backward<B, 1> for SoftmaxLast {
            /// The output, all the derivative needs.
            type State = FloatTensor<B>;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let output = ops.state;
                unary::<B, _>(ops.parents, ops.node, grads, |grad| {
                    B::softmax_last_backward(output, grad)
                });
            }
        }

        match SoftmaxLast
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let output = B::softmax_last(x.into_primitive());
                prep.finish(output.clone(), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::softmax_last(x.into_primitive())),
        }
    }

    /// A constant: the product `x * mask` is what autodiff tracks.
    fn dropout_mask(x: FloatTensor<Self>, keep: f64) -> FloatTensor<Self> {
        Self::from_inner(B::dropout_mask(Self::inner(x), keep))
    }
}
