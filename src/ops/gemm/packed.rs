//! A packed float32 GEMM in the GotoBLAS/BLIS shape: `b` packed once into panels of `NR`
//! columns, `a` copied per block of `MC` rows and `KC` depths (row after row, so that a
//! convolution's receptive fields are gathered with plain slice copies, [`Lhs::pack`]), and an
//! `MR`×`NR` micro-kernel that keeps its tile in registers. Blocks of rows run in parallel.
//!
//! Each output element is summed over depth blocks of the fixed size `KC`, in order, and within a
//! block in depth order: the same for every row whatever `M` is, which keeps chunked runs
//! bit-identical to whole-batch runs.

use std::ops::Range;

use ndarray::{ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

use super::{avx512, gemv, Lhs};

/// Rows and columns of the micro-kernel's tile.
pub(super) const MR: usize = 6;
pub(super) const NR: usize = 64;
/// Depth of a block: a `KC`×`NR` panel of `b` (64 KiB) is read from L2 per micro-panel of `a`.
/// Deeper blocks write each tile of `c` back fewer times: 256 measured 3–10% faster than 128.
pub(super) const KC: usize = 256;
/// The most rows per parallel task: its packed block of `a` (`MC`×`KC`, 120 KiB) stays in L2.
const MC: usize = 120;

/// `c = a·b` (`c += a·b` with `accumulate`) on the packed GEMM; false, touching nothing, where
/// this CPU has no AVX-512 or `c`'s columns are not contiguous.
pub(crate) fn sgemm_packed(
    a: &dyn Lhs<f32>,
    b: ArrayView2<f32>,
    c: &mut ArrayViewMut2<f32>,
    accumulate: bool,
) -> bool {
    if !runs(b.dim().1, c) {
        return false;
    }
    if gemv::takes(a.dim().0, &b) {
        gemv::multiply(a, b, c, accumulate);
        return true;
    }
    multiply(a, &pack_b(b, true), c, accumulate, true);
    true
}

/// [`sgemm_packed`] with `b` packed beforehand ([`pack_rhs`]), on the rayon pool with
/// `parallel`, else on the calling thread alone.
pub(crate) fn sgemm_prepacked(
    a: &dyn Lhs<f32>,
    b: &PackedRhs,
    c: &mut ArrayViewMut2<f32>,
    accumulate: bool,
    parallel: bool,
) -> bool {
    if !runs(b.n, c) {
        return false;
    }
    multiply(a, b, c, accumulate, parallel);
    true
}

/// Whether the packed GEMM runs here: AVX-512, and `c`'s columns contiguous.
fn runs(n: usize, c: &ArrayViewMut2<f32>) -> bool {
    avx512::available() && (c.strides()[1] == 1 || n <= 1)
}

/// A right operand packed once for many products (a recurrent kernel, used every step).
pub struct PackedRhs {
    k: usize,
    n: usize,
    panels: Vec<f32>,
}

/// `b` packed for [`sgemm_prepacked`] (on the rayon pool with `parallel`); None where this CPU
/// has no AVX-512.
pub(crate) fn pack_rhs(b: ArrayView2<f32>, parallel: bool) -> Option<PackedRhs> {
    avx512::available().then(|| pack_b(b, parallel))
}

fn multiply(
    a: &dyn Lhs<f32>,
    b: &PackedRhs,
    c: &mut ArrayViewMut2<f32>,
    accumulate: bool,
    parallel: bool,
) {
    let (m, k) = a.dim();
    let n = b.n;
    debug_assert_eq!(k, b.k, "a's depth is b's");
    if nothing_to_sum(m, k, n, c, accumulate) {
        return;
    }
    let ldc = c.strides()[0];
    let out = SendPtr(c.as_mut_ptr());
    let threads = if parallel {
        rayon::current_num_threads()
    } else {
        1
    };
    // Blocks of at most MC rows, as many for each thread, sharing the micro-panels evenly: 9
    // blocks of 120 rows on two threads would leave one idle a ninth of the time.
    let micro_panels = m.div_ceil(MR);
    let blocks = match m.div_ceil(MC) {
        1 => 1,
        blocks => blocks.next_multiple_of(threads).min(micro_panels),
    };
    let block_rows = |block: usize| {
        let (first, end) = (
            block * micro_panels / blocks,
            (block + 1) * micro_panels / blocks,
        );
        first * MR..(end * MR).min(m)
    };
    // Few row blocks (small batches): split the columns too, so both cores work.
    let panels = n.div_ceil(NR);
    let column_chunks = if blocks >= 4 * threads || !parallel {
        1
    } else {
        panels.min((4 * threads).div_ceil(blocks))
    };
    let panels_per_chunk = panels.div_ceil(column_chunks);
    let task = |task: usize| {
        let (block, chunk) = (task / column_chunks, task % column_chunks);
        let rows = block_rows(block);
        let first = chunk * panels_per_chunk;
        let panel_range = first..(first + panels_per_chunk).min(panels);
        if panel_range.is_empty() {
            return;
        }
        PACKED_A.with_borrow_mut(|packed_a| {
            // Every value a micro-kernel reads is written by `pack` first: never cleared.
            packed_a.resize(packed_a.len().max(MC * KC.min(k)), 0.0);
            for depth in (0..k).step_by(KC) {
                let kc = KC.min(k - depth);
                a.pack(rows.clone(), depth..depth + kc, MR, packed_a);
                let add = accumulate || depth > 0;
                for panel in panel_range.clone() {
                    let b_panel = &b.panels[(panel * k + depth) * NR..][..kc * NR];
                    let tile = Tile {
                        c: &out,
                        ldc,
                        n,
                        panel,
                        add,
                    };
                    multiply_block(
                        &packed_a[..rows.len().div_ceil(MR) * MR * kc],
                        kc,
                        b_panel,
                        rows.clone(),
                        &tile,
                    );
                }
            }
        });
    };
    let tasks = blocks * column_chunks;
    if parallel {
        (0..tasks).into_par_iter().for_each(task);
    } else {
        (0..tasks).for_each(task);
    }
}

/// An `m`×`k` by `k`×`n` product with no terms to sum, done (`c` zeroed when depth 0 replaces
/// it): true, else false with `c` untouched. Both paths, packed and few-row, start with it.
pub(super) fn nothing_to_sum(
    m: usize,
    k: usize,
    n: usize,
    c: &mut ArrayViewMut2<f32>,
    accumulate: bool,
) -> bool {
    if m == 0 || n == 0 {
        return true;
    }
    if k == 0 && !accumulate {
        c.fill(0.0);
    }
    k == 0
}

/// Where a block's products go: panel `panel` of `c` (`ldc` apart, `n` columns), added to what
/// is there with `add`.
struct Tile<'a> {
    c: &'a SendPtr,
    ldc: isize,
    n: usize,
    panel: usize,
    add: bool,
}

