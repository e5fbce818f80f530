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

    fn layer_norm_fused(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct LayerNorm;

        impl<B: Backend + BertKernels> Backward<B, 3> for LayerNorm {
            /// `x̂`, `1/σ` and γ: what the gradients of x, γ and β need.
            type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [x_node, gamma_node, beta_node] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (normalized, inv_std, gamma) = ops.state;
                let (d_x, d_gamma, d_beta) =
                    B::layer_norm_backward(grad, normalized, inv_std, gamma);
                for (node, gradient) in [(x_node, d_x), (gamma_node, d_gamma), (beta_node, d_beta)]
                {
                    if let Some(node) = node {
                        grads.register::<B>(node.id, gradient);
                    }
                }
            }
        }

        let nodes = [x.node(), gamma.node(), beta.node()];
        match LayerNorm.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let gamma = gamma.into_primitive();
                let (y, normalized, inv_std) = B::layer_norm_train(
                    x.into_primitive(),
                    gamma.clone(),
                    beta.into_primitive(),
                    epsilon,
                );
                prep.finish((normalized, inv_std, gamma), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::layer_norm_fused(
                x.into_primitive(),
                gamma.into_primitive(),
                beta.into_primitive(),
                epsilon,
            )),
        }
    }

    /// A constant: the product `x * mask` is what autodiff tracks.
    fn dropout_mask(x: FloatTensor<Self>, keep: f64) -> FloatTensor<Self> {
        Self::from_inner(B::dropout_mask(Self::inner(x), keep))
    }
}
