//! Edited copies of fixture files: `.keras` archives rebuilt member by member, `.npy` read back.

use std::io::{Read, Write};
use std::path::Path;

use ndarray::ArrayD;
use serde_json::Value;

/// The members of a zip archive, in order: (name, bytes).
pub type Members = Vec<(String, Vec<u8>)>;

pub fn zip_members(path: &Path) -> Members {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut member = zip.by_index(i).unwrap();
            let mut bytes = Vec::new();
            member.read_to_end(&mut bytes).unwrap();
            (member.name().unwrap().to_string(), bytes)
        })
        .collect()
}

pub fn write_zip(path: &Path, members: &Members, method: zip::CompressionMethod) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, bytes) in members {
        zip.start_file(name.as_str(), options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

/// The bytes of member `name`.
pub fn member<'m>(members: &'m mut Members, name: &str) -> &'m mut Vec<u8> {
    &mut members.iter_mut().find(|(n, _)| n == name).unwrap().1
}

/// A copy of the `.keras` archive `source` at `dest`, rebuilt (stored, as Keras writes it) after
/// `edit` changed its members.
pub fn keras_with_members(source: &Path, dest: &Path, edit: impl FnOnce(&mut Members)) {
    let mut members = zip_members(source);
    edit(&mut members);
    write_zip(dest, &members, zip::CompressionMethod::Stored);
}

/// A copy of the `.keras` archive `source` at `dest`, its config.json changed by `edit`.
pub fn keras_with_config(source: &Path, dest: &Path, edit: impl FnOnce(&mut Value)) {
    keras_with_members(source, dest, |members| {
        let bytes = member(members, "config.json");
        let mut config: Value = serde_json::from_slice(bytes).unwrap();
        edit(&mut config);
        *bytes = config.to_string().into_bytes();
    })
}

pub fn read_npy(path: &Path) -> ArrayD<f32> {
    keqv::npy::read_npy(path).unwrap()
}
