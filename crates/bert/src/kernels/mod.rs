//! Fused kernels for the operations burn's CPU backends run slowly, behind one small
//! backend extension so that the model keeps a single code path on every device.
//!
//! Each one is measured, not guessed (MiniLM, 32 × 128 tokens, 2 cores):
//! - [`gelu`]: burn's CPU backends evaluate erf element by element on one thread:
//!   half of the encoder's forward time;
//! - [`masked_softmax`]: burn's autodiff records softmax as five operations and their
//!   five backward passes, each over the whole attention-score tensor, on one thread,
//!   after one more pass to add the padding mask;
//! - [`layer_norm`]: burn's autodiff records LayerNorm as nine operations, thirteen
//!   times per forward pass;
//! - [`dropout`]: burn draws dropout masks one ChaCha sample at a time, on one thread:
//!   half of a training step's forward pass;
//! - [`linear`] and [`matmul`]: burn-flex zeroes every product's output and copies it
//!   once more to align it, adds a linear layer's bias in a further pass, and copies
//!   the transposed operands of attention (`product`).
//!
//! On the GPU (`Cube`) the trait's default bodies (burn's own operations) run. Under
//! autodiff the forward passes record the kernels' backward passes as their gradients,
//! so training takes the fast path both ways.
//!
//! [`reduced`] holds the reduced-precision linear layers for inference on the CPU:
//! [`int8`] (quantised, packed weights and an exact integer product, AVX-512 VNNI where
//! the CPU has it) and [`bf16`] (rounded, packed weights and f32 sums of exact
//! products, AVX-512 BF16 where the CPU has it), both a [`panels::PackedLinear`]: the
//! panels, the tile schedule and the layer are shared, below both.

// burn deprecates ndarray in favour of flex; users still choose it, so it keeps the kernels.
#![allow(deprecated)]

mod autodiff;
pub mod bf16;
mod buffer;
mod composed;
mod cpu;
mod dropout;
mod gelu;
pub mod int8;
mod layer_norm;
mod math;
pub mod panels;
mod product;
mod reduce;
pub mod reduced;
mod softmax;

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, backend_extension};
use burn::nn::{Dropout, LayerNorm, Linear};
use burn::tensor::Tensor;

/// Operations BERT needs that a backend may run faster than their composition.
/// The default bodies are burn's own operations (`composed`): a backend overrides
/// what it can do better.
#[backend_extension(Flex, NdArray, Cube: cfg(feature = "wgpu"), Autodiff)]
pub trait BertKernels: Backend {
    /// The exact GELU, `x · Φ(x)`.
    fn erf_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::gelu(x)
    }

    /// `grad · d/dx[x · Φ(x)] = grad · (Φ(x) + x · φ(x))`, φ the standard normal density.
    ///
    /// Not burn's `gelu_backward`, whose default (ndarray's, and the GPU's)
    /// differentiates the tanh approximation instead of the erf GELU that the forward
    /// pass computes: off by up to 2e-3.
    fn erf_gelu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        composed::erf_gelu_backward::<Self>(x, grad)
    }

    /// Softmax over the last axis of `scores + key_bias`, `scores` shaped
    /// `[batch, …, keys]` and `key_bias` `[batch, keys]` (the same for every row of a
    /// sequence: attention's padding mask).
    fn masked_softmax(scores: FloatTensor<Self>, key_bias: FloatTensor<Self>) -> FloatTensor<Self> {
        composed::masked_softmax::<Self>(scores, key_bias)
    }

    /// The gradient of [`masked_softmax`](Self::masked_softmax) with respect to its scores,
    /// given its output `p`:
    /// `p ⊙ (grad − Σ grad ⊙ p)`, the sum over the last axis.
    fn softmax_last_backward(
        output: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        composed::softmax_last_backward::<Self>(output, grad)
    }

    /// LayerNorm over the last axis, `x̂ ⊙ γ + β`: what [`layer_norm`] calls on an
    /// autodiff device, where it records [`layer_norm_backward`](Self::layer_norm_backward).
    fn layer_norm_fused(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        Self::layer_norm(x, gamma, Some(beta), epsilon)
    }

    /// LayerNorm over the last axis for training: `(y, x̂, 1/σ)`, with `x̂` the
    /// normalised input, `y = x̂ ⊙ γ + β` and `1/σ` shaped like `x` with a last axis of 1.
    fn layer_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        composed::layer_norm_train::<Self>(x, gamma, beta, epsilon)
    }

    /// The gradients `(dx, dγ, dβ)` of [`layer_norm_train`](Self::layer_norm_train)
    /// from what it returned and the output's gradient.
    fn layer_norm_backward(
        grad: FloatTensor<Self>,
        normalized: FloatTensor<Self>,
        inv_std: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        composed::layer_norm_backward::<Self>(grad, normalized, inv_std, gamma)
    }

    /// A dropout mask shaped like `x`: `1/keep` with probability `keep`, else 0,
    /// drawn from the device's random generator (so `device.seed(s)` decides it).
    fn dropout_mask(x: FloatTensor<Self>, keep: f64) -> FloatTensor<Self> {
        composed::dropout_mask::<Self>(x, keep)
    }

    /// `lhs · rhs` over the last two axes; the leading axes, equal in both, stack
    /// independent products. Either operand may be a transposed view.
    fn stacked_matmul(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_matmul(lhs, rhs)
    }

    /// `x · W + b` for `x: [rows, d_in]`, with `W` and `b` held by `weights` in a
    /// reduced precision, shaped `[parts, rows, d_out / parts]` (the layers `weights`
    /// joins, one block each): an inference kernel of the CPU (reduced precisions are
    /// refused elsewhere, [`Precision::check_device`](crate::Precision::check_device)).
    /// This default, for other backends, goes through the host.
    fn reduced_linear(x: FloatTensor<Self>, weights: &reduced::ReducedLinear) -> FloatTensor<Self> {
        composed::reduced_linear::<Self>(x, weights)
    }

    /// `softmax(scale · Q Kᵀ + key_bias) V` per sequence and head with bf16 products
    /// ([`bf16::attention`]), for Q, K and V the three blocks of `qkv`
    /// (`[3, batch · seq_len, width]`, as [`reduced_linear`](Self::reduced_linear)
    /// writes the joined Q, K, V layer) and `key_bias: [batch, seq_len]`:
    /// `[batch · seq_len, width]`. An inference kernel of the CPU; this default, for
    /// other backends, goes through the host.
    fn bf16_attention(
        qkv: FloatTensor<Self>,
        key_bias: FloatTensor<Self>,
        heads: usize,
        scale: f32,
    ) -> FloatTensor<Self> {
        composed::bf16_attention::<Self>(qkv, key_bias, heads, scale)
    }

    /// `x · W + b` for `x: [rows, d_in]`, `W: [d_in, d_out]` and `b: [d_out]`.
    fn biased_matmul(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        composed::biased_matmul::<Self>(x, weight, bias)
    }
}

