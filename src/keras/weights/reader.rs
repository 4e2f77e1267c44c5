//! Reading one weight dataset with checks, and the warnings about what was read.

use std::path::Path;

use hdf5::types::TypeDescriptor;
use hdf5::{Dataset, Dataspace, Datatype, Group, Hyperslab, SliceOrIndex};
use hdf5_sys::h5d::H5Dread;
use hdf5_sys::h5p::H5P_DEFAULT;
use ndarray::IxDyn;

use crate::error::{Error, Result};
use crate::keras::guard;
use crate::keras::h5_open::{first_line, H5File};
use crate::tensor::{checked_len, Tensor};

/// Reads datasets with checks, collecting warnings about conversions.
pub(super) struct Reader<'a> {
    pub(super) path: &'a Path,
    file: &'a H5File,
    /// (bits, "layer 'x' weight 'y'") of weights converted to float32.
    pub(super) converted: Vec<(usize, String)>,
    /// Weights holding NaN or infinite values.
    pub(super) non_finite: Vec<String>,
}

impl<'a> Reader<'a> {
    /// `path` names `file` in messages.
    pub(super) fn new(path: &'a Path, file: &'a H5File) -> Self {
        Reader {
            path,
            file,
            converted: Vec::new(),
            non_finite: Vec::new(),
        }
    }

    /// One weight as f32: float16/float64 converted (with a warning), integer arrays refused
    /// (an integer scalar, Normalization's sample count, is read as a float), and the size
    /// checked against the file before reading.
    pub(super) fn dataset(&mut self, group: &Group, name: &str, layer: &str) -> Result<Tensor> {
        let ds = group.dataset(name).map_err(|_| {
            Error::format(
                self.path,
                format!(
                    "layer '{layer}': weight dataset '{}/{name}' is missing; the file is incomplete: re-save the model",
                    group.name().trim_start_matches('/')
                ),
            )
        })?;
        let dtype = ds.dtype().map_err(|e| {
            Error::format(
                self.path,
                format!(
                    "layer '{layer}': weight '{name}': cannot read its type ({}); the file is corrupt: re-save the model",
                    first_line(&e.to_string())
                ),
            )
        })?;
        // float16 has no type descriptor in this build of the HDF5 bindings; HDF5 converts it.
        let size = match dtype.to_descriptor() {
            Ok(TypeDescriptor::Float(size)) => size as usize,
            Ok(TypeDescriptor::Integer(size) | TypeDescriptor::Unsigned(size))
                if ds.shape().is_empty() =>
            {
                size as usize
            }
            Err(_) if dtype.size() == 2 && dtype.conv_to::<f32>().is_some() && !dtype.is::<u16>() && !dtype.is::<i16>() => 2,
            Ok(other) => {
                return Err(Error::format(
                    self.path,
                    format!("layer '{layer}': weight '{name}' has type {other}; only float weights (float16, float32, float64) can be used: convert the weights to float32 and re-save"),
                ))
            }
            Err(e) => {
                return Err(Error::format(
                    self.path,
                    format!("layer '{layer}': weight '{name}' has an unsupported type ({}); only float16, float32 and float64 weights can be used", first_line(&e.to_string())),
                ))
            }
        };
        let shape = ds.shape();
        let bytes = checked_len(&shape).and_then(|n| n.checked_mul(size));
        if bytes.is_none_or(|b| b as u64 > self.file.len()) {
            return Err(Error::format(
                self.path,
                format!("layer '{layer}': weight '{name}' claims shape {shape:?}, larger than the file itself; the file is corrupt: re-save the model"),
            ));
        }
        let value = read_f32(&ds, &shape, self.file).map_err(|e| {
            Error::format(
                self.path,
                format!(
                    "layer '{layer}': cannot read weight '{name}' ({}); the file is corrupt: re-save the model",
                    first_line(&e.to_string())
                ),
            )
        })?;
        let what = format!("layer '{layer}' weight '{name}'");
        let float = matches!(dtype.to_descriptor(), Ok(TypeDescriptor::Float(_)) | Err(_));
        if size != 4 && float {
            self.converted.push((size * 8, what.clone()));
        }
        // One pass over the values, a second only for a weight that holds any non-finite one.
        let non_finite = value.iter().filter(|v| !v.is_finite()).count();
        if non_finite > 0 {
            let nan = value.iter().filter(|v| v.is_nan()).count();
            let inf = non_finite - nan;
            self.non_finite
                .push(format!("{what} ({nan} NaN, {inf} infinite)"));
        }
        Ok(value)
    }

    /// What the user should know about the weights read: conversions and non-finite values.
    pub(super) fn into_warnings(self) -> Vec<String> {
        let mut warnings = Vec::new();
        let list = |items: &[&String]| {
            let shown: Vec<&str> = items.iter().take(3).map(|s| s.as_str()).collect();
            let more = items.len().saturating_sub(shown.len());
            if more > 0 {
                format!("{} and {more} more", shown.join(", "))
            } else {
                shown.join(", ")
            }
        };
        for bits in [16, 64] {
            let items: Vec<&String> = self
                .converted
                .iter()
                .filter(|(b, _)| *b == bits)
                .map(|(_, w)| w)
                .collect();
            if !items.is_empty() {
                warnings.push(format!(
                    "{} weight(s) are stored as float{bits} and were converted to float32: {}",
                    items.len(),
                    list(&items)
                ));
            }
        }
        if !self.non_finite.is_empty() {
            let items: Vec<&String> = self.non_finite.iter().collect();
            warnings.push(format!(
                "{} weight(s) hold NaN or infinite values, so outputs will likely be NaN: {}",
                items.len(),
                list(&items)
            ));
        }
        warnings
    }
}

