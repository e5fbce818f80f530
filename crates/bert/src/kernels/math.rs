//! Elementary functions written for the vectoriser: branch-free, no libm calls.

/// `e^x` for x ≤ 0, to within 2 ulp, and exactly 0 below f32's normal range (as the
/// masked scores of attention need): `2^n · e^r` with `n = round(x / ln 2)` and a
/// degree-6 polynomial for `e^r`, |r| ≤ ln 2 / 2 (Cephes `expf`).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // Adding then subtracting 1.5 · 2^23 rounds to the nearest integer without a
    // rounding instruction (SSE2 has none).
    const ROUND: f32 = 12_582_912.0;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const SMALLEST: f32 = -87.0;
    let underflows = x < SMALLEST;
    let x = x.clamp(SMALLEST, 88.0);
    let n = (x * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 5.000_000_1e-1;
    let e_r = p * r * r + r + 1.0;
    // 2^n: the integer n + 127 lands in the low mantissa bits of n + 127 + 2^23;
    // shifting it into the exponent field builds the power of two directly.
    let two_n = f32::from_bits((n + 8_388_735.0).to_bits() << 23);
    if underflows { 0.0 } else { e_r * two_n }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_std_to_float_precision() {
        for x in (-8700..=0).map(|i| i as f32 / 100.0) {
            let (ours, reference) = (exp(x) as f64, (x as f64).exp());
            assert!(
                (ours - reference).abs() <= 3e-7 * reference,
                "exp({x}) = {ours}, not {reference}"
            );
        }
        assert_eq!(exp(-87.5), 0.0);
        assert_eq!(exp(f32::MIN), 0.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
    }
}
