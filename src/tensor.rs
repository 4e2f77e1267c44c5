//! The tensor type shared by every stage: a dynamic-rank, row-major f32 array.

pub use ndarray::ArrayD;

/// A float32 tensor; axis 0 is the batch wherever a tensor flows through a model.
pub type Tensor = ArrayD<f32>;

/// Formats a shape as Keras prints it, with the batch dimension as `None`.
pub fn describe_sample_shape(sample: &[usize]) -> String {
    let dims: Vec<String> = std::iter::once("None".to_string())
        .chain(sample.iter().map(|d| d.to_string()))
        .collect();
    format!("({})", dims.join(", "))
}

/// A per-sample shape as Keras prints it, the batch first: `(None, None, 64)`, `None` where a
/// dimension is left open.
pub fn describe_open_sample_shape(sample: &[Option<usize>]) -> String {
    let dims: Vec<String> = std::iter::once("None".to_string())
        .chain(
            sample
                .iter()
                .map(|d| d.map_or("None".into(), |d| d.to_string())),
        )
        .collect();
    format!("({})", dims.join(", "))
}

/// Number of elements in a shape, or None on overflow.
pub fn checked_len(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// Row-major strides of `shape`, in elements.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut st = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        st[d] = st[d + 1] * shape[d + 1];
    }
    st
}

/// The row-major multi-index of flat position `i` in `shape`, written into `index`.
pub fn unravel(mut i: usize, shape: &[usize], index: &mut [usize]) {
    for a in (0..shape.len()).rev() {
        index[a] = i % shape[a];
        i /= shape[a];
    }
}
