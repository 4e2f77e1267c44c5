//! Difference metrics between two tensors under a tolerance, accumulated over batch chunks so
//! that a run of any size is measured exactly with bounded memory.
//!
//! Rule (DESIGN.md): an element passes when `|a − b| ≤ atol + rtol·|b|`, with `b` the
//! original's value; NaN matches only NaN and ±inf only the same infinity.
//!
//! `snr_db` is the signal-to-noise ratio `10·log10(Σ b² / Σ (a − b)²)` over the finite pairs
//! (as quantization tools report it): None when the sides are identical (infinite) or no pair
//! is finite.
//!
//! `max_rel` is `max |a − b| / max(|b|, atol)`: the usual relative error where the reference
//! is large, and the error measured in units of `atol` where the reference is (near) zero, so
//! a zero reference never produces inf or NaN (atol is floored at the smallest normal f32).

use serde::Serialize;

use crate::tensor::Tensor;

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Tolerance {
    pub atol: f64,
    pub rtol: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            atol: 1e-5,
            rtol: 1e-5,
        }
    }
}

impl Tolerance {
    pub fn passes(&self, diff: f64, reference: f64) -> bool {
        diff <= self.atol + self.rtol * reference.abs()
    }
}

/// The measured difference of one tensor pair.
#[derive(Clone, Debug, Serialize)]
pub struct Metrics {
    /// Elements compared.
    pub count: usize,
    pub max_abs: f64,
    pub max_rel: f64,
    pub mean_abs: f64,
    /// Signal-to-noise ratio in dB (see the module's doc); None when infinite or undefined.
    pub snr_db: Option<f64>,
    /// Index (all dimensions, batch first) of the largest |a − b|, or of the first NaN/Inf
    /// mismatch when there is one.
    pub worst_index: Vec<usize>,
    pub worst_original: f64,
    pub worst_converted: f64,
    /// Elements that fail the tolerance (NaN/Inf mismatches included).
    pub mismatches: usize,
    /// Elements where exactly one side is NaN.
    pub nan_mismatch: usize,
    /// Elements where the sides are different infinities, or one is infinite and one finite.
    pub inf_mismatch: usize,
    /// The smallest atol that would pass at this rtol; None when NaN/Inf mismatches make every
    /// atol fail.
    pub min_atol_to_pass: Option<f64>,
    /// For class scores (a softmax over the last axis of a (batch, classes) output): the
    /// fraction of rows whose argmax agrees.
    pub top1_agreement: Option<f64>,
    pub passed: bool,
    /// How the |a − b| are spread over fixed log-scale bins (see [`Histogram`]).
    pub histogram: Histogram,
}

/// Number of bins of a [`Histogram`].
pub const HISTOGRAM_BINS: usize = 16;

/// Lower edges of the decade bins: 1e-10, 1e-9, …, 1e2.
const DECADE_EDGES: [f64; 13] = [
    1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1e0, 1e1, 1e2,
];

/// Counts of |a − b| in fixed log-scale bins, the same for every tensor so that histograms can
/// be compared and added: bin 0 holds exact matches (NaN against NaN and an infinity against
/// the same one included), bin 1 (0, 1e-10), bins 2..=13 one decade each from [1e-10, 1e-9) to
/// [1e1, 1e2), bin 14 [1e2, ∞) and bin 15 the NaN/Inf mismatches. Serialized as the plain list
/// of the 16 counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Histogram {
    pub counts: [usize; HISTOGRAM_BINS],
}

impl Histogram {
    /// The bin of a finite difference `diff ≥ 0`.
    pub fn bin_of(diff: f64) -> usize {
        if diff == 0.0 {
            0
        } else {
            1 + DECADE_EDGES.partition_point(|&edge| edge <= diff)
        }
    }

    /// The bin of NaN/Inf mismatches.
    pub const NONFINITE: usize = HISTOGRAM_BINS - 1;

