//! exp, sigmoid and tanh over float32 slices, branch-free so that the loops vectorise (with
//! AVX-512 or AVX2 where the CPU has them, chosen at run time): glibc's scalar `expf` and
//! `tanhf`, one call per element, were a third of a recurrent layer's time.
//!
//! Each is within a few ulp of the exact value (tests/op_problems/activation.rs checks them
//! against float64), the size of float32's own rounding; NaN stays NaN and ±inf gives the
//! limits.

/// ln 2 split in two, so that `x − n·ln 2` is exact for the n float32 exponents reach.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
const LOG2E: f32 = std::f32::consts::LOG2_E;
/// Beyond these e^x is inf or 0 in float32 (the clamp keeps n a small integer).
const EXP_MAX: f32 = 89.0;
const EXP_MIN: f32 = -104.0;
/// Adding and subtracting 1.5·2^23 rounds a float32 of magnitude < 2^22 to an integer.
const ROUND: f32 = 12_582_912.0;

/// e^x: x = n·ln 2 + r with |r| ≤ ln 2 / 2, e^r by its Taylor series to r^7 (the next term is
/// below 2^-27 of it), times 2^n built from exponent bits in two halves, so that results
/// beyond float32's normal range round to inf or a subnormal number.
#[inline(always)]
fn exp(x: f32) -> f32 {
    let x = x.clamp(EXP_MIN, EXP_MAX);
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (1.0 / 2.0
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // n as an integer, from t's low mantissa bits: a float-to-int cast does not vectorise (its
    // NaN and overflow cases go element by element). A NaN's n is garbage; the NaN stays in p.
    let n = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let power = |k: i32| f32::from_bits((k.wrapping_add(127) as u32) << 23);
    p * power(n >> 1) * power(n.wrapping_sub(n >> 1))
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// tanh: its odd Taylor series to x^9 below 1/4 (the next term is below 2^-26 of it there),
/// else 1 − 2/(e^{2|x|} + 1) with x's sign.
#[inline(always)]
fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let x2 = x * x;
    let series = x
        * (1.0
            + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0 + x2 * (62.0 / 2835.0)))));
    let far = (1.0 - 2.0 / (exp(2.0 * a) + 1.0)).copysign(x);
    if a < 0.25 {
        series
    } else {
        far
    }
}

/// `f` over `v`, compiled for the widest vector unit the CPU has.
macro_rules! dispatched {
    ($name:ident, $f:ident, $doc:literal) => {
        #[doc = $doc]
        pub fn $name(v: &mut [f32]) {
            #[inline(always)]
            fn each(v: &mut [f32]) {
                v.iter_mut().for_each(|x| *x = $f(*x));
            }
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512(v: &mut [f32]) {
                    each(v)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2(v: &mut [f32]) {
                    each(v)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F.
                    return unsafe { avx512(v) };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU has AVX2 and FMA.
                    return unsafe { avx2(v) };
                }
            }
            each(v)
        }
    };
}

dispatched!(exp_slice, exp, "`v = e^v`.");
dispatched!(sigmoid_slice, sigmoid, "`v = 1 / (1 + e^−v)`.");
dispatched!(tanh_slice, tanh, "`v = tanh v`.");
