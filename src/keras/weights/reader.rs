//! Reading one weight dataset with checks, and the warnings about what was read.

use std::path::Path;

use hdf5::types::TypeDescriptor;
use hdf5::Group;

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
        guard::progress(bytes.unwrap_or(0) as u64);
        let value = ds.read_dyn::<f32>().map_err(|e| {
            Error::format(
                self.path,
                format!(
                    "layer '{layer}': cannot read weight '{name}' ({}); the file is corrupt: re-save the model",
                    first_line(&e.to_string())
                ),
            )
        })?;
        self.file.release_pages();
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