    /// The range of values bin `i` holds, as (low, high); None for the NaN/Inf bin.
    pub fn range(i: usize) -> Option<(f64, f64)> {
        match i {
            0 => Some((0.0, 0.0)),
            1 => Some((0.0, DECADE_EDGES[0])),
            14 => Some((DECADE_EDGES[12], f64::INFINITY)),
            2..=13 => Some((DECADE_EDGES[i - 2], DECADE_EDGES[i - 1])),
            _ => None,
        }
    }

    /// A short label of bin `i` for axes and tables: `0`, `<1e-10`, `1e-10`, …, `≥1e2`,
    /// `NaN/Inf`.
    pub fn label(i: usize) -> String {
        match i {
            0 => "0".into(),
            1 => "<1e-10".into(),
            14 => "≥1e2".into(),
            2..=13 => format!("{:e}", DECADE_EDGES[i - 2]),
            _ => "NaN/Inf".into(),
        }
    }

    pub fn total(&self) -> usize {
        self.counts.iter().sum()
    }

    pub fn add(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
    }
}

/// A chunk's differences reduced elsewhere (on the GPU: src/exec/gpu/reduce.rs), in the terms
/// an [`Accumulator`] keeps; indices are flat within the chunk.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub count: usize,
    /// Pairs where both values are finite.
    pub finite: usize,
    pub sum_abs: f64,
    /// Σ b² and Σ (a − b)² over the finite pairs.
    pub sum_sq_original: f64,
    pub sum_sq_diff: f64,
    /// The first finite pair with the largest |a − b|: (index, converted, original).
    pub worst: Option<(usize, f32, f32)>,
    pub max_rel: f64,
    /// The largest |a − b| − rtol·|b|.
    pub min_atol: f64,
    pub mismatches: usize,
    pub nan_mismatch: usize,
    pub inf_mismatch: usize,
    /// The first NaN/Inf mismatch: (index, converted, original).
    pub first_nonfinite: Option<(usize, f32, f32)>,
    pub histogram: Histogram,
    /// For class scores: (rows, rows whose argmax agrees).
    pub top1: Option<(usize, usize)>,
}

/// Accumulates metrics over chunks of the batch.
#[derive(Clone, Debug)]
pub struct Accumulator {
    tolerance: Tolerance,
    count: usize,
    sum_abs: f64,
    sum_sq_original: f64,
    sum_sq_diff: f64,
    finite_count: usize,
    max_abs: f64,
    max_rel: f64,
    worst: Option<(Vec<usize>, f64, f64)>,
    worst_is_nonfinite: bool,
    mismatches: usize,
    nan_mismatch: usize,
    inf_mismatch: usize,
    min_atol: f64,
    rows: usize,
    rows_agree: usize,
    class_axis: bool,
    histogram: Histogram,
}

impl Accumulator {
    /// `class_axis`: the tensor is (batch, classes) scores, so top-1 agreement is measured.
    pub fn new(tolerance: Tolerance, class_axis: bool) -> Self {
        Accumulator {
            tolerance,
            count: 0,
            sum_abs: 0.0,
            sum_sq_original: 0.0,
            sum_sq_diff: 0.0,
            finite_count: 0,
            max_abs: 0.0,
            max_rel: 0.0,
            worst: None,
            worst_is_nonfinite: false,
            mismatches: 0,
            nan_mismatch: 0,
            inf_mismatch: 0,
            min_atol: 0.0,
            rows: 0,
            rows_agree: 0,
            class_axis,
            histogram: Histogram::default(),
        }
    }

