//! Elementary functions written for the vectoriser (branch-free, no libm calls), and
//! [`vectorised!`], which compiles a loop over them for the widest vector unit the CPU
//! running it has.

/// Defines `fn NAME(args)` whose body is compiled three times: for AVX-512, for
/// AVX2 + FMA, and for the baseline the crate is built for (SSE2 on x86-64); the first
/// one the CPU supports runs. Without it the kernels would use 4 of the 16 lanes an
/// AVX-512 core has, since a portable build may assume nothing more than SSE2.
/// The body should call only `#[inline(always)]` helpers, so that they are compiled
/// with it.
///
/// The body may read `FMA: bool`: true in the two compilations that have fused
/// multiply-adds (AVX-512F implies FMA on every CPU that has it), false in the
/// baseline, where [`multiply_add::<true>`](multiply_add) would be a libm call per
/// value. A kernel that must stay bit for bit the same everywhere passes `false`.
macro_rules! vectorised {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,fma")]
                fn avx512($($arg: $ty),*) $(-> $ret)? {
                    #[allow(dead_code)]
                    const FMA: bool = true;
                    $body
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    #[allow(dead_code)]
                    const FMA: bool = true;
                    $body
                }
                if std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU has just been seen to support AVX-512F and FMA.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU has just been seen to support AVX2 and FMA.
                    return unsafe { avx2($($arg),*) };
                }
            }
            #[allow(dead_code)]
            const FMA: bool = false;
            $body
        }
    };
}
pub(crate) use vectorised;

/// 1.5 · 2²³: adding it to an f32 of magnitude below 2²² rounds it to the nearest
/// integer (ties to even) without a rounding instruction (SSE2 has none), leaving the
/// integer, in two's complement, in the low bits of the sum's mantissa.
pub const ROUND: f32 = 12_582_912.0;

/// `a · b + c`: one fused multiply-add (a single rounding) when `FUSED`, else a product
/// and a sum, each rounded. Only a caller compiled with FMA may ask for `FUSED` (inside
/// [`vectorised!`], pass its `FMA`): elsewhere it would be a call into libm per value.
#[inline(always)]
pub fn multiply_add<const FUSED: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FUSED { a.mul_add(b, c) } else { a * b + c }
}

/// `e^x` for x ≤ 0, to within 2 ulp, and exactly 0 below f32's normal range (as the
/// masked scores of attention need): `2^n · e^r` with `n = round(x / ln 2)` and a
/// degree-6 polynomial for `e^r`, |r| ≤ ln 2 / 2 (Cephes `expf`). Its multiply-adds
/// are fused when `FUSED` (see [`multiply_add`]): the same bound, results that may
/// differ in the last bit.
#[inline(always)]
pub fn exp_with<const FUSED: bool>(x: f32) -> f32 {
    // Adding then subtracting `ROUND` rounds to the nearest integer.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const SMALLEST: f32 = -87.0;
    let madd = multiply_add::<FUSED>;
    let underflows = x < SMALLEST;
    let x = x.clamp(SMALLEST, 88.0);
    let n = madd(x, std::f32::consts::LOG2_E, ROUND) - ROUND;
    let r = madd(-n, LN2_LO, madd(-n, LN2_HI, x));
    let p = 1.987_569_1e-4;
    let p = madd(p, r, 1.398_199_9e-3);
    let p = madd(p, r, 8.333_452e-3);
    let p = madd(p, r, 4.166_579_6e-2);
    let p = madd(p, r, 1.666_666_5e-1);
    let p = madd(p, r, 5e-1);
    let e_r = madd(p * r, r, r) + 1.0;
    // 2^n: the integer n + 127 lands in the low mantissa bits of n + 127 + 2^23;
    // shifting it into the exponent field builds the power of two directly.
    let two_n = f32::from_bits((n + 8_388_735.0).to_bits() << 23);
    if underflows { 0.0 } else { e_r * two_n }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_std_to_float_precision_fused_or_not() {
        // Fused multiply-adds in software where this build has no FMA: slow, but exact.
        for exp in [exp_with::<false>, exp_with::<true>] {
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
}