/// Largest read at once. A file image's pages are released after each read, so reading a
/// weight holds no more than this much of the file in memory beside the weights.
const BLOCK_BYTES: usize = 4 << 20;

/// The dataset as f32, read straight into the tensor's buffer (HDF5 converts float16 and
/// float64 on the way), in blocks of whole rows along the first axis.
fn read_f32(ds: &Dataset, shape: &[usize], file: &H5File) -> hdf5::Result<Tensor> {
    read_in_blocks(ds, shape, file, BLOCK_BYTES)
}

fn read_in_blocks(
    ds: &Dataset,
    shape: &[usize],
    file: &H5File,
    block_bytes: usize,
) -> hdf5::Result<Tensor> {
    let n = checked_len(shape).ok_or("the shape overflows")?;
    let row: usize = shape.iter().skip(1).product();
    if shape.is_empty() || row == 0 || n.saturating_mul(4) <= block_bytes {
        guard::progress(n as u64 * 4);
        let value = ds.read_dyn::<f32>()?;
        file.release_pages();
        return Ok(value);
    }
    let rows_per_block = (block_bytes / 4 / row).max(1);
    let mem_type = Datatype::from_type::<f32>()?;
    let file_space = ds.space()?;
    let mut values = Vec::<f32>::with_capacity(n);
    for first in (0..shape[0]).step_by(rows_per_block) {
        let rows = rows_per_block.min(shape[0] - first);
        let mut slab = vec![SliceOrIndex::from(first..first + rows)];
        slab.resize(shape.len(), SliceOrIndex::from(..));
        let file_block = file_space.select(Hyperslab::from(slab))?;
        let mem_block = Dataspace::try_new(rows * row)?;
        let at = values.spare_capacity_mut()[first * row..].as_mut_ptr();
        guard::progress((rows * row * 4) as u64);
        hdf5::sync::sync(|| {
            // SAFETY: writes the block's rows·row values at its place in the vector's
            // capacity of n = shape[0]·row values, which it does not pass.
            let status = unsafe {
                H5Dread(
                    ds.id(),
                    mem_type.id(),
                    mem_block.id(),
                    file_block.id(),
                    H5P_DEFAULT,
                    at.cast(),
                )
            };
            hdf5::h5check(status)
        })?;
        file.release_pages();
    }
    // SAFETY: the blocks cover all n values, each read in full (or the function returned).
    unsafe { values.set_len(n) };
    Ok(Tensor::from_shape_vec(IxDyn(shape), values).map_err(|e| e.to_string())?)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::keras::h5_image::ImageBytes;
    use crate::keras::h5_open::{open, open_image};

    fn fixture(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models")
            .join(rel)
    }

    /// Every dataset under `group`.
    fn datasets(group: &Group, out: &mut Vec<Dataset>) {
        for name in group.member_names().unwrap() {
            match group.dataset(&name) {
                Ok(ds) => out.push(ds),
                Err(_) => datasets(&group.group(&name).unwrap(), out),
            }
        }
    }

    /// Reading in blocks of a few rows gives what one read gives, bit for bit.
    fn check_blocks(file: &H5File) {
        let mut all = Vec::new();
        datasets(file, &mut all);
        let mut several = 0;
        for ds in all.iter().filter(|ds| ds.dtype().unwrap().is::<f32>()) {
            let shape = ds.shape();
            let whole = ds.read_dyn::<f32>().unwrap();
            for block in [4, 24, 1000] {
                let blocks = read_in_blocks(ds, &shape, file, block).unwrap();
                assert_eq!(blocks.shape(), whole.shape());
                let bits = |t: &Tensor| t.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&blocks),
                    bits(&whole),
                    "{} in blocks of {block} bytes",
                    ds.name()
                );
                several += usize::from(whole.len() * 4 > block);
            }
        }
        assert!(several > 3, "only {several} reads took several blocks");
    }

    #[test]
    fn blocks_from_a_file() {
        check_blocks(&open(&fixture("k3/l_conv.h5")).unwrap());
    }

    #[test]
    fn blocks_from_an_image() {
        let archive = std::fs::File::open(fixture("k3/l_conv.keras")).unwrap();
        let mut zip = zip::ZipArchive::new(archive).unwrap();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut zip.by_name("model.weights.h5").unwrap(), &mut bytes)
            .unwrap();
        let shown = Path::new("l_conv.keras/model.weights.h5");
        check_blocks(&open_image(ImageBytes::Owned(bytes), shown).unwrap());
    }

    #[test]
    fn blocks_convert_float64() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f64.h5");
        let values = ndarray::Array::from_shape_fn((7, 3, 2), |(i, j, k)| {
            (i * 100 + j * 10 + k) as f64 / 3.0
        });
        let writer = hdf5::File::create(&path).unwrap();
        writer
            .new_dataset_builder()
            .with_data(&values)
            .create("w")
            .unwrap();
        writer.close().unwrap();
        let file = open(&path).unwrap();
        let ds = file.dataset("w").unwrap();
        let blocks = read_in_blocks(&ds, &ds.shape(), &file, 24).unwrap();
        assert_eq!(blocks, values.mapv(|v| v as f32).into_dyn());
    }
}