    /// Adds a chunk whose first sample is sample `offset` of the whole batch.
    pub fn add(&mut self, original: &Tensor, converted: &Tensor, offset: usize) {
        debug_assert_eq!(original.shape(), converted.shape());
        let shape = original.shape().to_vec();
        let original = original.as_standard_layout();
        let converted = converted.as_standard_layout();
        let a_values = converted.as_slice().expect("standard layout");
        let b_values = original.as_slice().expect("standard layout");
        let rel_floor = self.tolerance.atol.max(f32::MIN_POSITIVE as f64);
        for (flat, (&a, &b)) in a_values.iter().zip(b_values).enumerate() {
            let (a, b) = (a as f64, b as f64);
            self.count += 1;
            if a.is_finite() && b.is_finite() {
                let diff = (a - b).abs();
                self.sum_abs += diff;
                self.sum_sq_original += b * b;
                self.sum_sq_diff += diff * diff;
                self.finite_count += 1;
                self.max_rel = self.max_rel.max(diff / b.abs().max(rel_floor));
                self.min_atol = self.min_atol.max(diff - self.tolerance.rtol * b.abs());
                self.histogram.counts[Histogram::bin_of(diff)] += 1;
                if !self.tolerance.passes(diff, b) {
                    self.mismatches += 1;
                }
                if diff > self.max_abs || self.worst.is_none() {
                    self.max_abs = self.max_abs.max(diff);
                    if !self.worst_is_nonfinite {
                        self.worst = Some((unravel(flat, &shape, offset), b, a));
                    }
                }
            } else if a.is_nan() && b.is_nan() || a == b {
                self.histogram.counts[0] += 1;
            } else {
                self.histogram.counts[Histogram::NONFINITE] += 1;
                if a.is_nan() || b.is_nan() {
                    self.nan_mismatch += 1;
                } else {
                    self.inf_mismatch += 1;
                }
                self.mismatches += 1;
                if !self.worst_is_nonfinite {
                    self.worst_is_nonfinite = true;
                    self.worst = Some((unravel(flat, &shape, offset), b, a));
                }
            }
        }
        if let Some(width) = self.top1_width(&shape) {
            for (ra, rb) in a_values.chunks(width).zip(b_values.chunks(width)) {
                self.rows += 1;
                if argmax(ra) == argmax(rb) {
                    self.rows_agree += 1;
                }
            }
        }
    }

    /// The row width over which top-1 agreement is measured for a chunk of `shape`: the class
    /// count of (batch, classes) scores, None for other outputs.
    pub fn top1_width(&self, shape: &[usize]) -> Option<usize> {
        (self.class_axis && shape.len() == 2).then(|| shape[1])
    }

    /// Adds a chunk of `shape` (batch first) reduced elsewhere, whose first sample is sample
    /// `offset` of the whole batch. The worst element's difference is recomputed here in
    /// float64 from its two values.
    pub fn add_summary(&mut self, s: &Summary, shape: &[usize], offset: usize) {
        self.count += s.count;
        self.finite_count += s.finite;
        self.sum_abs += s.sum_abs;
        self.sum_sq_original += s.sum_sq_original;
        self.sum_sq_diff += s.sum_sq_diff;
        self.max_rel = self.max_rel.max(s.max_rel);
        self.min_atol = self.min_atol.max(s.min_atol);
        self.mismatches += s.mismatches;
        self.nan_mismatch += s.nan_mismatch;
        self.inf_mismatch += s.inf_mismatch;
        self.histogram.add(&s.histogram);
        if let Some((flat, a, b)) = s.worst {
            let diff = (a as f64 - b as f64).abs();
            if diff > self.max_abs || self.worst.is_none() {
                self.max_abs = self.max_abs.max(diff);
                if !self.worst_is_nonfinite {
                    self.worst = Some((unravel(flat, shape, offset), b as f64, a as f64));
                }
            }
        }
        if let Some((flat, a, b)) = s.first_nonfinite {
            if !self.worst_is_nonfinite {
                self.worst_is_nonfinite = true;
                self.worst = Some((unravel(flat, shape, offset), b as f64, a as f64));
            }
        }
        if let Some((rows, agree)) = s.top1 {
            self.rows += rows;
            self.rows_agree += agree;
        }
    }