/// The micro-kernel over each `MR`-row micro-panel of a packed block of `a` (rows `rows`) times
/// one packed panel of `b`.
fn multiply_block(packed_a: &[f32], kc: usize, b_panel: &[f32], rows: Range<usize>, t: &Tile) {
    let cols = NR.min(t.n - t.panel * NR);
    for (i, a_panel) in packed_a.chunks_exact(MR * kc).enumerate() {
        let row = rows.start + i * MR;
        let tile_rows = MR.min(rows.end - row);
        // SAFETY: the tile [row, row + tile_rows) × [panel·NR, panel·NR + cols) lies inside c,
        // and no other task writes it (tasks own disjoint rows × panels).
        unsafe {
            let tile =
                t.c.get()
                    .offset(row as isize * t.ldc + (t.panel * NR) as isize);
            avx512::kernel(kc, a_panel, b_panel, tile, t.ldc, tile_rows, cols, t.add);
        }
    }
}

thread_local! {
    /// Each thread's packed block of `a`, reused from task to task.
    static PACKED_A: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

pub(super) struct SendPtr(pub(super) *mut f32);

impl SendPtr {
    // A method, so closures capture the whole wrapper rather than its raw-pointer field.
    pub(super) fn get(&self) -> *mut f32 {
        self.0
    }
}
// SAFETY: the tasks write disjoint tiles of c through it (above).
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

/// `b` (k×n) as panels of `NR` columns, each k×`NR` row-major, the last padded with zeros.
fn pack_b(b: ArrayView2<f32>, parallel: bool) -> PackedRhs {
    let (k, n) = b.dim();
    let panels = n.div_ceil(NR);
    let mut packed = vec![0.0f32; panels * k * NR];
    let pack = |(panel, dst): (usize, &mut [f32])| {
        let cols = panel * NR..(panel * NR + NR).min(n);
        for (row, src) in dst.chunks_exact_mut(NR).zip(b.rows()) {
            let src = src.slice_move(ndarray::s![cols.clone()]);
            match src.as_slice() {
                Some(s) => row[..s.len()].copy_from_slice(s),
                None => row.iter_mut().zip(src).for_each(|(d, &v)| *d = v),
            }
        }
    };
    if parallel {
        packed.par_chunks_mut(k * NR).enumerate().for_each(pack);
    } else {
        packed.chunks_mut(k * NR).enumerate().for_each(pack);
    }
    PackedRhs {
        k,
        n,
        panels: packed,
    }
}
