//! The CPU GEMM (`ops::gemm`, the packed AVX-512 GEMM on CPUs that have it) against a float64
//! product, on sizes that cross its blocks (6-row micro-panels, 64-column panels, 256-deep
//! depth blocks), with strided operands and accumulation; and its batch invariance: any block of
//! rows multiplies to the same bits as those rows of the whole product, and so does a product on
//! one thread or with its right operand packed beforehand.

use super::plain::*;
use keqv::ops::gemm::{gemm, gemm_prepared, gemm_serial, Rhs};
use ndarray::{s, Array2};
use proptest::prelude::*;

fn matrix(rows: usize, cols: usize, seed: u64) -> (Array2<f32>, Vec<f64>) {
    let data = values(seed, rows * cols, 2.0);
    let a = Array2::from_shape_vec((rows, cols), data.iter().map(|&v| v as f32).collect()).unwrap();
    let exact = a.iter().map(|&v| f64::from(v)).collect();
    (a, exact)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn gemm_is_the_matrix_product(
        m in 1usize..=40, k in 1usize..=300, n in 1usize..=150,
        transposed_b: bool, accumulate: bool, seed: u64,
    ) {
        let (a, a64) = matrix(m, k, seed);
        // b as stored (k×n), or as the transpose of an n×k matrix (column-major strides).
        let (b_store, b_store64) = if transposed_b { matrix(n, k, seed ^ 1) } else { matrix(k, n, seed ^ 1) };
        let b = if transposed_b { b_store.t() } else { b_store.view() };
        let b_at = |i: usize, j: usize| if transposed_b { b_store64[j * k + i] } else { b_store64[i * n + j] };
        // c a column block of a wider matrix, so its rows are not contiguous.
        let (wide, wide64) = matrix(m, n + 3, seed ^ 2);
        let mut c = wide.clone();
        gemm(a.view(), b, &mut c.slice_mut(s![.., 1..n + 1]), accumulate);
        for i in 0..m {
            for j in 0..n + 3 {
                let got = f64::from(c[[i, j]]);
                if j == 0 || j > n {
                    prop_assert_eq!(got, wide64[i * (n + 3) + j], "column {} is not c's", j);
                    continue;
                }
                let terms = (0..k).map(|d| a64[i * k + d] * b_at(d, j - 1));
                let (sum, abs) = terms.fold((0.0, 0.0), |(s, a), t| (s + t, a + f64::abs(t)));
                let start = if accumulate { wide64[i * (n + 3) + j] } else { 0.0 };
                let want = start + sum;
                let bound = (1.0 + abs + start.abs()) * (2e-6 + 2e-5 * want.abs());
                prop_assert!((got - want).abs() <= bound, "[{}, {}]: got {}, want {}", i, j, got, want);
            }
        }
    }

    #[test]
    fn gemm_rows_do_not_depend_on_the_other_rows(
        m in 2usize..=300, k in 1usize..=300, n in 1usize..=100, split in 1usize..=299, seed: u64,
    ) {
        let split = split.min(m - 1);
        let (a, _) = matrix(m, k, seed);
        let (b, _) = matrix(k, n, seed ^ 1);
        let mut whole = Array2::zeros((m, n));
        gemm(a.view(), b.view(), &mut whole.view_mut(), false);
        for rows in [0..split, split..m] {
            let mut part = Array2::zeros((rows.len(), n));
            gemm(a.slice(s![rows.clone(), ..]), b.view(), &mut part.view_mut(), false);
            let same = part.iter().zip(whole.slice(s![rows.clone(), ..])).all(|(p, w)| p.to_bits() == w.to_bits());
            prop_assert!(same, "rows {:?} differ from the same rows of the whole product", rows);
        }
    }

    #[test]
    fn serial_and_prepared_products_are_the_threaded_product(
        m in 1usize..=200, k in 1usize..=300, n in 1usize..=150, accumulate: bool, seed: u64,
    ) {
        let (a, _) = matrix(m, k, seed);
        let (b, _) = matrix(k, n, seed ^ 1);
        let (start, _) = matrix(m, n, seed ^ 2);
        let product = |f: &dyn Fn(&mut Array2<f32>)| {
            let mut c = start.clone();
            f(&mut c);
            c
        };
        let threaded = product(&|c| gemm(a.view(), b.view(), &mut c.view_mut(), accumulate));
        let rhs = Rhs::new(b.view());
        let others = [
            ("serial", product(&|c| gemm_serial(a.view(), b.view(), &mut c.view_mut(), accumulate))),
            ("prepared", product(&|c| gemm_prepared(a.view(), &rhs, &mut c.view_mut(), accumulate, true))),
            ("prepared serial", product(&|c| gemm_prepared(a.view(), &rhs, &mut c.view_mut(), accumulate, false))),
        ];
        for (what, c) in others {
            let same = c.iter().zip(&threaded).all(|(x, y)| x.to_bits() == y.to_bits());
            prop_assert!(same, "the {} product differs from the threaded one", what);
        }
    }
}

/// A product of a few rows (a batch of one) reads `b` unpacked, on its own path: its rows must
/// still be the bits of the same rows of a many-row product, with and without accumulation, over
/// several depth blocks and a ragged last column chunk.
#[test]
fn few_row_products_are_rows_of_the_many_row_product() {
    let (m, k, n) = (50, 700, 4200);
    let (a, _) = matrix(m, k, 7);
    let (b, _) = matrix(k, n, 8);
    let (start, _) = matrix(m, n, 9);
    for accumulate in [false, true] {
        let mut whole = start.clone();
        gemm(a.view(), b.view(), &mut whole.view_mut(), accumulate);
        for rows in [0..1, 3..5, 10..13, 20..24] {
            let mut part = start.slice(s![rows.clone(), ..]).to_owned();
            gemm(
                a.slice(s![rows.clone(), ..]),
                b.view(),
                &mut part.view_mut(),
                accumulate,
            );
            let same = part
                .iter()
                .zip(whole.slice(s![rows.clone(), ..]))
                .all(|(p, w)| p.to_bits() == w.to_bits());
            assert!(
                same,
                "rows {rows:?} (accumulate {accumulate}) differ from the whole product's"
            );
        }
    }
}
