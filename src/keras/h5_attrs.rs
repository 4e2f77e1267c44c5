//! Reading the string attributes Keras writes into HDF5 files, in every form they take.

use std::path::Path;

use hdf5::types::{FixedAscii, TypeDescriptor, VarLenAscii, VarLenUnicode};
use hdf5::Location;

use super::h5_open::first_line;
use crate::error::{Error, Result};

pub(super) fn has_any_attr(loc: &Location, name: &str) -> bool {
    let names = loc.attr_names().unwrap_or_default();
    names
        .iter()
        .any(|n| n == name || n.strip_prefix(name).is_some_and(|rest| rest == "0"))
}

/// A scalar string attribute (variable-length ASCII or UTF-8, or fixed-length).
pub(super) fn read_string(loc: &Location, name: &str, path: &Path) -> Result<Option<String>> {
    let Ok(attr) = loc.attr(name) else {
        return Ok(None);
    };
    let list = string_values(&attr).map_err(|e| {
        Error::format(
            path,
            format!(
                "attribute '{name}' of '{}': {e}; the file is corrupt: re-save the model",
                loc.name()
            ),
        )
    })?;
    Ok(list.into_iter().next())
}

/// A list-of-strings attribute, joining Keras's split `name0, name1, …` form; an empty float
/// array (Keras's empty list) reads as no strings.
pub(super) fn read_string_list(loc: &Location, name: &str, path: &Path) -> Result<Vec<String>> {
    let bad = |e: String| {
        Error::format(
            path,
            format!(
                "attribute '{name}' of '{}': {e}; the file is corrupt: re-save the model",
                loc.name()
            ),
        )
    };
    if let Ok(attr) = loc.attr(name) {
        return string_values(&attr).map_err(bad);
    }
    let mut all = Vec::new();
    for chunk in 0.. {
        let Ok(attr) = loc.attr(&format!("{name}{chunk}")) else {
            break;
        };
        all.extend(string_values(&attr).map_err(bad)?);
    }
    if all.is_empty() && !has_any_attr(loc, name) {
        return Err(Error::format(
            path,
            format!(
                "'{}' has no '{name}' attribute; the file is incomplete: re-save the model",
                loc.name()
            ),
        ));
    }
    Ok(all)
}

/// Longest fixed-length string read (longer ones are refused, not truncated).
const MAX_FIXED_STRING: usize = 4096;

fn string_values(attr: &hdf5::Attribute) -> std::result::Result<Vec<String>, String> {
    let dtype = attr
        .dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(|e| first_line(&e.to_string()).to_string())?;
    let err = |e: hdf5::Error| first_line(&e.to_string()).to_string();
    // The bindings' `as_str` trusts the bytes to be UTF-8; a corrupt file need not be.
    let text = |bytes: &[u8]| {
        String::from_utf8(bytes.to_vec()).map_err(|_| "holds a string that is not text".to_string())
    };
    match dtype {
        TypeDescriptor::VarLenAscii => attr
            .read_raw::<VarLenAscii>()
            .map_err(err)?
            .iter()
            .map(|s| text(s.as_bytes()))
            .collect(),
        TypeDescriptor::VarLenUnicode => attr
            .read_raw::<VarLenUnicode>()
            .map_err(err)?
            .iter()
            .map(|s| text(s.as_bytes()))
            .collect(),
        TypeDescriptor::FixedAscii(n) | TypeDescriptor::FixedUnicode(n)
            if n <= MAX_FIXED_STRING =>
        {
            attr.read_raw::<FixedAscii<MAX_FIXED_STRING>>()
                .map_err(err)?
                .iter()
                .map(|s| text(s.as_bytes()))
                .collect()
        }
        TypeDescriptor::Float(_) if attr.size() == 0 => Ok(Vec::new()),
        other => Err(format!("expected strings, found {other}")),
    }
}
