//! The CPU backends' kernels: the tensor's values are taken out (without a copy on
//! flex, where a uniquely owned contiguous tensor hands over its buffer), transformed
//! in place by [`super::gelu`], and handed back.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

#[allow(deprecated)] // burn deprecates ndarray for flex; users still choose it
use burn::backend::NdArray;
use burn::backend::ops::{ActivationOps, FloatTensorOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, TensorMetadata};
use burn::tensor::{DType, TensorData};

use super::BertKernels;
use super::gelu::{gelu_backward_in_place, gelu_in_place};

macro_rules! cpu_kernels {
    ($($backend:ty),*) => {$(
        impl BertKernels for $backend {
            fn erf_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
                if x.dtype() != DType::F32 {
                    return Self::gelu(x);
                }
                let device = x.device();
                let mut values = read::<Self>(x);
                gelu_in_place(f32s(&mut values));
                Self::float_from_data(values, &device)
            }

            fn erf_gelu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
                if x.dtype() != DType::F32 || grad.dtype() != DType::F32 {
                    return Self::gelu_backward(x, grad);
                }
                let device = grad.device();
                let mut x = read::<Self>(x);
                let mut grad = read::<Self>(grad);
                gelu_backward_in_place(f32s(&mut x), f32s(&mut grad));
                Self::float_from_data(grad, &device)
            }
        }
    )*};
}

#[allow(deprecated)]
mod ndarray {
    use super::*;
    cpu_kernels!(NdArray);
}
cpu_kernels!(Flex);

/// The values of a CPU tensor, contiguous. CPU backends answer reads at once, so the
/// future is polled here rather than handed to an executor.
fn read<B: Backend>(x: FloatTensor<B>) -> TensorData {
    let mut read = pin!(B::float_into_data(x));
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(result) = read.as_mut().poll(&mut context) {
            return result.expect("a CPU tensor can always be read");
        }
        std::thread::yield_now();
    }
}

fn f32s(data: &mut TensorData) -> &mut [f32] {
    data.as_mut_slice::<f32>()
        .expect("checked to be f32 by the caller")
}
