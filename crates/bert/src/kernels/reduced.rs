//! [`ReducedLinear`], the linear layer the model holds in a reduced precision: an
//! [`Int8Linear`] or a [`Bf16Linear`], chosen by [`Precision`], with the
//! [`Epilogue`] it applies to its outputs.

use super::bf16::Bf16Linear;
use super::bf16::gemm::Bf16Kernel;
use super::int8::Int8Linear;
use super::int8::gemm::IntegerKernel;
use super::panels::Epilogue;
use crate::Precision;

/// A linear layer (or several of the same input, joined side by side) made once for
/// inference in a reduced precision, with what it applies to its outputs.
#[derive(Clone, Debug)]
pub struct ReducedLinear {
    products: Products,
    epilogue: Epilogue,
}

/// The weights, in one precision or the other.
#[derive(Clone, Debug)]
enum Products {
    /// int8 weights and activations, exact integer products.
    Int8(Int8Linear),
    /// bf16 weights and activations, f32 sums.
    Bf16(Bf16Linear),
}

impl ReducedLinear {
    /// `weight` (row-major `[d_in, d_out]`, as burn stores a linear layer's) and `bias`
    /// in `precision`, the `d_out` columns being `parts` layers of `d_out / parts`
    /// columns; `None` for [`Precision::Fp32`], which needs no copy.
    pub fn new(
        precision: Precision,
        weight: &[f32],
        bias: &[f32],
        d_in: usize,
        d_out: usize,
        parts: usize,
    ) -> Option<Self> {
        let products = match precision {
            Precision::Fp32 => return None,
            Precision::Int8 => Products::Int8(Int8Linear::joined(
                weight,
                bias,
                d_in,
                d_out,
                parts,
                IntegerKernel::detect(),
            )),
            Precision::Bf16 => Products::Bf16(Bf16Linear::joined(
                weight,
                bias,
                d_in,
                d_out,
                parts,
                Bf16Kernel::detect(),
            )),
        };
        Some(Self {
            products,
            epilogue: Epilogue::Identity,
        })
    }

    /// The same layer applying `epilogue` to its outputs.
    pub fn with_epilogue(self, epilogue: Epilogue) -> Self {
        Self { epilogue, ..self }
    }

    /// What it applies to its outputs.
    pub fn epilogue(&self) -> Epilogue {
        self.epilogue
    }

    /// The precision of the products.
    pub fn precision(&self) -> Precision {
        match &self.products {
            Products::Int8(_) => Precision::Int8,
            Products::Bf16(_) => Precision::Bf16,
        }
    }

    /// The inputs per row.
    pub fn d_in(&self) -> usize {
        match &self.products {
            Products::Int8(layer) => layer.d_in(),
            Products::Bf16(layer) => layer.d_in(),
        }
    }

    /// The outputs per row, all parts together.
    pub fn d_out(&self) -> usize {
        match &self.products {
            Products::Int8(layer) => layer.d_out(),
            Products::Bf16(layer) => layer.d_out(),
        }
    }

    /// The layers joined side by side.
    pub fn parts(&self) -> usize {
        match &self.products {
            Products::Int8(layer) => layer.parts(),
            Products::Bf16(layer) => layer.parts(),
        }
    }

    /// The epilogue of `x · W + b` for the `rows` rows of `x` (row-major, `d_in` each),
    /// laid out `[parts, rows, d_out / parts]`.
    pub fn forward(&self, x: &[f32], rows: usize) -> Vec<f32> {
        match &self.products {
            Products::Int8(layer) => layer.forward_then(x, rows, self.epilogue),
            Products::Bf16(layer) => layer.forward_then(x, rows, self.epilogue),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gelu_epilogue_is_the_gelu_of_the_plain_output() {
        let (m, k, n) = (50, 24, 70);
        let x: Vec<f32> = (0..m * k)
            .map(|i| ((i * 37) % 101) as f32 / 25.0 - 2.0)
            .collect();
        let w: Vec<f32> = (0..k * n)
            .map(|i| ((i * 53) % 97) as f32 / 48.0 - 1.0)
            .collect();
        let b: Vec<f32> = (0..n).map(|i| i as f32 / 35.0 - 1.0).collect();
        for precision in [Precision::Int8, Precision::Bf16] {
            let plain = ReducedLinear::new(precision, &w, &b, k, n, 1).unwrap();
            let mut expected = plain.forward(&x, m);
            // Applied to the whole output at once, on the same elementwise kernel.
            Epilogue::ErfGelu.apply(&mut expected);
            let fused = plain.with_epilogue(Epilogue::ErfGelu);
            assert_eq!(fused.forward(&x, m), expected, "{precision}");
        }
    }
}
