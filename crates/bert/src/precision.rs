//! The arithmetic of the encoder's linear layers at inference.

use burn::backend::DispatchDevice;
use burn::tensor::Device;

use crate::BertError;

/// What the encoder layers' linear layers (Q, K, V, the attention's output projection,
/// the feed-forward expansion and projection) compute in. Everything else (embeddings,
/// attention's own products, softmax, GELU, LayerNorm, the pooler) stays f32.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// f32 throughout: the reference, and what training uses.
    #[default]
    Fp32,
    /// int8 weights (one scale per output channel, made once) and activations (one
    /// scale per token, made per batch), exact integer products, f32 results: an
    /// inference kernel of the CPU backends (AVX-512 VNNI where the CPU has it).
    Int8,
    /// bf16 weights (rounded once) and activations (rounded per batch), products summed
    /// in f32: an inference kernel of the CPU backends (AVX-512 BF16 where the CPU has
    /// it).
    Bf16,
}

settings::serde_names!(Precision);

impl Precision {
    /// Where this CPU lacks the instructions this precision's kernels are built on, a
    /// sentence saying so: the products are then those of a portable loop, the same
    /// numbers (int8's exactly, bf16's to the last bit as far as tested) but slower
    /// than fp32's. The precision is kept rather than swapped for fp32 behind the
    /// user's back, since a cache or a head records it.
    pub fn missing_instructions(self) -> Option<String> {
        use crate::kernels::bf16::gemm::Bf16Kernel;
        use crate::kernels::int8::gemm::IntegerKernel;
        let missing = match self {
            Precision::Fp32 => return None,
            Precision::Int8 if IntegerKernel::detect() == IntegerKernel::Vnni => return None,
            Precision::Bf16 if Bf16Kernel::native() => return None,
            Precision::Int8 => "AVX-512 VNNI",
            Precision::Bf16 => "AVX-512 BF16",
        };
        Some(format!(
            "this CPU has no {missing}: {self} products run on a portable loop, with the same \
             results but slower than fp32, the faster choice here"
        ))
    }

    /// Whether models on `device` can run in this precision: f32 anywhere; int8 and
    /// bf16 on a CPU backend (flex, ndarray) without autodiff, since their products
    /// are inference kernels of the CPU.
    pub fn check_device(self, device: &Device) -> Result<(), BertError> {
        let on_cpu = matches!(
            device.as_dispatch(),
            DispatchDevice::Flex(_) | DispatchDevice::NdArray(_)
        );
        match self {
            Precision::Fp32 => Ok(()),
            Precision::Int8 | Precision::Bf16 if on_cpu => Ok(()),
            Precision::Int8 | Precision::Bf16 => {
                Err(BertError::PrecisionNeedsCpu { precision: self })
            }
        }
    }
}
