//! The CPU backends' kernels: a tensor's values are taken out (without a copy when the
//! tensor uniquely owns a contiguous buffer), transformed by the slice kernels of the
//! sibling modules (`gelu`, `softmax`, `layer_norm`, `dropout`), and handed back. Other
//! dtypes than f32 take burn's own operations. Products read flex tensors in place,
//! through their strides (`product`); ndarray keeps its own.

#[allow(deprecated)] // burn deprecates ndarray for flex; users still choose it
use burn::backend::NdArray;
use burn::backend::ops::{ActivationOps, FloatTensorOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, TensorMetadata};
use burn::tensor::{DType, Distribution, FloatDType, Shape, TensorData};
use burn_flex::FlexTensor;

use super::dropout::fill_dropout_mask;
use super::gelu::{gelu_backward_in_place, gelu_in_place};
use super::layer_norm::{layer_norm_backward, layer_norm_train};
use super::product::{Matrices, product};
use super::reduced::ReducedLinear;
use super::softmax::{masked_softmax_rows_in_place, softmax_backward_in_place};
use super::{BertKernels, composed};

/// The kernels of a CPU backend, with the items given in braces (its products) added.
macro_rules! cpu_kernels {
    ($($backend:ty { $($products:item)* })*) => {$(
        impl BertKernels for $backend {
            fn erf_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
                if x.dtype() != DType::F32 {
                    return Self::gelu(x);
                }
                let device = x.device();
                let mut values = Self::read(x);
                gelu_in_place(f32s(&mut values));
                Self::float_from_data(values, &device)
            }

            fn erf_gelu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
                if x.dtype() != DType::F32 || grad.dtype() != DType::F32 {
                    return composed::erf_gelu_backward::<Self>(x, grad);
                }
                let device = grad.device();
                let x = Self::read(x);
                let mut grad = Self::read(grad);
                gelu_backward_in_place(f32s_of(&x), f32s(&mut grad));
                Self::float_from_data(grad, &device)
            }

            fn masked_softmax(scores: FloatTensor<Self>, key_bias: FloatTensor<Self>) -> FloatTensor<Self> {
                if scores.dtype() != DType::F32 || key_bias.dtype() != DType::F32 {
                    return composed::masked_softmax::<Self>(scores, key_bias);
                }
                let (row_len, device) = (last_dim(&scores.shape()), scores.device());
                let bias = Self::read(key_bias);
                let mut values = Self::read(scores);
                masked_softmax_rows_in_place(f32s(&mut values), row_len, f32s_of(&bias));
                Self::float_from_data(values, &device)
            }

            fn softmax_last_backward(output: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
                if output.dtype() != DType::F32 || grad.dtype() != DType::F32 {
                    return composed::softmax_last_backward::<Self>(output, grad);
                }
                let (row_len, device) = (last_dim(&grad.shape()), grad.device());
                let output = Self::read(output);
                let mut grad = Self::read(grad);
                softmax_backward_in_place(
                    output.as_slice::<f32>().expect("checked to be f32"),
                    f32s(&mut grad),
                    row_len,
                );
                Self::float_from_data(grad, &device)
            }

            fn layer_norm_train(
                x: FloatTensor<Self>,
                gamma: FloatTensor<Self>,
                beta: FloatTensor<Self>,
                epsilon: f64,
            ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
                if [&x, &gamma, &beta].iter().any(|t| t.dtype() != DType::F32) {
                    return composed::layer_norm_train::<Self>(x, gamma, beta, epsilon);
                }
                let (shape, device) = (x.shape(), x.device());
                let mut normalized = Self::read(x);
                let (gamma, beta) = (Self::read(gamma), Self::read(beta));
                let (y, inv_std) = layer_norm_train(f32s(&mut normalized), f32s_of(&gamma), f32s_of(&beta), epsilon);
                let mut row_shape = shape.clone();
                let last = row_shape.num_dims() - 1;
                row_shape[last] = 1;
                (
                    Self::float_from_data(TensorData::new(y, shape), &device),
                    Self::float_from_data(normalized, &device),
                    Self::float_from_data(TensorData::new(inv_std, row_shape), &device),
                )
            }

            fn layer_norm_backward(
                grad: FloatTensor<Self>,
                normalized: FloatTensor<Self>,
                inv_std: FloatTensor<Self>,
                gamma: FloatTensor<Self>,
            ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
                if [&grad, &normalized, &inv_std, &gamma].iter().any(|t| t.dtype() != DType::F32) {
                    return composed::layer_norm_backward::<Self>(grad, normalized, inv_std, gamma);
                }
                let device = grad.device();
                let width = last_dim(&gamma.shape());
                let mut grad = Self::read(grad);
                let (normalized, inv_std, gamma) =
                    (Self::read(normalized), Self::read(inv_std), Self::read(gamma));
                let (d_gamma, d_beta) = layer_norm_backward(
                    f32s(&mut grad),
                    f32s_of(&normalized),
                    f32s_of(&inv_std),
                    f32s_of(&gamma),
                );
                let vector = |v: Vec<f32>| Self::float_from_data(TensorData::new(v, [width]), &device);
                (Self::float_from_data(grad, &device), vector(d_gamma), vector(d_beta))
            }

            fn reduced_linear(x: FloatTensor<Self>, weights: &ReducedLinear) -> FloatTensor<Self> {
                if x.dtype() != DType::F32 {
                    return composed::reduced_linear::<Self>(x, weights);
                }
                let device = x.device();
                Self::float_from_data(composed::reduced_product(&Self::read(x), weights), &device)
            }

            fn bf16_attention(
                qkv: FloatTensor<Self>,
                key_bias: FloatTensor<Self>,
                heads: usize,
                scale: f32,
            ) -> FloatTensor<Self> {
                if qkv.dtype() != DType::F32 || key_bias.dtype() != DType::F32 {
                    return composed::bf16_attention::<Self>(qkv, key_bias, heads, scale);
                }
                let device = qkv.device();
                let (qkv, key_bias) = (Self::read(qkv), Self::read(key_bias));
                let out = composed::bf16_attention_values(&qkv, &key_bias, heads, scale);
                Self::float_from_data(out, &device)
            }

            fn dropout_mask(x: FloatTensor<Self>, keep: f64) -> FloatTensor<Self> {
                if x.dtype() != DType::F32 {
                    return composed::dropout_mask::<Self>(x, keep);
                }
                let (shape, device) = (x.shape(), x.device());
                let mut mask = vec![0.0f32; shape.num_elements()];
                fill_dropout_mask(&mut mask, keep, seed_from::<Self>(&device));
                Self::float_from_data(TensorData::new(mask, shape), &device)
            }

            $($products)*
        }
    )*};
}

