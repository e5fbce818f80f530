//! The kernels under autodiff: each forward pass is the inner backend's kernel, and
//! its backward pass the derivative's kernel (or, for the products, the products of
//! the transposed operands, themselves kernels), instead of burn's decompositions.

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Backend, TensorMetadata};

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

    fn masked_softmax(scores: FloatTensor<Self>, key_bias: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct MaskedSoftmax;

        impl<B: Backend + BertKernels> Backward<B, 2> for MaskedSoftmax {
            /// The output, all the derivative needs.
            type State = FloatTensor<B>;

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [scores_node, bias_node] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let d_scores = B::softmax_last_backward(ops.state, grad);
                if let Some(node) = bias_node {
                    // Each bias entry was added to every row of its sequence.
                    let shape = d_scores.shape();
                    let keys = shape[shape.num_dims() - 1];
                    let rows = [shape[0], shape.num_elements() / shape[0] / keys, keys];
                    let summed =
                        B::float_sum_dim(B::float_reshape(d_scores.clone(), rows.into()), 1);
                    grads.register::<B>(node.id, B::float_reshape(summed, [shape[0], keys].into()));
                }
                if let Some(node) = scores_node {
                    grads.register::<B>(node.id, d_scores);
                }
            }
        }

        let nodes = [scores.node(), key_bias.node()];
        match MaskedSoftmax.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let output = B::masked_softmax(scores.into_primitive(), key_bias.into_primitive());
                prep.finish(output.clone(), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::masked_softmax(
                scores.into_primitive(),
                key_bias.into_primitive(),
            )),
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

    fn stacked_matmul(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct StackedMatmul;

        impl<B: Backend + BertKernels> Backward<B, 2> for StackedMatmul {
            /// Both operands: each one's gradient is a product with the other.
            type State = (FloatTensor<B>, FloatTensor<B>);

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [lhs_node, rhs_node] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (lhs, rhs) = ops.state;
                if let Some(node) = rhs_node {
                    let d_rhs = B::stacked_matmul(transposed::<B>(lhs), grad.clone());
                    grads.register::<B>(node.id, d_rhs);
                }
                if let Some(node) = lhs_node {
                    grads.register::<B>(node.id, B::stacked_matmul(grad, transposed::<B>(rhs)));
                }
            }
        }

        let nodes = [lhs.node(), rhs.node()];
        match StackedMatmul.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (lhs, rhs) = (lhs.into_primitive(), rhs.into_primitive());
                prep.finish((lhs.clone(), rhs.clone()), B::stacked_matmul(lhs, rhs))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::stacked_matmul(
                lhs.into_primitive(),
                rhs.into_primitive(),
            )),
        }
    }

    fn biased_matmul(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct BiasedMatmul;

        impl<B: Backend + BertKernels> Backward<B, 3> for BiasedMatmul {
            /// The input and the weight; the bias's gradient needs neither.
            type State = (FloatTensor<B>, FloatTensor<B>);

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [x_node, weight_node, bias_node] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x, weight) = ops.state;
                if let Some(node) = bias_node {
                    let width = grad.shape()[1];
                    let d_bias =
                        B::float_reshape(B::float_sum_dim(grad.clone(), 0), [width].into());
                    grads.register::<B>(node.id, d_bias);
                }
                if let Some(node) = weight_node {
                    let d_weight = B::stacked_matmul(transposed::<B>(x), grad.clone());
                    grads.register::<B>(node.id, d_weight);
                }
                if let Some(node) = x_node {
                    grads.register::<B>(node.id, B::stacked_matmul(grad, transposed::<B>(weight)));
                }
            }
        }

        let nodes = [x.node(), weight.node(), bias.node()];
        match BiasedMatmul.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (x, weight) = (x.into_primitive(), weight.into_primitive());
                let y = B::biased_matmul(x.clone(), weight.clone(), bias.into_primitive());
                prep.finish((x, weight), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::biased_matmul(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
            )),
        }
    }

    /// A constant: the product `x * mask` is what autodiff tracks.
    fn dropout_mask(x: FloatTensor<Self>, keep: f64) -> FloatTensor<Self> {
        Self::from_inner(B::dropout_mask(Self::inner(x), keep))
    }
}

/// A stack of matrices transposed: a view on the CPU, no copy.
fn transposed<B: Backend>(t: FloatTensor<B>) -> FloatTensor<B> {
    let rank = t.shape().num_dims();
    B::float_swap_dims(t, rank - 2, rank - 1)
}
