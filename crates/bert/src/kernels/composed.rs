//! The kernels as compositions of burn's operations: the trait's default bodies
//! (what the GPU runs) and the CPU kernels' fallback for dtypes other than f32.

use std::f64::consts::FRAC_1_SQRT_2;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, TensorMetadata};
use burn::tensor::{Distribution, TensorData};

use super::bf16::attention::{AttentionShape, attention};
use super::bf16::gemm::Bf16Kernel;
use super::reduced::ReducedLinear;

/// 1/√(2π), the standard normal density at 0.
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

pub fn erf_gelu_backward<B: Backend>(x: FloatTensor<B>, grad: FloatTensor<B>) -> FloatTensor<B> {
    let cdf = B::float_mul_scalar(
        B::float_add_scalar(
            B::float_erf(B::float_mul_scalar(x.clone(), FRAC_1_SQRT_2.into())),
            1.0.into(),
        ),
        0.5.into(),
    );
    let half_square = B::float_mul_scalar(B::float_mul(x.clone(), x.clone()), (-0.5).into());
    let density = B::float_mul_scalar(B::float_exp(half_square), INV_SQRT_2PI.into());
    let slope = B::float_add(cdf, B::float_mul(x, density));
    B::float_mul(slope, grad)
}

pub fn masked_softmax<B: Backend>(
    scores: FloatTensor<B>,
    key_bias: FloatTensor<B>,
) -> FloatTensor<B> {
    let shape = scores.shape();
    let rank = shape.num_dims();
    let mut bias_dims = vec![1; rank];
    bias_dims[0] = shape[0];
    bias_dims[rank - 1] = shape[rank - 1];
    let biased = B::float_add(scores, B::float_reshape(key_bias, bias_dims.into()));
    B::softmax(biased, rank - 1)
}

pub fn softmax_last_backward<B: Backend>(
    output: FloatTensor<B>,
    grad: FloatTensor<B>,
) -> FloatTensor<B> {
    let last = output.shape().num_dims() - 1;
    let dot = B::float_sum_dim(B::float_mul(grad.clone(), output.clone()), last);
    B::float_mul(output, B::float_sub(grad, dot))
}

pub fn layer_norm_train<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    epsilon: f64,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let last = x.shape().num_dims() - 1;
    let centered = B::float_sub(x.clone(), B::float_mean_dim(x, last));
    let variance = B::float_mean_dim(B::float_mul(centered.clone(), centered.clone()), last);
    let inv_std = B::float_recip(B::float_sqrt(B::float_add_scalar(variance, epsilon.into())));
    let normalized = B::float_mul(centered, inv_std.clone());
    let rank = last + 1;
    let y = B::float_add(
        B::float_mul(normalized.clone(), along_last::<B>(gamma, rank)),
        along_last::<B>(beta, rank),
    );
    (y, normalized, inv_std)
}

/// A per-feature vector `[d]` as `[1, …, 1, d]`: backends broadcast only between
/// tensors of the same rank.
fn along_last<B: Backend>(vector: FloatTensor<B>, rank: usize) -> FloatTensor<B> {
    let mut dims = vec![1; rank];
    dims[rank - 1] = vector.shape()[0];
    B::float_reshape(vector, dims.into())
}

pub fn layer_norm_backward<B: Backend>(
    grad: FloatTensor<B>,
    normalized: FloatTensor<B>,
    inv_std: FloatTensor<B>,
    gamma: FloatTensor<B>,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let shape = grad.shape();
    let last = shape.num_dims() - 1;
    let width = shape[last];
    let rows = shape.num_elements() / width;
    let per_feature = |t: FloatTensor<B>| {
        let flat = B::float_reshape(t, [rows, width].into());
        B::float_reshape(B::float_sum_dim(flat, 0), [width].into())
    };
    let d_gamma = per_feature(B::float_mul(grad.clone(), normalized.clone()));
    let d_beta = per_feature(grad.clone());
    let scaled = B::float_mul(grad, along_last::<B>(gamma, last + 1));
    let mean = B::float_mean_dim(scaled.clone(), last);
    let mean_x_hat = B::float_mean_dim(B::float_mul(scaled.clone(), normalized.clone()), last);
    let centered = B::float_sub(
        B::float_sub(scaled, mean),
        B::float_mul(normalized, mean_x_hat),
    );
    (B::float_mul(centered, inv_std), d_gamma, d_beta)
}

