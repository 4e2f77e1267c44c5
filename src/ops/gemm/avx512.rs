//! The packed GEMM's AVX-512 micro-kernel: an `MR`×`NR` (6×64) tile of `c` in 24 zmm registers.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::packed::{MR, NR};

/// Whether this CPU runs the kernel (checked once by the standard library, then cached).
#[cfg(target_arch = "x86_64")]
pub(super) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
}

#[cfg(not(target_arch = "x86_64"))]
pub(super) fn available() -> bool {
    false
}

#[cfg(not(target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn kernel(
    _: usize,
    _: &[f32],
    _: &[f32],
    _: *mut f32,
    _: isize,
    _: usize,
    _: usize,
    _: bool,
) {
    unreachable!("available() is false off x86_64")
}

#[cfg(target_arch = "x86_64")]
/// `tile = a_panel·b_panel` (`+=` with `add`) over `kc` depths, for the first `rows` rows and
/// `cols` columns of the tile; `a_panel` is `MR`×`kc` (row-major), `b_panel` `kc`×`NR`
/// (depth-major).
///
/// # Safety
/// The CPU has AVX-512F; `tile` points at `rows` rows of `cols` writable floats, `ldc` apart.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn kernel(
    kc: usize,
    a_panel: &[f32],
    b_panel: &[f32],
    tile: *mut f32,
    ldc: isize,
    rows: usize,
    cols: usize,
    add: bool,
) {
    assert!(a_panel.len() >= kc * MR && b_panel.len() >= kc * NR);
    let (a, b) = (a_panel.as_ptr(), b_panel.as_ptr());
    // Twenty-four named accumulators (six rows of four vectors), one depth per iteration:
    // written out so that the compiler keeps them in registers. Each broadcast of `a` feeds four
    // FMAs; broadcasts share the FMA pipes on some CPUs, so fewer of them per FMA is faster.
    let z = _mm512_setzero_ps();
    let mut acc = [[z; 4]; MR];
    macro_rules! depth {
        ($d:expr) => {{
            // SAFETY: d < kc, and the panels hold kc depths (asserted above).
            let bp = unsafe { b.add($d * NR) };
            let bv = unsafe {
                [
                    _mm512_loadu_ps(bp),
                    _mm512_loadu_ps(bp.add(16)),
                    _mm512_loadu_ps(bp.add(32)),
                    _mm512_loadu_ps(bp.add(48)),
                ]
            };
            macro_rules! row {
                ($r:literal) => {
                    let v = _mm512_set1_ps(unsafe { *a.add($r * kc + $d) });
                    acc[$r][0] = _mm512_fmadd_ps(v, bv[0], acc[$r][0]);
                    acc[$r][1] = _mm512_fmadd_ps(v, bv[1], acc[$r][1]);
                    acc[$r][2] = _mm512_fmadd_ps(v, bv[2], acc[$r][2]);
                    acc[$r][3] = _mm512_fmadd_ps(v, bv[3], acc[$r][3]);
                };
            }
            row!(0);
            row!(1);
            row!(2);
            row!(3);
            row!(4);
            row!(5);
        }};
    }
    for d in 0..kc {
        depth!(d);
    }
    let masks = [
        mask(cols),
        mask(cols.saturating_sub(16)),
        mask(cols.saturating_sub(32)),
        mask(cols.saturating_sub(48)),
    ];
    for (r, acc) in acc.iter().enumerate().take(rows) {
        // SAFETY: row r < rows and the masks keep to the first cols columns (caller's contract).
        unsafe {
            let row = tile.offset(r as isize * ldc);
            for (q, (&m, &v)) in masks.iter().zip(acc).enumerate() {
                let at = row.wrapping_add(16 * q);
                let v = if add {
                    _mm512_add_ps(_mm512_maskz_loadu_ps(m, at), v)
                } else {
                    v
                };
                _mm512_mask_storeu_ps(at, m, v);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
/// The first `n` (at most 16) lanes.
fn mask(n: usize) -> __mmask16 {
    if n >= 16 {
        0xffff
    } else {
        (1u16 << n) - 1
    }
}