#[cfg(feature = "wgpu")]
impl BertKernels for burn::backend::Cube {}

/// burn's [`Dropout::forward`](burn::nn::Dropout), its mask drawn by the backend's
/// kernel: active only when training (an autodiff device, the layer's training flag
/// on, a probability above 0), the kept elements scaled by `1/(1 - p)`.
pub fn dropout<const D: usize>(layer: &Dropout, x: Tensor<D>) -> Tensor<D> {
    if !layer.training.is_enabled() || !x.device().is_autodiff() || layer.prob == 0.0 {
        return x;
    }
    let keep = 1.0 - layer.prob;
    let mask = Tensor::from_dispatch(<Dispatch as BertKernels>::dropout_mask(
        x.clone().into_dispatch(),
        keep,
    ));
    x * mask
}

/// Softmax over the last axis of `scores + key_bias` (`key_bias`: `[batch, keys]`, the
/// same for every row of a sequence), differentiable, on whatever device `scores` lives.
pub fn masked_softmax<const D: usize>(scores: Tensor<D>, key_bias: Tensor<2>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as BertKernels>::masked_softmax(
        scores.into_dispatch(),
        key_bias.into_dispatch(),
    ))
}

/// `layer.forward(x)` for a LayerNorm with a bias and the given `epsilon` (burn keeps
/// its own private), whose training records one backward kernel instead of the
/// decomposition burn's autodiff differentiates step by step.
pub fn layer_norm<const D: usize>(layer: &LayerNorm, epsilon: f64, x: Tensor<D>) -> Tensor<D> {
    let Some(beta) = &layer.beta else {
        return layer.forward(x);
    };
    if !x.device().is_autodiff() {
        // Inference: burn's own fused LayerNorm is as fast, and records nothing.
        return layer.forward(x);
    }
    Tensor::from_dispatch(<Dispatch as BertKernels>::layer_norm_fused(
        x.into_dispatch(),
        layer.gamma.val().into_dispatch(),
        beta.val().into_dispatch(),
        epsilon,
    ))
}

/// `lhs · rhs` over the last two axes, both operands with the same leading axes,
/// differentiable; transposed views (`swap_dims`) are read in place on the CPU.
pub fn matmul<const D: usize>(lhs: Tensor<D>, rhs: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as BertKernels>::stacked_matmul(
        lhs.into_dispatch(),
        rhs.into_dispatch(),
    ))
}

/// `layer.forward(x)` over the rows of `x` as one product, the bias accumulated in
/// the same pass on the CPU.
pub fn linear(layer: &Linear, x: Tensor<2>) -> Tensor<2> {
    let Some(bias) = &layer.bias else {
        return layer.forward(x);
    };
    Tensor::from_dispatch(<Dispatch as BertKernels>::biased_matmul(
        x.into_dispatch(),
        layer.weight.val().into_dispatch(),
        bias.val().into_dispatch(),
    ))
}

/// `x · W + b` for the rows of `x` with the reduced-precision weights of `weights`
/// (made from linear layers once), on a CPU device: `[parts, rows, d_out / parts]`, a
/// block for each layer `weights` joins.
pub fn reduced_linear(weights: &reduced::ReducedLinear, x: Tensor<2>) -> Tensor<3> {
    Tensor::from_dispatch(<Dispatch as BertKernels>::reduced_linear(
        x.into_dispatch(),
        weights,
    ))
}

/// Attention's `softmax(scale · Q Kᵀ + key_bias) V` with bf16 products, on a CPU
/// device, from the `[3, batch · seq_len, width]` output of the joined Q, K, V layer
/// and the `[batch, seq_len]` key bias: `[batch · seq_len, width]`.
pub fn bf16_attention(qkv: Tensor<3>, key_bias: Tensor<2>, heads: usize, scale: f32) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as BertKernels>::bf16_attention(
        qkv.into_dispatch(),
        key_bias.into_dispatch(),
        heads,
        scale,
    ))
}

/// The exact (erf) GELU of BERT, on whatever device `x` lives, differentiable.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as BertKernels>::erf_gelu(x.into_dispatch()))
}