pub fn biased_matmul<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: FloatTensor<B>,
) -> FloatTensor<B> {
    B::float_add(B::float_matmul(x, weight), along_last::<B>(bias, 2))
}

pub fn dropout_mask<B: Backend>(x: FloatTensor<B>, keep: f64) -> FloatTensor<B> {
    let mask = B::float_random(
        x.shape(),
        Distribution::Bernoulli(keep),
        &x.device(),
        x.dtype().into(),
    );
    B::float_mul_scalar(mask, (1.0 / keep).into())
}

/// Reduced-precision products where the backend has no kernel of its own: the values
/// go through the host (reduced precisions are refused off the CPU, so this runs only
/// for dtypes other than f32).
pub fn reduced_linear<B: Backend>(x: FloatTensor<B>, weights: &ReducedLinear) -> FloatTensor<B> {
    let device = x.device();
    let values = read_now::<B>(x).convert::<f32>();
    B::float_from_data(reduced_product(&values, weights), &device)
}

/// bf16 attention where the backend has no kernel of its own: the values go through
/// the host (reduced precisions are refused off the CPU).
pub fn bf16_attention<B: Backend>(
    qkv: FloatTensor<B>,
    key_bias: FloatTensor<B>,
    heads: usize,
    scale: f32,
) -> FloatTensor<B> {
    let device = qkv.device();
    let qkv = read_now::<B>(qkv).convert::<f32>();
    let key_bias = read_now::<B>(key_bias).convert::<f32>();
    B::float_from_data(
        bf16_attention_values(&qkv, &key_bias, heads, scale),
        &device,
    )
}

/// [`bf16::attention::attention`](super::bf16::attention::attention) on tensor data
/// (f32): `qkv: [3, batch · seq_len, width]`, `key_bias: [batch, seq_len]`.
pub fn bf16_attention_values(
    qkv: &TensorData,
    key_bias: &TensorData,
    heads: usize,
    scale: f32,
) -> TensorData {
    let (rows, width) = (qkv.shape()[1], qkv.shape()[2]);
    let (batch, seq_len) = (key_bias.shape()[0], key_bias.shape()[1]);
    assert_eq!(batch * seq_len, rows, "attention: one bias per key");
    let shape = AttentionShape {
        batch,
        seq_len,
        heads,
        head_dim: width / heads,
    };
    let out = attention(
        qkv.as_slice::<f32>()
            .expect("converted to f32 by the caller"),
        key_bias
            .as_slice::<f32>()
            .expect("converted to f32 by the caller"),
        shape,
        scale,
        Bf16Kernel::detect(),
    );
    TensorData::new(out, [rows, width])
}

/// `weights`' product with the rows of `values` (f32, `[rows, d_in]`), as tensor data
/// shaped `[parts, rows, d_out / parts]`.
pub fn reduced_product(values: &TensorData, weights: &ReducedLinear) -> TensorData {
    let rows = values.shape()[0];
    let x = values
        .as_slice::<f32>()
        .expect("converted to f32 by the caller");
    let shape = [weights.parts(), rows, weights.d_out() / weights.parts()];
    TensorData::new(weights.forward(x, rows), shape)
}

/// A tensor's values, waited for here: the backends whose kernels call this answer
/// reads at once (the CPU) or are refused before (reduced precisions on a GPU), so the future is
/// polled in place rather than handed to an executor.
pub fn read_now<B: Backend>(x: FloatTensor<B>) -> TensorData {
    let mut read = pin!(B::float_into_data(x));
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(result) = read.as_mut().poll(&mut context) {
            return result.expect("a CPU tensor can always be read");
        }
        std::thread::yield_now();
    }
}
