//! Fused kernels for the operations burn's CPU backends run slowly, behind one small
//! backend extension so that the model keeps a single code path on every device.
//!
//! Each one is measured, not guessed (MiniLM, 32 × 128 tokens, 2 cores):
//! - [`gelu`]: burn's CPU backends evaluate erf element by element on one thread:
//!   half of the encoder's forward time;
//! - [`softmax`]: burn's autodiff records softmax as five operations and their five
//!   backward passes, each over the whole attention-score tensor, on one thread;
//! - [`dropout`]: burn draws dropout masks one ChaCha sample at a time, on one thread:
//!   half of a training step's forward pass.
//!
//! On the GPU (`Cube`) the trait's default bodies (burn's own operations) run. Under
//! autodiff the forward passes record the kernels' backward passes as their gradients,
//! so training takes the fast path both ways.

// burn deprecates ndarray in favour of flex; users still choose it, so it keeps the kernels.
#![allow(deprecated)]

mod autodiff;
mod cpu;
mod dropout;
mod gelu;
mod math;
mod softmax;

use burn::backend::TensorMetadata;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, backend_extension};
use burn::nn::Dropout;
use burn::tensor::{Distribution, Tensor};
use std::f64::consts::FRAC_1_SQRT_2;

/// 1/√(2π), the standard normal density at 0.
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// Operations BERT needs that a backend may run faster than their composition.
/// The default bodies are burn's own operations: a backend overrides what it can do better.
#[backend_extension(Flex, NdArray, Cube: cfg(feature = "wgpu"), Autodiff)]
pub trait BertKernels: Backend {
    /// The exact GELU, `x · Φ(x)`.
    fn erf_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::gelu(x)
    }

    /// `grad · d/dx[x · Φ(x)] = grad · (Φ(x) + x · φ(x))`, φ the standard normal density.
    ///
    /// Composed here rather than delegated to burn's `gelu_backward`, whose default
    /// (ndarray's, and the GPU's) differentiates the tanh approximation instead of the
    /// erf GELU that the forward pass computes: off by up to 2e-3.
    fn erf_gelu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        let cdf = Self::float_mul_scalar(
            Self::float_add_scalar(
                Self::float_erf(Self::float_mul_scalar(x.clone(), FRAC_1_SQRT_2.into())),
                1.0.into(),
            ),
            0.5.into(),
        );
        let half_square =
            Self::float_mul_scalar(Self::float_mul(x.clone(), x.clone()), (-0.5).into());
        let density = Self::float_mul_scalar(Self::float_exp(half_square), INV_SQRT_2PI.into());
        let slope = Self::float_add(cdf, Self::float_mul(x, density));
        Self::float_mul(slope, grad)
    }

    /// Softmax over the last axis.
    fn softmax_last(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let last = x.shape().num_dims() - 1;
        Self::softmax(x, last)
    }

    /// The gradient of [`softmax_last`](Self::softmax_last) given its output `p`:
    /// `p ⊙ (grad − Σ grad ⊙ p)`, the sum over the last axis.
    fn softmax_last_backward(
        output: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let last = output.shape().num_dims() - 1;
        let dot = Self::float_sum_dim(Self::float_mul(grad.clone(), output.clone()), last);
        Self::float_mul(output, Self::float_sub(grad, dot))
    }

    /// A dropout mask shaped like `x`: `1/keep` with probability `keep`, else 0,
    /// drawn from the device's random generator (so `device.seed(s)` decides it).
    fn dropout_mask(x: FloatTensor<Self>, keep: f64) -> FloatTensor<Self> {
        let mask = Self::float_random(
            x.shape(),
            Distribution::Bernoulli(keep),
            &x.device(),
            x.dtype().into(),
        );
        Self::float_mul_scalar(mask, (1.0 / keep).into())
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

/// Softmax over the last axis, differentiable, on whatever device `x` lives.
pub fn softmax<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as BertKernels>::softmax_last(x.into_dispatch()))
}

/// The exact (erf) GELU of BERT, on whatever device `x` lives, differentiable.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as BertKernels>::erf_gelu(x.into_dispatch()))
}