    pub fn finish(&self) -> Metrics {
        let (worst_index, worst_original, worst_converted) = self.worst.clone().unwrap_or_default();
        let nonfinite = self.nan_mismatch + self.inf_mismatch;
        Metrics {
            count: self.count,
            max_abs: self.max_abs,
            max_rel: self.max_rel,
            mean_abs: if self.finite_count == 0 {
                0.0
            } else {
                self.sum_abs / self.finite_count as f64
            },
            snr_db: (self.finite_count > 0 && self.sum_sq_diff > 0.0)
                .then(|| 10.0 * (self.sum_sq_original / self.sum_sq_diff).log10()),
            worst_index,
            worst_original,
            worst_converted,
            mismatches: self.mismatches,
            nan_mismatch: self.nan_mismatch,
            inf_mismatch: self.inf_mismatch,
            min_atol_to_pass: (nonfinite == 0).then_some(self.min_atol.max(0.0)),
            top1_agreement: (self.rows > 0).then(|| self.rows_agree as f64 / self.rows as f64),
            passed: self.mismatches == 0,
            histogram: self.histogram.clone(),
        }
    }
}

/// Compares two whole tensors.
pub fn compare(original: &Tensor, converted: &Tensor, tolerance: Tolerance) -> Metrics {
    let mut acc = Accumulator::new(tolerance, false);
    acc.add(original, converted, 0);
    acc.finish()
}

fn unravel(mut flat: usize, shape: &[usize], batch_offset: usize) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (i, &d) in shape.iter().enumerate().rev() {
        if d > 0 {
            index[i] = flat % d;
            flat /= d;
        }
    }
    if let Some(first) = index.first_mut() {
        *first += batch_offset;
    }
    index
}

fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in row.iter().enumerate() {
        if *v > row[best] || row[best].is_nan() && !v.is_nan() {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr2, IxDyn};

    fn t(rows: &[[f32; 3]]) -> Tensor {
        arr2(rows).into_dyn()
    }

    #[test]
    fn identical_tensors_pass_with_zero_error() {
        let a = t(&[[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]]);
        let m = compare(&a, &a, Tolerance::default());
        assert!(m.passed);
        assert_eq!(
            (m.max_abs, m.mismatches, m.min_atol_to_pass),
            (0.0, 0, Some(0.0))
        );
    }

    #[test]
    fn measures_the_worst_element_and_the_atol_that_would_pass() {
        let b = t(&[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]);
        let a = t(&[[0.0, 1.0, 2.0], [3.0, 4.001, 5.0]]);
        let m = compare(
            &b,
            &a,
            Tolerance {
                atol: 1e-5,
                rtol: 1e-5,
            },
        );
        assert!(!m.passed);
        assert_eq!(m.mismatches, 1);
        assert_eq!(m.worst_index, vec![1, 1]);
        assert!((m.max_abs - 1e-3).abs() < 1e-6);
        let need = m.min_atol_to_pass.unwrap();
        assert!((need - (m.max_abs - 1e-5 * 4.0)).abs() < 1e-9);
        let retry = compare(
            &b,
            &a,
            Tolerance {
                atol: need + 1e-12,
                rtol: 1e-5,
            },
        );
        assert!(retry.passed, "min_atol_to_pass must really pass");
    }

    #[test]
    fn snr_is_signal_over_error_power_in_decibels() {
        // Σb² = 0 + 1 + 4 + 9 + 16 + 25 = 55; one error of 1e-3: Σ(a−b)² ≈ 1e-6.
        let b = t(&[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]);
        let a = t(&[[0.0, 1.0, 2.0], [3.0, 4.001, 5.0]]);
        let m = compare(&b, &a, Tolerance::default());
        let diff = (4.001f32 as f64 - 4.0).powi(2);
        let snr = m.snr_db.unwrap();
        assert!((snr - 10.0 * (55.0 / diff).log10()).abs() < 1e-9, "{snr}");
        assert!((snr - 77.4).abs() < 0.1, "{snr}");
        assert_eq!(
            compare(&b, &b, Tolerance::default()).snr_db,
            None,
            "identical: infinite"
        );
    }

    #[test]
    fn zero_reference_gives_finite_relative_error() {
        let b = t(&[[0.0, 0.0, 0.0]]);
        let a = t(&[[1e-6, 0.0, 0.0]]);
        let m = compare(&b, &a, Tolerance::default());
        assert!(m.max_rel.is_finite());
        assert!((m.max_rel - 0.1).abs() < 1e-6, "1e-6 in units of atol 1e-5");
    }

    #[test]
    fn nan_matches_only_nan_and_inf_only_the_same_inf() {
        let b = t(&[[f32::NAN, f32::INFINITY, 1.0]]);
        let same = compare(&b, &b.clone(), Tolerance::default());
        assert!(same.passed);
        let a = t(&[[1.0, f32::NEG_INFINITY, 1.0]]);
        let m = compare(&b, &a, Tolerance::default());
        assert_eq!((m.nan_mismatch, m.inf_mismatch, m.mismatches), (1, 1, 2));
        assert_eq!(m.min_atol_to_pass, None);
        assert_eq!(m.worst_index, vec![0, 0]);
    }

    #[test]
    fn chunks_accumulate_to_the_whole() {
        let b = Tensor::from_shape_fn(IxDyn(&[10, 3]), |i| (i[0] * 3 + i[1]) as f32);
        let a = b.mapv(|v| v + if v == 17.0 { 0.5 } else { 0.0 });
        let whole = compare(&b, &a, Tolerance::default());
        let mut acc = Accumulator::new(Tolerance::default(), true);
        for start in (0..10).step_by(4) {
            let end = (start + 4).min(10);
            let s = ndarray::s![start..end, ..];
            acc.add(
                &b.slice(s).to_owned().into_dyn(),
                &a.slice(s).to_owned().into_dyn(),
                start,
            );
        }
        let parts = acc.finish();
        assert_eq!(parts.worst_index, whole.worst_index);
        assert_eq!(parts.worst_index, vec![5, 2]);
        assert_eq!(
            (parts.max_abs, parts.mismatches),
            (whole.max_abs, whole.mismatches)
        );
        assert!((parts.mean_abs - whole.mean_abs).abs() < 1e-12);
        assert_eq!(parts.histogram, whole.histogram);
    }

    #[test]
    fn histogram_bins_are_fixed_decades_with_zero_and_nonfinite_bins() {
        assert_eq!(Histogram::bin_of(0.0), 0);
        assert_eq!(Histogram::bin_of(1e-12), 1);
        assert_eq!(
            Histogram::bin_of(1e-10),
            2,
            "a lower edge belongs to its bin"
        );
        assert_eq!(Histogram::bin_of(5e-6), 6);
        assert_eq!(Histogram::bin_of(1e-5), 7);
        assert_eq!(Histogram::bin_of(99.0), 13);
        assert_eq!(Histogram::bin_of(1e2), 14);
        assert_eq!(Histogram::bin_of(1e30), 14);
        assert_eq!(Histogram::range(7), Some((1e-5, 1e-4)));
        assert_eq!(Histogram::label(7), "1e-5");
        assert_eq!(Histogram::range(Histogram::NONFINITE), None);

        let b = t(&[[f32::NAN, f32::INFINITY, 1.0], [2.0, 3.0, 4.0]]);
        let a = t(&[[f32::NAN, 1.0, 1.0], [2.5, 3.000_005, 4.0]]);
        let m = compare(&b, &a, Tolerance::default());
        let h = &m.histogram;
        assert_eq!(h.total(), m.count, "every element is counted once");
        assert_eq!(h.counts[0], 3, "NaN vs NaN and two exact matches");
        assert_eq!(h.counts[Histogram::NONFINITE], 1);
        assert_eq!(h.counts[Histogram::bin_of(0.5)], 1);
        assert_eq!(h.counts[Histogram::bin_of(5e-6)], 1);
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["histogram"].as_array().unwrap().len(), HISTOGRAM_BINS);
    }
}
