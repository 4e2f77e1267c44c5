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

#[cfg(not(target_arch = "x86_64"))]
pub(super) unsafe fn fma_row(_: f32, _: &[f32], _: &mut [f32]) {
    unreachable!("available() is false off x86_64")
}

#[cfg(target_arch = "x86_64")]
/// `sums[j] = a·b[j] + sums[j]`, fused, for every `j < sums.len()`: one depth of a row's product
/// in the kernel's rounding.
///
/// # Safety
/// The CPU has AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn fma_row(a: f32, b: &[f32], sums: &mut [f32]) {
    assert!(b.len() >= sums.len());
    let a = _mm512_set1_ps(a);
    let (whole, n) = (sums.len() / 16 * 16, sums.len());
    let (b, s) = (b.as_ptr(), sums.as_mut_ptr());
    // SAFETY: every offset is below sums.len() ≤ b.len(); the tail is masked.
    unsafe {
        for j in (0..whole).step_by(16) {
            let v = _mm512_fmadd_ps(a, _mm512_loadu_ps(b.add(j)), _mm512_loadu_ps(s.add(j)));
            _mm512_storeu_ps(s.add(j), v);
        }
        if whole < n {
            let m = mask(n - whole);
            let (bj, sj) = (b.add(whole), s.add(whole));
            let v = _mm512_fmadd_ps(
                a,
                _mm512_maskz_loadu_ps(m, bj),
                _mm512_maskz_loadu_ps(m, sj),
            );
            _mm512_mask_storeu_ps(sj, m, v);
        }
    }
}

#[cfg(target_arch = "x86_64")]
/// `tile = a_panel·b_panel` (`+=` with `add`) over `kc` depths, for the first `rows` rows and
/// `cols` columns of the tile; `a_panel` is `MR`×`kc` (row-major), `b_panel` `kc`×`NR`
/// (depth-major). A narrow tile (a panel of fewer than `NR` columns: an attention head's 32
/// values) runs a kernel with fewer vectors per row rather than multiplying padding.
///
/// # Safety
/// The CPU has AVX-512F; `tile` points at `rows` rows of `cols` writable floats, `ldc` apart.
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
    // SAFETY: the caller's contract, passed on.
    unsafe {
        match (cols.div_ceil(16), rows) {
            (1, _) => kernel_of::<1, MR>(kc, a_panel, b_panel, tile, ldc, rows, cols, add),
            (2, _) => kernel_of::<2, MR>(kc, a_panel, b_panel, tile, ldc, rows, cols, add),
            // The last micro-panel of a block whose rows are not a multiple of MR (a recurrent
            // step's 32 rows per thread: five panels and two rows): only its rows.
            (_, 1) => kernel_of::<4, 1>(kc, a_panel, b_panel, tile, ldc, rows, cols, add),
            (_, 2) => kernel_of::<4, 2>(kc, a_panel, b_panel, tile, ldc, rows, cols, add),
            (_, 3) => kernel_of::<4, 3>(kc, a_panel, b_panel, tile, ldc, rows, cols, add),
            (_, 4) => kernel_of::<4, 4>(kc, a_panel, b_panel, tile, ldc, rows, cols, add),
            _ => kernel_of::<4, MR>(kc, a_panel, b_panel, tile, ldc, rows, cols, add),
        }
    }
}

#[cfg(target_arch = "x86_64")]
/// [`kernel`] on the first `R` rows and `V` vectors (16 columns each) of the tile: `R`·`V`
/// accumulators, one depth per iteration, each broadcast of `a` feeding `V` FMAs (broadcasts
/// share the FMA pipes on some CPUs, so fewer of them per FMA is faster). The loops over the
/// constants `V` and `R` unroll, which keeps the accumulators in registers.
///
/// # Safety
/// As [`kernel`], with `rows` ≤ `R` ≤ `MR`, `cols` ≤ 16·`V` and the panels' lengths checked
/// there.
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel_of<const V: usize, const R: usize>(
    kc: usize,
    a_panel: &[f32],
    b_panel: &[f32],
    tile: *mut f32,
    ldc: isize,
    rows: usize,
    cols: usize,
    add: bool,
) {
    let (a, b) = (a_panel.as_ptr(), b_panel.as_ptr());
    // The tile's lines of c, read or written after the loop, are fetched meanwhile: from L2 or
    // L3 (a row block's tiles of c outgrow L1) they would stall the stores.
    for r in 0..rows {
        for q in 0..V {
            let line = tile.wrapping_offset(r as isize * ldc).wrapping_add(16 * q);
            _mm_prefetch::<_MM_HINT_T0>(line as *const i8);
        }
    }
    let z = _mm512_setzero_ps();
    let mut acc = [[z; V]; R];
    for d in 0..kc {
        // SAFETY: d < kc, and the panels hold kc depths.
        let bp = unsafe { b.add(d * NR) };
        let mut bv = [z; V];
        for (q, v) in bv.iter_mut().enumerate() {
            *v = unsafe { _mm512_loadu_ps(bp.add(16 * q)) };
        }
        for (r, acc) in acc.iter_mut().enumerate() {
            let v = _mm512_set1_ps(unsafe { *a.add(r * kc + d) });
            for (acc, &bv) in acc.iter_mut().zip(&bv) {
                *acc = _mm512_fmadd_ps(v, bv, *acc);
            }
        }
    }
    let mut masks = [0; V];
    for (q, m) in masks.iter_mut().enumerate() {
        *m = mask(cols.saturating_sub(16 * q));
    }
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
