//! The `.keras` archive: a zip with `config.json`, `metadata.json` and `model.weights.h5`.
//!
//! Keras stores every member uncompressed. The weights member is copied to a temporary file,
//! since the HDF5 library reads files, not memory.

use std::io::Write;
use std::path::Path;

use super::config::{parse_json, parse_model, sniff_dialect};
use super::{dialect_of_version, weights, Format, KerasModel};
use crate::error::{Error, Result};
use crate::npy::read_member;

pub fn read(path: &Path) -> Result<KerasModel> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| Error::format(path, format!("not a valid .keras archive (zip): {e}")))?;
    check_member_names(&zip, path)?;

    let config_text = member_text(&mut zip, "config.json", file_len, path)?
        .ok_or_else(|| Error::format(path, ".keras archive has no config.json"))?;
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
    let dialect = keras_version
        .as_deref()
        .and_then(dialect_of_version)
        .unwrap_or_else(|| sniff_dialect(&raw_config));
    let mut model = KerasModel {
        path: path.to_path_buf(),
        format: Format::Keras,
        dialect,
        keras_version,
        backend: None,
        model: parse_model(&raw_config, dialect, path)?,
        raw_config,
        warnings: Vec::new(),
    };

    let weights_bytes = member_bytes(&mut zip, "model.weights.h5", file_len, path)?
        .ok_or_else(|| Error::format(path, ".keras archive has no model.weights.h5"))?;
    let mut tmp = tempfile::NamedTempFile::new()
        .map_err(|e| Error::io(path, format!("cannot create a temporary file: {e}")))?;
    tmp.write_all(&weights_bytes)
        .map_err(|e| Error::io(path, format!("cannot write a temporary file: {e}")))?;
    let shown = path.join("model.weights.h5");
    weights::read_v3_weights(&mut model, tmp.path(), &shown)?;
    Ok(model)
}

/// Refuses archives with names that would escape a folder if extracted, or are not UTF-8.
fn check_member_names<R: std::io::Read + std::io::Seek>(
    zip: &zip::ZipArchive<R>,
    path: &Path,
) -> Result<()> {
    for name in zip.file_names() {
        let name = name.map_err(|e| {
            Error::format(path, format!("archive member with an unreadable name: {e}"))
        })?;
        if name.starts_with('/') || name.split(['/', '\\']).any(|part| part == "..") {
            return Err(Error::format(
                path,
                format!("archive member '{name}' has an unsafe path; refusing the archive"),
            ));
        }
    }
    Ok(())
}

fn member_bytes<R: std::io::Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
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
                format!("cannot read member {name}: {e}"),
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
    let what = format!("{}:{name}", path.display());
    read_member(&mut member, file_len, &what)
        .map(Some)
        .map_err(|e| Error::format(path, e))
}

fn member_text<R: std::io::Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    name: &str,
    file_len: u64,
    path: &Path,
) -> Result<Option<String>> {
    match member_bytes(zip, name, file_len, path)? {
        None => Ok(None),
        Some(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| Error::format(path, format!("{name} is not UTF-8 text"))),
    }
}
