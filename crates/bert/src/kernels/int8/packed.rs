//! Weight codes in the order the VNNI product reads them, packed once at load: panels
//! of 16 columns × blocks of 4 inputs ([`pack_panels`]), since `vpdpbusd` sums 4 byte
//! products into each 32-bit lane.

pub use super::super::panels::PANEL;
use super::super::panels::{pack_panels, panel_index};
use super::quantize::{OFFSET, QuantizedColumns};

/// Inputs per block: the bytes `vpdpbusd` sums into one lane.
pub const BLOCK: usize = 4;

/// A `[d_in, d_out]` matrix of codes in panels, with what the product needs besides.
#[derive(Clone, Debug)]
pub struct PackedWeights {
    /// `panels × blocks × PANEL × BLOCK` codes.
    pub codes: Vec<i8>,
    /// Per column (padded to whole panels): `OFFSET × Σ_k code[k][n]`, what the
    /// activations' shift to unsigned bytes adds to every product, to take back off.
    pub offset_sums: Vec<i32>,
    /// Per column: the scale of its codes.
    pub scales: Vec<f32>,
    /// The inputs (rows of the matrix).
    pub d_in: usize,
    /// The outputs (columns of the matrix).
    pub d_out: usize,
    /// `d_in / BLOCK`, rounded up.
    pub blocks: usize,
    /// `d_out / PANEL`, rounded up.
    pub panels: usize,
}

impl PackedWeights {
    /// Packs quantised weights into panels.
    pub fn new(weights: &QuantizedColumns) -> Self {
        let (d_in, d_out) = (weights.d_in, weights.d_out);
        let blocks = d_in.div_ceil(BLOCK);
        let panels = d_out.div_ceil(PANEL);
        let mut offset_sums = vec![0i32; panels * PANEL];
        for row in weights.codes.chunks(d_out.max(1)) {
            for (sum, &code) in offset_sums.iter_mut().zip(row) {
                *sum += OFFSET * code as i32;
            }
        }
        Self {
            codes: pack_panels(&weights.codes, d_in, d_out, BLOCK),
            offset_sums,
            scales: weights.scales.clone(),
            d_in,
            d_out,
            blocks,
            panels,
        }
    }

    /// The code of input `k`, column `n`.
    pub fn code(&self, k: usize, n: usize) -> i8 {
        self.codes[panel_index(self.blocks, BLOCK, k, n)]
    }

    /// The codes of one panel: `blocks × PANEL × BLOCK`.
    pub fn panel(&self, panel: usize) -> &[i8] {
        let len = self.blocks * PANEL * BLOCK;
        &self.codes[panel * len..(panel + 1) * len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_keeps_every_code_and_pads_with_zeros() {
        for (d_in, d_out) in [(1, 1), (3, 17), (4, 16), (9, 33), (70, 5)] {
            let codes: Vec<i8> = (0..d_in * d_out)
                .map(|i| ((i * 37 + 11) % 255) as i8)
                .collect();
            let columns = QuantizedColumns {
                codes: codes.clone(),
                scales: vec![1.0; d_out],
                d_in,
                d_out,
            };
            let packed = PackedWeights::new(&columns);
            for k in 0..d_in {
                for n in 0..d_out {
                    assert_eq!(packed.code(k, n), codes[k * d_out + n], "({k}, {n})");
                }
            }
            let real = d_in * d_out;
            let nonzero_padding = packed.codes.iter().filter(|&&c| c != 0).count()
                - codes.iter().filter(|&&c| c != 0).count();
            assert_eq!(nonzero_padding, 0, "{d_in}×{d_out}: padding holds zeros");
            assert_eq!(packed.codes.len(), packed.panels * packed.blocks * 64);
            assert!(packed.codes.len() >= real);
            for n in 0..d_out {
                let sum: i32 = (0..d_in).map(|k| codes[k * d_out + n] as i32).sum();
                assert_eq!(packed.offset_sums[n], 128 * sum);
            }
        }
    }
}
