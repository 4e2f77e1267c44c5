//! The `.keras` archive: a zip with `config.json`, `metadata.json` and `model.weights.h5`.
//!
//! Keras stores every member uncompressed, so `model.weights.h5` lies whole in the archive: it
//! is mapped and the HDF5 library reads it in place. A member that another zip tool compressed
//! is decompressed into memory instead.

use std::path::Path;

use memmap2::{Mmap, MmapOptions};

use super::config::parse_json;
use super::h5_image::ImageBytes;
use super::{weights, Format, KerasModel};
use crate::error::{Error, Result};
use crate::npy::read_member;

type Archive = zip::ZipArchive<std::fs::File>;
type Member<'a> = zip::read::ZipFile<'a, std::fs::File>;

const WEIGHTS: &str = "model.weights.h5";

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
    let image = weights_image(zip, file_len, path)?;
    weights::read_v3_weights(&mut model, image, &path.join(WEIGHTS))?;
    Ok(model)
}

/// Loads the weights of another `.keras` archive (`--weights other.keras`) onto `model`.
pub fn read_weights_into(model: &mut KerasModel, path: &Path) -> Result<()> {
    let (zip, file_len) = open(path)?;
    let image = weights_image(zip, file_len, path)?;
    weights::load_weights_image(model, image, &path.join(WEIGHTS))
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

/// The bytes of `model.weights.h5`: the archive mapped where the member is stored, or the
/// member decompressed.
fn weights_image(mut zip: Archive, file_len: u64, path: &Path) -> Result<ImageBytes> {
    let stored = {
        let Some(mut member) = find_member(&mut zip, WEIGHTS, path)? else {
            return Err(Error::format(
                path,
                ".keras archive has no model.weights.h5; it is incomplete: re-save the model with model.save('x.keras')",
            ));
        };
        check_member_size(&member, WEIGHTS, file_len, path)?;
        if member.compression() != zip::CompressionMethod::Stored {
            return read_whole(&mut member, WEIGHTS, file_len, path).map(ImageBytes::Owned);
        }
        StoredMember::of(&member, file_len, path)?
    };
    if stored.size == 0 {
        return Ok(ImageBytes::Owned(Vec::new()));
    }
    let map = stored.map(&zip.into_inner(), path)?;
    let crc = crc32fast::hash(&map);
    let image = ImageBytes::Mapped(map);
    image.release_pages();
    if crc != stored.crc {
        return Err(corrupt(
            path,
            format!("member {WEIGHTS} fails its CRC-32 check: its bytes were damaged after it was written"),
        ));
    }
    Ok(image)
}

/// Where a stored member's bytes lie in the archive, checked against its length.
struct StoredMember {
    start: u64,
    size: u64,
    crc: u32,
}

impl StoredMember {
    fn of(member: &Member, file_len: u64, path: &Path) -> Result<StoredMember> {
        let size = member.size();
        if member.compressed_size() != size {
            return Err(corrupt(
                path,
                format!(
                    "member {WEIGHTS} is stored uncompressed, yet declares {size} bytes and {} stored",
                    member.compressed_size()
                ),
            ));
        }
        let start = member.data_start().ok_or_else(|| {
            corrupt(
                path,
                format!("member {WEIGHTS} has no readable local header"),
            )
        })?;
        let present = file_len.saturating_sub(start);
        if present < size {
            return Err(corrupt(
                path,
                format!("member {WEIGHTS} is truncated: {present} of its {size} bytes are present"),
            ));
        }
        Ok(StoredMember {
            start,
            size,
            crc: member.crc32(),
        })
    }

    fn map(&self, file: &std::fs::File, path: &Path) -> Result<Mmap> {
        let len = usize::try_from(self.size)
            .map_err(|_| corrupt(path, format!("member {WEIGHTS} is too large to map")))?;
        // SAFETY: a read-only mapping of bytes checked to lie within the file, read only through
        // `&[u8]`. Were the archive truncated by another process while keqv reads it, a read
        // past the new end would raise SIGBUS: the crash guard around the HDF5 reads reports it
        // as a damaged file; during the CRC-32 pass it ends the process as any such fault does.
        unsafe { MmapOptions::new().offset(self.start).len(len).map(file) }
            .map_err(|e| Error::io(path, format!("cannot map {WEIGHTS} from the archive: {e}")))
    }
}

/// `what`, said to come from a corrupt archive.
fn corrupt(path: &Path, what: String) -> Error {
    Error::format(
        path,
        format!("{what}; the archive is corrupt: re-save the model"),
    )
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
    let Some(mut member) = find_member(zip, name, path)? else {
        return Ok(None);
    };
    check_member_size(&member, name, file_len, path)?;
    read_whole(&mut member, name, file_len, path).map(Some)
}

fn find_member<'a>(zip: &'a mut Archive, name: &str, path: &Path) -> Result<Option<Member<'a>>> {
    match zip.by_name(name) {
        Ok(m) => Ok(Some(m)),
        Err(zip::result::ZipError::FileNotFound) => Ok(None),
        Err(e) => Err(corrupt(path, format!("cannot read member {name} ({e})"))),
    }
}

/// Refuses a member larger than the archive could hold: stored bytes are held as they are,
/// compressed ones are bounded by `read_member`'s ratio.
fn check_member_size(member: &Member, name: &str, file_len: u64, path: &Path) -> Result<()> {
    let size = member.size();
    let stored = member.compression() == zip::CompressionMethod::Stored;
    if member.compressed_size() > file_len || (stored && size > file_len) {
        return Err(Error::format(
            path,
            format!(
                "member {name} declares {size} bytes in a {file_len}-byte archive; refusing it (a corrupt archive or a zip bomb): re-save the model"
            ),
        ));
    }
    Ok(())
}

/// The member's bytes, decompressed if they are compressed.
fn read_whole(member: &mut Member, name: &str, file_len: u64, path: &Path) -> Result<Vec<u8>> {
    read_member(member, file_len, &format!("member {name}")).map_err(|e| corrupt(path, e))
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
