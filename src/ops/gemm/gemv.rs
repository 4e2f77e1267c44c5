//! Products of a few rows (a batch of one): `b` read once, straight from its rows. Packing `b`
//! reads and writes it whole, which for a few rows costs more than the product.
//!
//! Each row is summed in the packed kernel's order: from zero per [`KC`]-deep block, with fused
//! multiply-adds in depth order, then the blocks added to `c` one after the other. So its bits do
//! not depend on which path computed it, and a batch streamed in chunks stays bit-identical to the
//! whole batch. The blocks' sums do not depend on each other, so the threads split the depth:
//! each task streams `KC` consecutive rows of `b`, which the memory prefetchers follow best, and
//! one last pass adds the blocks' sums into `c` in order.

use ndarray::{ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

use super::packed::{nothing_to_sum, SendPtr, KC};
use super::{avx512, Lhs};

/// The most rows multiplied here: from about this many, the packed kernel's register tiles win
/// back the cost of packing `b`.
pub(super) const MAX_ROWS: usize = 4;
/// Running sums per task (rows × columns), small enough for L1.
const SUMS: usize = 4096;

/// Whether [`multiply`] takes this product: few rows, and `b`'s rows contiguous.
pub(super) fn takes(m: usize, b: &ArrayView2<f32>) -> bool {
    m <= MAX_ROWS && (b.strides()[1] == 1 || b.dim().1 <= 1)
}

/// `c = a·b` (`c += a·b` with `accumulate`), where [`takes`] holds, `c`'s columns are contiguous
/// and the CPU has AVX-512.
pub(super) fn multiply(
    a: &dyn Lhs<f32>,
    b: ArrayView2<f32>,
    c: &mut ArrayViewMut2<f32>,
    accumulate: bool,
) {
    let (m, k) = a.dim();
    let n = b.dim().1;
    if nothing_to_sum(m, k, n, c, accumulate) {
        return;
    }
    let mut rows = vec![0.0; m * k];
    a.pack(0..m, 0..k, 1, &mut rows);
    // Each depth block's sums, m × n, one block after the other.
    let blocks = k.div_ceil(KC);
    let mut sums = vec![0.0f32; blocks * m * n];
    // Whole rows of b where there are blocks enough for every thread (one stream each, which
    // the prefetchers follow best), else columns split too: 784 deep, 4 blocks of unequal depth.
    let chunks = (4 * rayon::current_num_threads()).div_ceil(blocks);
    let width = (SUMS / m)
        .min(n.div_ceil(chunks))
        .next_multiple_of(16)
        .min(n);
    let ldb = b.strides()[0];
    let b_ptr = SendPtr(b.as_ptr().cast_mut());
    sums.par_chunks_mut(m * n)
        .enumerate()
        .for_each(|(block, sums)| {
            let depths = block * KC..(block * KC + KC).min(k);
            sums.par_chunks_mut(m * width)
                .enumerate()
                .for_each(|(chunk, sums)| {
                    let (first, cols) = (chunk * width, sums.len() / m);
                    for d in depths.clone() {
                        // SAFETY: d < k and first + cols ≤ n: these columns of row d lie in b.
                        let b_row = unsafe {
                            let row = b_ptr.get().offset(d as isize * ldb).add(first);
                            std::slice::from_raw_parts(row, cols)
                        };
                        for (r, sums) in sums.chunks_exact_mut(cols).enumerate() {
                            // SAFETY: the CPU has AVX-512 (the caller's contract).
                            unsafe { avx512::fma_row(rows[r * k + d], b_row, sums) };
                        }
                    }
                });
        });
    add_blocks(&sums, m, n, width, c, accumulate);
}

/// `c` (`m`×`n`) = the blocks' sums added in depth order, onto `c` with `accumulate`. Each block
/// holds its columns in chunks of `width`, row after row within a chunk.
fn add_blocks(
    sums: &[f32],
    m: usize,
    n: usize,
    width: usize,
    c: &mut ArrayViewMut2<f32>,
    accumulate: bool,
) {
    for (block, sums) in sums.chunks_exact(m * n).enumerate() {
        for (chunk, sums) in sums.chunks(m * width).enumerate() {
            let (first, cols) = (chunk * width, sums.len() / m);
            for (r, sums) in sums.chunks_exact(cols).enumerate() {
                let mut c_row = c.slice_mut(ndarray::s![r, first..first + cols]);
                let c_row = c_row.as_slice_mut().expect("c's columns are contiguous");
                if block == 0 && !accumulate {
                    c_row.copy_from_slice(sums);
                } else {
                    c_row.iter_mut().zip(sums).for_each(|(c, s)| *c += s);
                }
            }
        }
    }
}
