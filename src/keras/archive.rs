//! The `.keras` archive: a zip with `config.json`, `metadata.json` and `model.weights.h5`.
//!
//! Keras stores every member uncompressed. The weights member is copied to a temporary file,
//! since the HDF5 library reads files, not memory.

use std::io::Write;
use std::path::Path;

use super::config::parse_json;
use super::{weights, Format, KerasModel};
use crate::error::{Error, Result};
use crate::npy::read_member;

type Archive = zip::ZipArchive<std::fs::File>;

pub fn read(path: &Path) -> Result<KerasModel> {
    let (mut zip, file_len) = open(path)?;
    let config_text = member_text(&mut zip, "config.json", file_len, path)?.ok_or_else(|| {
        if zip.file_names().any(|n| n.is_ok_and(|n| n.ends_with(".npy"))) {
            return Error::format(
                path,
                "this is a NumPy .npz file, not a Keras model: pass it as inputs with --inputs, and the model as a .keras or .h5 file",
            );
        }
        Error::format(
            path,
            ".keras archive has no config.json; it is incomplete: re-save the model with model.save('x.keras')",
        )
    })?;
    let raw_config = parse_json(&config_text, path, "config.json")?;
    let metadata = match member_text(&mut zip, "metadata.json", file_len, path)? {
        Some(text) => Some(parse_json(&text, path, "metadata.json")?),
        None => None,
    };
    let keras_version = metadata
        .as_ref()
        .and_then(|m| m.get("keras_version"))
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let mut model = KerasModel::from_config(path, Format::Keras, keras_version, None, raw_config)?;
    super::assets::read_vocabularies(&mut model.model, "assets/layers/", &mut |name| {
        member_text(&mut zip, name, file_len, path).ok().flatten()
    });
    let tmp = weights_member(&mut zip, file_len, path)?;
    let shown = path.join("model.weights.h5");
    weights::read_v3_weights(&mut model, tmp.path(), &shown)?;
    Ok(model)
}

/// Loads the weights of another `.keras` archive (`--weights other.keras`) onto `model`.
pub fn read_weights_into(model: &mut KerasModel, path: &Path) -> Result<()> {
    let (mut zip, file_len) = open(path)?;
    let tmp = weights_member(&mut zip, file_len, path)?;
    let shown = path.join("model.weights.h5");
    weights::load_weights_file_as(model, tmp.path(), &shown)
}

fn open(path: &Path) -> Result<(Archive, u64)> {
    let file = std::fs::File::open(path).map_err(|e| super::read_error(path, e))?;
    let file_len = file
        .metadata()
        .map_err(|e| super::read_error(path, e))?
        .len();
    let zip = zip::ZipArchive::new(file).map_err(|e| {
        Error::format(
            path,
            format!("not a valid .keras archive ({e}); the zip is truncated or corrupt: copy it again or re-save the model"),
        )
    })?;
    check_member_names(&zip, path)?;
    Ok((zip, file_len))
}

/// Copies `model.weights.h5` to a temporary file for the HDF5 library.
fn weights_member(
    zip: &mut Archive,
    file_len: u64,
    path: &Path,
) -> Result<tempfile::NamedTempFile> {
    let bytes = member_bytes(zip, "model.weights.h5", file_len, path)?.ok_or_else(|| {
        Error::format(
            path,
            ".keras archive has no model.weights.h5; it is incomplete: re-save the model with model.save('x.keras')",
        )
    })?;
    let mut tmp = tempfile::NamedTempFile::new()
        .map_err(|e| Error::io(path, format!("cannot create a temporary file: {e}")))?;
    tmp.write_all(&bytes)
        .and_then(|()| tmp.flush())
        .map_err(|e| Error::io(path, format!("cannot write a temporary file: {e}")))?;
    Ok(tmp)
}

/// Refuses archives with names that would escape a folder if extracted, or are not UTF-8.
fn check_member_names(zip: &Archive, path: &Path) -> Result<()> {
    for name in zip.file_names() {
        let name = name.map_err(|e| {
            Error::format(
                path,
                format!("archive member with an unreadable name ({e}); the archive is corrupt: re-save the model"),
            )
        })?;
        if name.starts_with('/')
            || name.starts_with('\\')
            || name.contains('\0')
            || name.split(['/', '\\']).any(|part| part == "..")
            || name
                .split(['/', '\\'])
                .next()
                .is_some_and(|p| p.ends_with(':'))
        {
            return Err(Error::format(
                path,
                format!(
                    "archive member {name:?} has an unsafe path (it would escape the archive's folder); refusing the archive: re-save the model with Keras"
                ),
            ));
        }
    }
    Ok(())
}

fn member_bytes(
    zip: &mut Archive,
    name: &str,
    file_len: u64,
    path: &Path,
) -> Result<Option<Vec<u8>>> {
    let mut member = match zip.by_name(name) {
        Ok(m) => m,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => {
            return Err(Error::format(
                path,
                format!(
                    "cannot read member {name} ({e}); the archive is corrupt: re-save the model"
                ),
            ))
        }
    };
    if member.compression() != zip::CompressionMethod::Stored {
        return Err(Error::format(
            path,
            format!(
                "member {name} is compressed ({}); Keras writes .keras members uncompressed: re-save the model with Keras or re-zip with `zip -0`",
                member.compression()
            ),
        ));
    }
    // Stored members hold their bytes as they are: none can be larger than the archive.
    let size = member.size();
    if size > file_len || member.compressed_size() > file_len {
        return Err(Error::format(
            path,
            format!(
                "member {name} declares {size} bytes in a {file_len}-byte archive; refusing it (a corrupt archive or a zip bomb): re-save the model"
            ),
        ));
    }
    read_member(&mut member, file_len, &format!("member {name}"))
        .map(Some)
        .map_err(|e| {
            Error::format(
                path,
                format!("{e}; the archive is corrupt: re-save the model"),
            )
        })
}

fn member_text(
    zip: &mut Archive,
    name: &str,
    file_len: u64,
    path: &Path,
) -> Result<Option<String>> {
    match member_bytes(zip, name, file_len, path)? {
        None => Ok(None),
        Some(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| {
            Error::format(
                path,
                format!("{name} is not UTF-8 text; the archive is corrupt: re-save the model"),
            )
        }),
    }
}
