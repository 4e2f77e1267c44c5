//! The `.keras` archive's weights are read in place: the mapped member gives the same weights,
//! bit for bit, as the member extracted to a file and read from there, and an archive whose
//! members another zip tool compressed loads too (decompressed in memory).

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use common::files::{member, write_zip, zip_members};
use common::{fixture, keqv};
use keqv::keras::{KerasModel, ModelConfig};

/// Every `.keras` fixture of both writers.
fn keras_fixtures() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = ["k3", "tfk"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(fixture(dir)).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "keras"))
        .collect();
    paths.sort();
    paths
}

/// `(layer path, weight name, shape, bits)` of every weight, nested models included.
fn weights(
    model: &ModelConfig,
    prefix: &str,
    out: &mut Vec<(String, String, Vec<usize>, Vec<u32>)>,
) {
    for layer in &model.layers {
        let path = format!("{prefix}{}", layer.name);
        for w in &layer.weights {
            let bits = w.value.iter().map(|v| v.to_bits()).collect();
            out.push((path.clone(), w.name.clone(), w.value.shape().to_vec(), bits));
        }
        if let Some(nested) = &layer.nested {
            weights(nested, &format!("{path}/"), out);
        }
    }
}

fn all_weights(model: &KerasModel) -> Vec<(String, String, Vec<usize>, Vec<u32>)> {
    let mut out = Vec::new();
    weights(&model.model, "", &mut out);
    out
}

/// The archive's `model.weights.h5`, extracted to `dir`.
fn extract_weights(archive: &Path, dir: &Path) -> PathBuf {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(archive).unwrap()).unwrap();
    let mut bytes = Vec::new();
    zip.by_name("model.weights.h5")
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    let to = dir.join("extracted.weights.h5");
    std::fs::File::create(&to)
        .and_then(|mut f| f.write_all(&bytes))
        .unwrap();
    to
}

#[test]
fn in_place_weights_match_the_extracted_member() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = keras_fixtures();
    assert!(fixtures.len() > 20, "{} .keras fixtures", fixtures.len());
    let mut compared = 0;
    for archive in &fixtures {
        let in_place = KerasModel::load(archive, None);
        let extracted = extract_weights(archive, dir.path());
        let from_file = KerasModel::load(archive, Some(&extracted));
        match (in_place, from_file) {
            (Ok(a), Ok(b)) => {
                let (a, b) = (all_weights(&a), all_weights(&b));
                assert!(
                    a == b,
                    "{}: weights differ from the extracted member's",
                    archive.display()
                );
                compared += a.len();
            }
            (Err(a), Err(_)) => println!("{}: not loaded either way ({a})", archive.display()),
            (a, b) => panic!(
                "{}: in place {:?}, extracted {:?}",
                archive.display(),
                a.err().map(|e| e.to_string()),
                b.err().map(|e| e.to_string())
            ),
        }
    }
    assert!(compared > 100, "only {compared} weights compared");
}

/// A copy of `rel` with every member deflated, as zip tools other than Keras's may write it.
fn deflated(rel: &str, dir: &Path) -> PathBuf {
    let to = dir.join(Path::new(rel).file_name().unwrap());
    write_zip(
        &to,
        &zip_members(&fixture(rel)),
        zip::CompressionMethod::Deflated,
    );
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&to).unwrap()).unwrap();
    let member = zip.by_name("model.weights.h5").unwrap();
    assert_eq!(member.compression(), zip::CompressionMethod::Deflated);
    to
}

#[test]
fn deflated_archive_loads_the_same_weights() {
    let dir = tempfile::tempdir().unwrap();
    for rel in ["k3/c_func_skip.keras", "tfk/c_func_skip.keras"] {
        let path = deflated(rel, dir.path());
        let stored = KerasModel::load(&fixture(rel), None).unwrap();
        let deflated = KerasModel::load(&path, None).unwrap();
        assert!(all_weights(&stored) == all_weights(&deflated), "{rel}");
        let as_weights = KerasModel::load(&fixture(rel), Some(&path)).unwrap();
        assert!(
            all_weights(&stored) == all_weights(&as_weights),
            "{rel} --weights"
        );
    }
}

#[test]
fn deflated_archive_verifies_against_the_stored_one() {
    let dir = tempfile::tempdir().unwrap();
    let rel = "k3/c_func_skip.keras";
    let path = deflated(rel, dir.path());
    let out = keqv()
        .args(["verify", "--device", "cpu"])
        .arg(fixture(rel))
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("EQUIVALENT"), "{stdout}");
}

/// A weight whose data address lies near the end of the weights member, so that its bytes run
/// past it into the archive's central directory: the HDF5 library reads the member's bytes and
/// zeros after them, never the archive around the member.
#[test]
fn reads_stay_within_the_member() {
    let dir = tempfile::tempdir().unwrap();
    let mut members = zip_members(&fixture("k3/a_seq_mlp.keras"));
    let weights = member(&mut members, "model.weights.h5");
    let copy = dir.path().join("w.h5");
    std::fs::write(&copy, &weights).unwrap();
    let address = hdf5::File::open(&copy)
        .and_then(|f| f.dataset("layers/dense/vars/0"))
        .unwrap()
        .offset()
        .unwrap();
    let at: Vec<usize> = weights
        .windows(8)
        .enumerate()
        .filter(|(_, w)| *w == address.to_le_bytes())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(at.len(), 1, "the layout message holds the address once");
    let tail = 1000;
    let near_end = weights.len() - tail;
    weights[at[0]..at[0] + 8].copy_from_slice(&(near_end as u64).to_le_bytes());
    let expected_head = weights[near_end..].to_vec();
    let path = dir.path().join("outside.keras");
    write_zip(&path, &members, zip::CompressionMethod::Stored);

    let model = KerasModel::load(&path, None).unwrap();
    let dense = model
        .model
        .layers
        .iter()
        .find(|l| l.name == "dense")
        .unwrap();
    let kernel = &dense.weights[0].value;
    assert!(
        kernel.len() * 4 > tail * 10,
        "the kernel runs well past the member"
    );
    let bytes: Vec<u8> = kernel.iter().flat_map(|v| v.to_le_bytes()).collect();
    assert_eq!(&bytes[..tail], expected_head.as_slice());
    assert!(
        bytes[tail..].iter().all(|&b| b == 0),
        "bytes from outside the member"
    );
}
