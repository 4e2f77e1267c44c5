//! Maximum, minimum and clipping that propagate NaN, as Keras's backends compute them
//! (`jnp.maximum`, `tf.maximum`, `clip`): Rust's `f32::max` returns the other operand when one
//! is NaN, which would turn a NaN into a number and hide it from the comparison.
//!
//! Each is a compare and a select, so the loops over them still vectorise.

use num_traits::Float;

/// The larger of `a` and `b`; NaN when either is NaN.
#[inline]
pub fn max<T: Float>(a: T, b: T) -> T {
    if a > b || a.is_nan() {
        a
    } else {
        b
    }
}

/// The smaller of `a` and `b`; NaN when either is NaN.
#[inline]
pub fn min<T: Float>(a: T, b: T) -> T {
    if a < b || a.is_nan() {
        a
    } else {
        b
    }
}

/// `x` clipped to `[lo, hi]` (numbers); NaN stays NaN.
#[inline]
pub fn clamp<T: Float>(x: T, lo: T, hi: T) -> T {
    min(max(x, lo), hi)
}

/// `max(x, 0)`; NaN stays NaN (one compare: a NaN is not below 0).
#[inline]
pub fn relu<T: Float>(x: T) -> T {
    if x < T::zero() {
        T::zero()
    } else {
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_wins_from_either_side_and_infinities_order() {
        let (n, i) = (f32::NAN, f32::INFINITY);
        for (a, b) in [(n, 1.0), (1.0, n), (n, n), (n, i), (-i, n)] {
            assert!(max(a, b).is_nan() && min(a, b).is_nan(), "{a} {b}");
        }
        assert_eq!((max(-i, 1.0), min(-i, 1.0)), (1.0, -i));
        assert_eq!((max(i, -i), min(i, -i)), (i, -i));
        assert!(clamp(f64::NAN, 0.0, 6.0).is_nan() && relu(f64::NAN).is_nan());
        assert_eq!((clamp(i, 0.0, 6.0), clamp(-i, 0.0, 6.0)), (6.0, 0.0));
        assert_eq!(
            (relu(-i), relu(i), relu(-2.0f32), relu(3.0f32)),
            (0.0, i, 0.0, 3.0)
        );
    }
}