/// How the kernels read a CPU tensor's values: flex's buffers can be taken with fewer
/// copies than burn's own read makes.
trait CpuStorage: Backend {
    /// The values of a tensor, contiguous. CPU backends answer reads at once, so the
    /// future is polled here rather than handed to an executor.
    fn read(x: FloatTensor<Self>) -> TensorData {
        composed::read_now::<Self>(x)
    }
}

#[allow(deprecated)]
impl CpuStorage for NdArray {}

impl CpuStorage for Flex {
    /// A buffer the tensor owns alone is taken as it is; a shared one (an input that
    /// autodiff keeps for the backward pass) is copied once. burn-flex's own read
    /// copies it twice: out of the tensor, then again to align the copy.
    fn read(x: FlexTensor) -> TensorData {
        let layout = x.layout();
        if x.is_unique() || x.dtype() != DType::F32 || !layout.is_contiguous() {
            return x.into_data();
        }
        let start = layout.start_offset();
        let values = x.storage::<f32>()[start..start + layout.num_elements()].to_vec();
        TensorData::new(values, layout.shape().clone())
    }
}

/// flex's products: read in place through the operands' strides, written once.
fn flex_stacked_matmul(lhs: FlexTensor, rhs: FlexTensor) -> FlexTensor {
    let shape = lhs.shape();
    let rank = shape.num_dims();
    let mut out_shape = rhs.shape();
    let (Some(a), Some(b)) = (matrices(&lhs), matrices(&rhs)) else {
        return Flex::float_matmul(lhs, rhs);
    };
    if shape[..rank - 2] != out_shape[..rank - 2] {
        return Flex::float_matmul(lhs, rhs);
    }
    out_shape[rank - 2] = shape[rank - 2];
    FlexTensor::from_data(TensorData::new(product(&a, &b, None), out_shape))
}

fn flex_biased_matmul(x: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> FlexTensor {
    let (rows, d_out) = (x.shape()[0], weight.shape()[1]);
    let bias_values = Flex::read(bias.clone());
    match (
        matrices(&x),
        matrices(&weight),
        bias_values.as_slice::<f32>(),
    ) {
        (Some(a), Some(w), Ok(bias)) if x.shape().num_dims() == 2 => {
            let values = product(&a, &w, Some(bias));
            FlexTensor::from_data(TensorData::new(values, [rows, d_out]))
        }
        _ => composed::biased_matmul::<Flex>(x, weight, bias),
    }
}

/// A flex tensor's f32 matrices, read in place; `None` for other dtypes and for
/// negative strides (flipped views), which take burn's own product.
fn matrices(t: &FlexTensor) -> Option<Matrices<'_>> {
    if t.dtype() != DType::F32 {
        return None;
    }
    let layout = t.layout();
    let strides = layout
        .strides()
        .iter()
        .map(|&s| usize::try_from(s).ok())
        .collect::<Option<Vec<_>>>()?;
    Some(Matrices::from_layout(
        t.storage::<f32>(),
        layout.shape().as_slice(),
        &strides,
        layout.start_offset(),
    ))
}

#[allow(deprecated)]
mod ndarray {
    use super::*;
    // ndarray keeps burn's products (the trait's defaults).
    cpu_kernels!(NdArray {});
}
cpu_kernels!(Flex {
    fn stacked_matmul(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        flex_stacked_matmul(lhs, rhs)
    }

    fn biased_matmul(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        flex_biased_matmul(x, weight, bias)
    }
});

/// 64 bits from the backend's own generator, so that seeding the device decides the
/// masks as it decides every other random tensor.
fn seed_from<B: CpuStorage>(device: &B::Device) -> u64 {
    let draws = B::read(B::float_random(
        [2].into(),
        Distribution::Uniform(0.0, 1.0),
        device,
        FloatDType::F32,
    ));
    let draws = draws.as_slice::<f32>().expect("drawn as f32");
    let half = |u: f32| (u as f64 * 4_294_967_296.0) as u64;
    half(draws[0]) << 32 | half(draws[1])
}

fn last_dim(shape: &Shape) -> usize {
    shape[shape.num_dims() - 1]
}

fn f32s_of(data: &TensorData) -> &[f32] {
    data.as_slice::<f32>()
        .expect("checked to be f32 by the caller")
}

fn f32s(data: &mut TensorData) -> &mut [f32] {
    data.as_mut_slice::<f32>()
        .expect("checked to be f32 by the caller")
}
