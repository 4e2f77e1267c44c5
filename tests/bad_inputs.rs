//! Every kind of bad input ends with exit code 2 and one line on stderr that says what is wrong,
//! where, and what to do: never a panic, a hang, a huge allocation or a wrong answer.
//!
//! Each broken file is made here, from the real fixtures in models/: truncated copies, HDF5
//! attributes and datasets rewritten with the hdf5 crate, `.keras` archives rebuilt with the zip
//! crate, `.npy` headers rewritten as text.

mod common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use common::files::{self, member, read_npy, write_zip, zip_members, Members};
use common::fixture;
use hdf5::types::{VarLenAscii, VarLenUnicode};
use ndarray::{ArrayD, IxDyn};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Running keqv

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// HDF5 opens files without close-on-exec and locks them: a keqv started while this process
/// has a file open for writing inherits that lock and holds it for its whole life. So no keqv
/// starts while a test edits an HDF5 file.
static HDF5_EDIT: RwLock<()> = RwLock::new(());

fn keqv<S: Into<OsString> + Clone>(args: &[S]) -> Output {
    keqv_env(args, &[])
}

fn keqv_env<S: Into<OsString> + Clone>(args: &[S], env: &[(&str, &str)]) -> Output {
    let args: Vec<OsString> = args.iter().cloned().map(Into::into).collect();
    let _no_edits = HDF5_EDIT.read().unwrap_or_else(|e| e.into_inner());
    let out = common::keqv()
        .envs(env.iter().copied())
        .args(&args)
        .output()
        .unwrap();
    Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs keqv expecting exit code 2 and exactly one `keqv: error: …` line on stderr; returns it.
fn error_line<S: Into<OsString> + Clone + std::fmt::Debug>(args: &[S]) -> String {
    let out = keqv(args);
    assert_eq!(
        out.code,
        Some(2),
        "keqv {args:?}: expected exit code 2\nstdout: {}\nstderr: {}",
        out.stdout,
        out.stderr
    );
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "keqv {args:?}: expected one line on stderr, got:\n{}",
        out.stderr
    );
    let line = lines[0];
    assert!(line.starts_with("keqv: error: "), "{line}");
    for noise in ["HDF5-DIAG", "panicked", "RUST_BACKTRACE", "#000"] {
        assert!(!line.contains(noise), "{line}");
    }
    line.to_string()
}

/// `keqv inspect` and `keqv run --device cpu` both refuse `model` (plus `extra` arguments) with
/// the same line, which names `file`, and says what to do after a `; `. Returns the line.
fn refused_with(model: &Path, extra: &[&str], file: &Path) -> String {
    let mut inspect: Vec<OsString> = vec!["inspect".into(), model.into()];
    inspect.extend(extra.iter().map(OsString::from));
    let mut run: Vec<OsString> = vec!["run".into(), "--device".into(), "cpu".into(), model.into()];
    run.extend(extra.iter().map(OsString::from));
    let line = error_line(&inspect);
    assert_eq!(line, error_line(&run), "inspect and run disagree");
    let prefix = format!("keqv: error: {}", file.display());
    assert!(line.starts_with(&prefix), "{line}\ndoes not name {prefix}");
    assert!(
        line[prefix.len()..].contains("; "),
        "{line}\nsays what is wrong but not what to do"
    );
    line
}

fn refused(model: &Path) -> String {
    refused_with(model, &[], model)
}

fn assert_mentions(line: &str, parts: &[&str]) {
    for part in parts {
        assert!(line.contains(part), "{line}\ndoes not mention {part:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Making broken files

struct Scratch(tempfile::TempDir);

impl Scratch {
    fn new() -> Self {
        Scratch(tempfile::tempdir().unwrap())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    fn copy(&self, rel: &str, name: &str) -> PathBuf {
        let to = self.path(name);
        std::fs::copy(fixture(rel), &to).unwrap();
        to
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let to = self.path(name);
        std::fs::write(&to, bytes).unwrap();
        to
    }

    /// The first `len` bytes of a fixture.
    fn truncated(&self, rel: &str, len: usize, name: &str) -> PathBuf {
        let bytes = std::fs::read(fixture(rel)).unwrap();
        self.write(name, &bytes[..len])
    }
}

/// Opens an HDF5 file for writing, edits it, and closes it.
fn edit_h5(path: &Path, edit: impl FnOnce(&hdf5::File)) {
    let _no_keqv = HDF5_EDIT.write().unwrap_or_else(|e| e.into_inner());
    let file = hdf5::File::open_rw(path).unwrap();
    edit(&file);
    file.close().unwrap();
}

fn read_string_attr(file: &hdf5::File, name: &str) -> String {
    let attr = file.attr(name).unwrap();
    match attr.read_scalar::<VarLenAscii>() {
        Ok(s) => s.as_str().to_string(),
        Err(_) => attr
            .read_scalar::<VarLenUnicode>()
            .unwrap()
            .as_str()
            .to_string(),
    }
}

fn write_string_attr(file: &hdf5::File, name: &str, text: &str) {
    if file.attr(name).is_ok() {
        file.delete_attr(name).unwrap();
    }
    let value: VarLenUnicode = text.parse().unwrap();
    file.new_attr::<VarLenUnicode>()
        .shape(())
        .create(name)
        .unwrap()
        .write_scalar(&value)
        .unwrap();
}

/// Replaces a dataset with `data` (of any HDF5 type).
fn replace_dataset<T: hdf5::H5Type>(file: &hdf5::File, path: &str, data: &ArrayD<T>) {
    file.unlink(path).unwrap();
    file.new_dataset_builder()
        .with_data(data)
        .create(path)
        .unwrap();
}

fn read_dataset(file: &hdf5::File, path: &str) -> ArrayD<f32> {
    file.dataset(path).unwrap().read_dyn::<f32>().unwrap()
}

/// A copy of a legacy `.h5` fixture whose `model_config` JSON is edited by `edit`.
fn h5_with_config(
    scratch: &Scratch,
    rel: &str,
    name: &str,
    edit: impl FnOnce(&mut Value),
) -> PathBuf {
    h5_with_config_text(scratch, rel, name, |text| {
        let mut config: Value = serde_json::from_str(text).unwrap();
        edit(&mut config);
        config.to_string()
    })
}

fn h5_with_config_text(
    scratch: &Scratch,
    rel: &str,
    name: &str,
    edit: impl FnOnce(&str) -> String,
) -> PathBuf {
    let path = scratch.copy(rel, name);
    edit_h5(&path, |file| {
        let text = read_string_attr(file, "model_config");
        write_string_attr(file, "model_config", &edit(&text));
    });
    path
}

/// A `.keras` fixture rebuilt (stored, as Keras writes it) after `edit` changed its members.
fn keras_with_members(
    scratch: &Scratch,
    rel: &str,
    name: &str,
    edit: impl FnOnce(&mut Members),
) -> PathBuf {
    let path = scratch.path(name);
    files::keras_with_members(&fixture(rel), &path, edit);
    path
}

/// A `.keras` fixture whose config.json is edited by `edit`.
fn keras_with_config(
    scratch: &Scratch,
    rel: &str,
    name: &str,
    edit: impl FnOnce(&mut Value),
) -> PathBuf {
    let path = scratch.path(name);
    files::keras_with_config(&fixture(rel), &path, edit);
    path
}

/// A `.keras` fixture whose model.weights.h5 is edited with the hdf5 crate.
fn keras_with_weights(
    scratch: &Scratch,
    rel: &str,
    name: &str,
    edit: impl FnOnce(&hdf5::File),
) -> PathBuf {
    keras_with_members(scratch, rel, name, |members| {
        let bytes = member(members, "model.weights.h5");
        let h5 = scratch.write(&format!("{name}.weights.h5"), bytes);
        edit_h5(&h5, edit);
        *bytes = std::fs::read(&h5).unwrap();
    })
}

/// The entry of `config.layers` named `name` (by entry name or config name).
fn layer<'v>(config: &'v mut Value, name: &str) -> &'v mut Value {
    config["config"]["layers"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|l| {
            l.get("name").and_then(Value::as_str) == Some(name) || l["config"]["name"] == name
        })
        .unwrap_or_else(|| panic!("no layer {name}"))
}

/// Keras 3: points the first tensor argument of `layer`'s first call at `history`.
fn set_k3_history(config: &mut Value, name: &str, history: Value) {
    let args = &mut layer(config, name)["inbound_nodes"][0]["args"];
    let tensor = if args[0].is_array() {
        &mut args[0][0]
    } else {
        &mut args[0]
    };
    tensor["config"]["keras_history"] = history;
}

fn npy_bytes(header: &str, data: &[u8]) -> Vec<u8> {
    let mut header = header.to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// Runs `model` on the CPU on `inputs`, expecting success; returns the single output.
fn run_ok(scratch: &Scratch, model: &Path, inputs: &Path, extra: &[&str]) -> (ArrayD<f32>, Output) {
    let out_path = scratch.path("out.npy");
    let mut args: Vec<OsString> = vec!["run".into(), "--device".into(), "cpu".into(), model.into()];
    args.extend([
        "--inputs".into(),
        inputs.into(),
        "--output".into(),
        out_path.clone().into(),
    ]);
    args.extend(extra.iter().map(OsString::from));
    let out = keqv(&args);
    assert_eq!(
        out.code,
        Some(0),
        "stdout: {}\nstderr: {}",
        out.stdout,
        out.stderr
    );
    (read_npy(&out_path), out)
}

fn max_abs_diff(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

// ---------------------------------------------------------------------------------------------
// Not a model at all

#[test]
fn empty_file() {
    let s = Scratch::new();
    for name in ["empty.h5", "empty.keras"] {
        let path = s.write(name, b"");
        let line = refused(&path);
        assert_mentions(&line, &["the file is empty (0 bytes)", "check the path"]);
    }
}

#[test]
fn text_file() {
    let s = Scratch::new();
    let path = s.write("model.h5", b"this is not a model\n");
    let line = refused(&path);
    assert_mentions(
        &line,
        &[
            "neither a .keras (zip) archive nor an HDF5 file",
            "model.save()",
        ],
    );
}

#[test]
fn missing_file() {
    let s = Scratch::new();
    let path = s.path("nowhere.keras");
    let line = refused(&path);
    assert_mentions(&line, &["cannot read it (No such file", "check the path"]);
}

#[test]
fn truncated_hdf5() {
    let s = Scratch::new();
    let rel = "tfk/a_seq_mlp.h5";
    let full = std::fs::metadata(fixture(rel)).unwrap().len() as usize;
    for len in [100, full / 2, full - 1024, full - 1] {
        let path = s.truncated(rel, len, &format!("cut{len}.h5"));
        let line = refused(&path);
        assert_mentions(
            &line,
            &[
                &format!("the HDF5 file is truncated: it has {len} of its {full} bytes"),
                "copy or download it again",
            ],
        );
    }
    // Not even a whole signature.
    let path = s.truncated(rel, 5, "cut5.h5");
    assert_mentions(&refused(&path), &["truncated: it has only 5 bytes"]);
}

#[test]
fn truncated_keras_archive() {
    let s = Scratch::new();
    let rel = "k3/a_seq_mlp.keras";
    let full = std::fs::metadata(fixture(rel)).unwrap().len() as usize;
    for len in [100, full / 2, full - 1024, full - 10] {
        let path = s.truncated(rel, len, &format!("cut{len}.keras"));
        let line = refused(&path);
        assert_mentions(
            &line,
            &["not a valid .keras archive", "truncated or corrupt"],
        );
    }
}

#[test]
fn truncated_weights_inside_keras_archive() {
    let s = Scratch::new();
    let path = keras_with_members(&s, "k3/a_seq_mlp.keras", "cut.keras", |members| {
        member(members, "model.weights.h5").truncate(1000);
    });
    let line = refused(&path);
    assert_mentions(
        &line,
        &["cut.keras/model.weights.h5: the HDF5 file is truncated: it has 1000 of its"],
    );
}

// ---------------------------------------------------------------------------------------------
// HDF5 structure

/// Damaged HDF5 internals (object headers, B-trees, the global heap holding the config) make
/// the HDF5 library return errors, crash, or loop forever, depending on the byte and on its
/// version (1.10.8 loops on some of these). Each must end in one line and exit code 2; a stall
/// is cut by the watchdog (`KEQV_HDF5_STALL_SECS`, 2 s here). Recipe: 64-byte windows of
/// tfk/c_func_skip.h5 overwritten with 0x00 or 0xff.
#[test]
fn damaged_hdf5_structure() {
    let s = Scratch::new();
    let rel = "tfk/c_func_skip.h5";
    let good = std::fs::read(fixture(rel)).unwrap();
    let windows = [
        (128, 0x00),
        (640, 0x00),
        (704, 0xff),
        (1664, 0xff),
        (1856, 0xff),
        (2112, 0x00),
        (2176, 0xff),
        (2304, 0x00),
        (4416, 0x00),
        (4544, 0xff),
        (4672, 0xff),
    ];
    for (start, fill) in windows {
        let mut bytes = good.clone();
        bytes[start..start + 64].fill(fill);
        let path = s.write(&format!("damaged_{start}_{fill}.h5"), &bytes);
        let out = keqv_env(
            &[OsString::from("inspect"), path.clone().into()],
            &[("KEQV_HDF5_STALL_SECS", "2")],
        );
        let what = format!("bytes {start}..{} set to {fill:#x}", start + 64);
        assert_eq!(
            out.code,
            Some(2),
            "{what}: stdout {}\nstderr {}",
            out.stdout,
            out.stderr
        );
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{what}: {}", out.stderr);
        let prefix = format!("keqv: error: {}: ", path.display());
        assert!(lines[0].starts_with(&prefix), "{what}: {}", lines[0]);
        assert!(lines[0].contains("; "), "{what}: {}", lines[0]);
    }
}

#[test]
fn weights_only_file_given_as_model() {
    for rel in [
        "k3/a_seq_mlp.weights.h5",
        "tfk/a_seq_mlp_legacyweights.h5",
        "tfk/a_seq_mlp.weights.h5",
    ] {
        let line = refused(&fixture(rel));
        assert_mentions(
            &line,
            &[
                "no 'model_config' attribute",
                "weights-only file",
                "pass it with --weights",
            ],
        );
    }
}

#[test]
fn hdf5_without_model_config_or_layer_names() {
    let s = Scratch::new();
    let path = s.copy("tfk/a_seq_mlp.h5", "bare.h5");
    edit_h5(&path, |f| {
        f.delete_attr("model_config").unwrap();
        f.unlink("model_weights").unwrap();
    });
    assert_mentions(
        &refused(&path),
        &[
            "no 'model_config' attribute",
            "not a Keras model saved with model.save()",
        ],
    );
}

#[test]
fn no_model_weights_group() {
    let s = Scratch::new();
    let path = s.copy("tfk/a_seq_mlp.h5", "noweights.h5");
    edit_h5(&path, |f| f.unlink("model_weights").unwrap());
    assert_mentions(&refused(&path), &["no 'model_weights' group", "--weights"]);
}

#[test]
fn missing_weight_dataset() {
    let s = Scratch::new();
    let path = s.copy("tfk/a_seq_mlp.h5", "nobias.h5");
    edit_h5(&path, |f| {
        f.unlink("model_weights/dense/dense/bias:0").unwrap()
    });
    assert_mentions(
        &refused(&path),
        &[
            "layer 'dense'",
            "weight dataset 'model_weights/dense/dense/bias:0' is missing",
            "re-save",
        ],
    );
    // Keras 3 layout: vars/1 gone from the archive's model.weights.h5.
    let path = keras_with_weights(&s, "k3/a_seq_mlp.keras", "nobias.keras", |f| {
        f.unlink("layers/dense/vars/1").unwrap()
    });
    assert_mentions(
        &refused(&path),
        &[
            "layer 'dense' (Dense)",
            "has 1 weight(s) for this layer, the config needs 2 (kernel, bias)",
        ],
    );
}

#[test]
fn weight_with_wrong_shape() {
    let s = Scratch::new();
    let path = s.copy("tfk/a_seq_mlp.h5", "shape.h5");
    edit_h5(&path, |f| {
        replace_dataset(
            f,
            "model_weights/dense/dense/bias:0",
            &ArrayD::<f32>::zeros(IxDyn(&[17])),
        )
    });
    assert_mentions(
        &refused(&path),
        &[
            "layer 'dense' (Dense)",
            "weight 'bias' has shape [17] in the file, the config needs [16]",
            "--weights",
        ],
    );
    let path = keras_with_weights(&s, "k3/a_seq_mlp.keras", "shape.keras", |f| {
        replace_dataset(
            f,
            "layers/dense_1/vars/0",
            &ArrayD::<f32>::zeros(IxDyn(&[10, 16])),
        )
    });
    assert_mentions(
        &refused(&path),
        &[
            "layer 'dense_1' (Dense)",
            "weight 'kernel' has shape [10, 16] in the file, the config needs [16, 10]",
        ],
    );
}

#[test]
fn float16_and_float64_weights_are_upcast_with_a_warning() {
    let s = Scratch::new();
    let expected = read_npy(&fixture("tfk/a_seq_mlp.expected.npy"));
    let inputs = fixture("inputs/a_seq_mlp.npy");
    for (bits, tolerance) in [(64, 1e-5f32), (16, 2e-2)] {
        let path = s.copy("tfk/a_seq_mlp.h5", &format!("f{bits}.h5"));
        edit_h5(&path, |f| {
            for w in [
                "model_weights/dense/dense/kernel:0",
                "model_weights/dense/dense/bias:0",
            ] {
                let value = read_dataset(f, w);
                if bits == 64 {
                    replace_dataset(f, w, &value.mapv(f64::from));
                } else {
                    replace_dataset(f, w, &value.mapv(half::f16::from_f32));
                }
            }
        });
        let out = keqv(&[OsString::from("inspect"), path.clone().into()]);
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        assert_mentions(
            &out.stdout,
            &[&format!(
                "warning  2 weight(s) are stored as float{bits} and were converted to float32: layer 'dense' weight 'dense/kernel:0'"
            )],
        );
        let (got, _) = run_ok(&s, &path, &inputs, &[]);
        let diff = max_abs_diff(&got, &expected);
        assert!(diff <= tolerance, "float{bits}: max |a-b| = {diff}");
    }
}

#[test]
fn integer_weights_are_refused() {
    let s = Scratch::new();
    let path = s.copy("tfk/a_seq_mlp.h5", "int.h5");
    edit_h5(&path, |f| {
        let w = "model_weights/dense/dense/kernel:0";
        let value = read_dataset(f, w);
        replace_dataset(f, w, &value.mapv(|v| (v * 100.0) as i32));
    });
    assert_mentions(
        &refused(&path),
        &[
            "layer 'dense': weight 'dense/kernel:0' has type int32",
            "only float weights",
            "convert the weights to float32",
        ],
    );
}

/// NaN and infinite weights are data, not a format error: the model runs, its outputs hold NaN,
/// and `inspect` warns about them.
#[test]
fn nan_and_inf_weights_run_and_give_nan() {
    let s = Scratch::new();
    let path = s.copy("tfk/a_seq_mlp.h5", "nan.h5");
    edit_h5(&path, |f| {
        let w = "model_weights/dense/dense/kernel:0";
        let mut value = read_dataset(f, w);
        value[[0, 0]] = f32::NAN;
        value[[1, 1]] = f32::INFINITY;
        replace_dataset(f, w, &value);
    });
    let out = keqv(&[OsString::from("inspect"), path.clone().into()]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_mentions(
        &out.stdout,
        &["hold NaN or infinite values", "(1 NaN, 1 infinite)"],
    );
    let (got, _) = run_ok(&s, &path, &fixture("inputs/a_seq_mlp.npy"), &[]);
    assert!(
        got.iter().any(|v| v.is_nan()),
        "outputs hold no NaN: {got:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Config JSON

#[test]
fn malformed_json() {
    let s = Scratch::new();
    let path = h5_with_config_text(&s, "tfk/a_seq_mlp.h5", "cut.h5", |text| {
        text[..text.len() / 2].to_string()
    });
    assert_mentions(
        &refused(&path),
        &[
            "model_config is not valid JSON (EOF while parsing",
            "re-save the model",
        ],
    );
    let path = keras_with_members(&s, "k3/a_seq_mlp.keras", "cut.keras", |members| {
        member(members, "config.json").truncate(100)
    });
    assert_mentions(
        &refused(&path),
        &[
            "config.json is not valid JSON (EOF while parsing",
            "line 1 column 100",
        ],
    );
}

/// A ConvLSTM that is stateful, or reads a mask (tf-keras applies a Masking layer's per step
/// and position there), is refused with the reason rather than run without it, whichever way
/// the mask comes: a Masking layer in either dialect, Keras 3's mask argument.
#[test]
fn conv_lstm_options_keqv_cannot_run_are_refused() {
    let s = Scratch::new();
    let path = keras_with_config(&s, "k3/y_convlstm_seq.keras", "stateful.keras", |c| {
        layer(c, "conv_lstm2d")["config"]["stateful"] = json!(true)
    });
    assert_mentions(
        &refused(&path),
        &[
            "layer 'conv_lstm2d' (ConvLSTM2D)",
            "stateful=True",
            "stateful=False",
        ],
    );
    let path = keras_with_config(&s, "k3/y_convlstm_seq.keras", "masked.keras", |c| {
        let masking = json!({"module": "keras.layers", "class_name": "Masking",
            "config": {"name": "masking", "mask_value": 0.0, "dtype": "float32"},
            "registered_name": null});
        c["config"]["layers"]
            .as_array_mut()
            .unwrap()
            .insert(1, masking);
    });
    let h5 = h5_with_config(&s, "tfk/y_convlstm_seq.h5", "masked.h5", |c| {
        let masking = json!({"class_name": "Masking",
            "config": {"name": "masking", "mask_value": 0.0, "dtype": "float32"}});
        c["config"]["layers"]
            .as_array_mut()
            .unwrap()
            .insert(1, masking);
    });
    for path in [path, h5] {
        assert_mentions(
            &refused(&path),
            &[
                "layer 'conv_lstm2d' (ConvLSTM2D)",
                "receives a mask",
                "remove the masking before it",
            ],
        );
    }
    let path = keras_with_config(&s, "k3/y_convlstm.keras", "mask_argument.keras", |c| {
        layer(c, "c1_same")["inbound_nodes"][0]["kwargs"]["mask"] = json!({
            "class_name": "__keras_tensor__",
            "config": {"shape": [null, 4, 7], "dtype": "bool", "keras_history": ["seq", 0, 0]}});
    });
    assert_mentions(
        &refused(&path),
        &["layer 'c1_same' (ConvLSTM1D)", "receives a mask"],
    );
}

/// Keras runs a ConvLSTM inside Bidirectional; keqv does not yet, and says so.
#[test]
fn bidirectional_conv_lstm_is_refused() {
    let s = Scratch::new();
    let path = h5_with_config(&s, "tfk/y_convlstm_seq.h5", "bi.h5", |c| {
        let entry = &mut c["config"]["layers"][1];
        let inner = entry.clone();
        *entry = json!({"class_name": "Bidirectional",
            "config": {"name": "conv_lstm2d", "layer": inner, "merge_mode": "concat"}});
    });
    assert_mentions(
        &refused(&path),
        &[
            "layer 'conv_lstm2d' (Bidirectional)",
            "wraps a ConvLSTM2D, which keqv cannot run inside Bidirectional yet",
            "; it runs SimpleRNN, LSTM, GRU",
        ],
    );
}

/// MultiHeadAttention over other axes than a sequence's runs without masks, causal masks and
/// returned scores only; with any of them it is refused, naming which.
#[test]
fn attention_over_several_axes_with_masks_or_scores_is_refused() {
    let s = Scratch::new();
    let tensor = |from: &str| {
        json!({"class_name": "__keras_tensor__",
            "config": {"shape": [null, 4, 5], "dtype": "bool", "keras_history": [from, 0, 0]}})
    };
    let k3: [(&str, &str, Value, &str); 4] = [
        (
            "mha_all",
            "use_causal_mask",
            json!(true),
            "use_causal_mask=True",
        ),
        (
            "mha_vol",
            "return_attention_scores",
            json!(true),
            "return_attention_scores=True",
        ),
        (
            "mha_rows",
            "attention_mask",
            tensor("grid"),
            "an attention_mask",
        ),
        (
            "mha_cols",
            "query_mask",
            tensor("grid"),
            "the mask of its query, value or key",
        ),
    ];
    for (name, key, value, says) in k3 {
        let path = keras_with_config(&s, "k3/u_mha_axes.keras", &format!("{key}.keras"), |c| {
            layer(c, name)["inbound_nodes"][0]["kwargs"][key] = value.clone();
        });
        assert_mentions(
            &refused(&path),
            &[
                &format!("layer '{name}' (MultiHeadAttention): attends over the axes"),
                &format!("inputs with {says}"),
                "which keqv cannot run yet; it runs MultiHeadAttention over other axes",
            ],
        );
    }
    // tf-keras writes the call's keywords after the query; two of them here.
    let path = h5_with_config(&s, "tfk/u_mha_axes.h5", "both.h5", |c| {
        layer(c, "mha_all")["inbound_nodes"][0][0][3] = json!({"value": ["grid", 0, 0],
            "attention_mask": ["grid", 0, 0], "use_causal_mask": true});
    });
    assert_mentions(
        &refused(&path),
        &[
            "layer 'mha_all' (MultiHeadAttention): attends over the axes [1, 2] of its 4-axis inputs with an attention_mask and use_causal_mask=True",
        ],
    );
}

/// EinsumDense runs as a Dense where its equation is one; any other equation is refused
/// naming it and the forms keqv runs, a label twice (a diagonal, which Keras takes) included.
#[test]
fn einsum_equations_keqv_cannot_run_are_refused() {
    let s = Scratch::new();
    for (rel, name) in [
        ("k3/u_einsum.keras", "eq.keras"),
        ("tfk/u_einsum.h5", "eq.h5"),
    ] {
        for equation in ["abb,bbc->ac", "abc,cd->adb", "ab...,bc->ac..."] {
            let edit = |c: &mut Value| {
                layer(c, "transposed")["config"]["equation"] = json!(equation);
            };
            let path = if rel.ends_with(".h5") {
                h5_with_config(&s, rel, name, edit)
            } else {
                keras_with_config(&s, rel, name, edit)
            };
            assert_mentions(
                &refused(&path),
                &[
                    &format!("layer 'transposed' (EinsumDense): has equation '{equation}', "),
                    "; keqv runs EinsumDense equations whose input is the axes it keeps",
                    "(abc,cd->abd, abc,cde->abde, abcd,cde->abe, ...b,bc->...c;",
                ],
            );
        }
    }
}

/// What keqv cannot run of the categorical layers is refused naming the layer and what to
/// do: IntegerLookup inverted, or weighing counts by idf_weights, or encoding with a mask
/// token; multi_hot and count on samples that are not one axis of ids, where Keras reduces
/// over another axis than the ids'.
#[test]
fn categorical_options_keqv_cannot_run_are_refused() {
    let s = Scratch::new();
    let cases: [(&str, Value, &[&str]); 3] = [
        (
            "invert",
            json!({"invert": true}),
            &[
                "invert=True",
                "compare the model without the inverting layer",
            ],
        ),
        (
            "tf_idf",
            json!({"output_mode": "tf_idf", "idf_weights": [1.0, 1.0, 1.0, 1.0, 1.0]}),
            &[
                "'tf_idf' is not supported",
                "make the layer with output_mode",
            ],
        ),
        (
            "masked",
            json!({"output_mode": "count", "mask_token": 0}),
            &[
                "with a mask_token and output_mode \"count\"",
                "without mask_token",
            ],
        ),
    ];
    for (name, settings, says) in cases {
        let edit = |c: &mut Value| {
            let lookup = &mut c["config"]["layers"][1];
            for (k, v) in settings.as_object().unwrap() {
                lookup["config"][k] = v.clone();
            }
            // The lookup's own encoding takes the CategoryEncoding's place.
            if lookup["config"]["output_mode"] != "int" {
                c["config"]["layers"].as_array_mut().unwrap().remove(2);
            }
        };
        let keras = keras_with_config(
            &s,
            "k3/x_category_seq.keras",
            &format!("{name}.keras"),
            edit,
        );
        let h5 = h5_with_config(&s, "tfk/x_category_seq.h5", &format!("{name}.h5"), edit);
        for path in [keras, h5] {
            let line = refused(&path);
            assert_mentions(&line, &["layer 'integer_lookup' (IntegerLookup)"]);
            assert_mentions(&line, says);
        }
    }
    // Ids (5, 1) per sample: counting them is not counting per row of ids in Keras.
    let path = keras_with_config(&s, "k3/x_category_seq.keras", "rows.keras", |c| {
        c["config"]["layers"][0]["config"]["batch_shape"] = json!([null, 5, 1]);
    });
    assert_mentions(
        &refused(&path),
        &[
            "layer 'category_encoding' (CategoryEncoding): CategoryEncoding output_mode 'count' on samples of shape [5, 1] is not supported",
            "keqv runs it on samples of one axis of ids",
        ],
    );
}

/// Keras refuses a mask into its legacy CuDNN layers (they do not support masking), so a file
/// that has one anyway is refused, alone or inside Bidirectional, rather than run unmasked.
#[test]
fn masks_into_cudnn_layers_are_refused() {
    let s = Scratch::new();
    for (target, class) in [("cudnn_gru", "CuDNNGRU"), ("bi_cudnn", "Bidirectional")] {
        let path = h5_with_config(&s, "tfk/w_cudnn.h5", &format!("{target}.h5"), |c| {
            let masking = json!({"class_name": "Masking", "name": "masking",
                "config": {"name": "masking", "mask_value": 0.0, "dtype": "float32"},
                "inbound_nodes": [[["x", 0, 0, {}]]]});
            c["config"]["layers"]
                .as_array_mut()
                .unwrap()
                .insert(1, masking);
            layer(c, target)["inbound_nodes"] = json!([[["masking", 0, 0, {}]]]);
        });
        assert_mentions(
            &refused(&path),
            &[
                &format!("layer '{target}' ({class})"),
                "is given a mask, which Keras's CuDNN layers refuse",
                "remove the masking before it or use LSTM/GRU",
            ],
        );
    }
}

/// What keqv cannot run of an RNN over stacked cells is refused naming the layer: the states
/// of every cell (return_state; both Keras versions list the outputs of such a layer nested,
/// each LSTM cell's h and c as a list of their own), initial states, and the RNN inside a
/// wrapper.
#[test]
fn stacked_cells_options_keqv_cannot_run_are_refused() {
    let s = Scratch::new();
    let states = json!([
        ["stack_back", 0, 0],
        ["stack_back", 0, 1],
        [["stack_back", 0, 2], ["stack_back", 0, 3]]
    ]);
    let path = keras_with_config(&s, "k3/w_stacked_cells.keras", "state.keras", |c| {
        layer(c, "stack_back")["config"]["return_state"] = json!(true);
        c["config"]["output_layers"] = states.clone();
    });
    let h5 = h5_with_config(&s, "tfk/w_stacked_cells.h5", "state.h5", |c| {
        layer(c, "stack_back")["config"]["return_state"] = json!(true);
        c["config"]["output_layers"] = states.clone();
    });
    for path in [path, h5] {
        assert_mentions(
            &refused(&path),
            &[
                "layer 'stack_back' (RNN)",
                "stacked cells with return_state",
                "re-save the model with return_state=False",
            ],
        );
    }
    // Keras 3 passes initial states by keyword, a list per LSTM cell; tf-keras as more inputs.
    let path = keras_with_config(&s, "k3/w_stacked_cells.keras", "initial.keras", |c| {
        let node = &mut layer(c, "stack_back")["inbound_nodes"][0];
        let state = node["args"][0].clone();
        node["kwargs"]["initial_state"] = json!([state.clone(), [state.clone(), state]]);
    });
    let h5 = h5_with_config(&s, "tfk/w_stacked_cells.h5", "initial.h5", |c| {
        layer(c, "stack_three")["inbound_nodes"] = json!([[
            ["feats", 0, 0, {}],
            ["stack_back", 0, 0, {}],
            ["stack_back", 0, 0, {}],
            ["stack_back", 0, 0, {}]
        ]]);
    });
    for (path, name) in [(path, "stack_back"), (h5, "stack_three")] {
        assert_mentions(
            &refused(&path),
            &[
                &format!("layer '{name}' (RNN)"),
                "stacked cells from an initial_state",
                "call it without initial_state",
            ],
        );
    }
    // Bidirectional and TimeDistributed around an RNN over stacked cells.
    for (wrapper, extra) in [
        ("Bidirectional", json!({"merge_mode": "concat"})),
        ("TimeDistributed", json!({})),
    ] {
        let name = format!("{wrapper}.h5");
        let path = h5_with_config(&s, "tfk/w_stacked_cells.h5", &name, |c| {
            let entry = layer(c, "stack_back");
            let mut inner = entry.clone();
            inner.as_object_mut().unwrap().remove("inbound_nodes");
            let mut config = extra.clone();
            config["name"] = json!("stack_back");
            config["layer"] = inner;
            entry["class_name"] = json!(wrapper);
            entry["config"] = config;
        });
        assert_mentions(
            &refused(&path),
            &[
                &format!("layer 'stack_back' ({wrapper})"),
                "RNN over StackedRNNCells inside a wrapper",
                "call the RNN directly",
            ],
        );
    }
}

#[test]
fn json_with_wrong_types() {
    let s = Scratch::new();
    let path = h5_with_config(&s, "tfk/a_seq_mlp.h5", "units.h5", |c| {
        layer(c, "dense")["config"]["units"] = json!("64")
    });
    assert_mentions(
        &refused(&path),
        &[
            "layer 'dense' (Dense): 'units' is \"64\", not a non-negative integer",
            "malformed",
        ],
    );
    let path = keras_with_config(&s, "k3/a_seq_mlp.keras", "units.keras", |c| {
        layer(c, "dense_1")["config"]["units"] = json!(-3)
    });
    assert_mentions(
        &refused(&path),
        &["layer 'dense_1' (Dense): 'units' is -3, not a non-negative integer"],
    );
    let path = keras_with_config(&s, "k3/a_seq_mlp.keras", "layers.keras", |c| {
        c["config"]["layers"] = json!({"dense": {}})
    });
    assert_mentions(
        &refused(&path),
        &[
            "\"layers\" of model 'sequential' (Sequential) is an object, not a list",
            "malformed",
        ],
    );
    let path = h5_with_config(&s, "tfk/c_func_skip.h5", "inbound.h5", |c| {
        layer(c, "add")["inbound_nodes"] = json!("dense_x")
    });
    assert_mentions(
        &refused(&path),
        &["layer 'add': \"inbound_nodes\" is not a list"],
    );
}

/// `keqv run --device cpu` refuses `model` with one line that names it and says what to do;
/// `keqv inspect` describes the model instead (exit 0), marking the layer that cannot run with
/// `status`. Returns run's line.
fn cannot_run(model: &Path, layer: &str, status: &str) -> String {
    let line = error_line(&[
        OsString::from("run"),
        "--device".into(),
        "cpu".into(),
        model.into(),
    ]);
    let prefix = format!("keqv: error: {}", model.display());
    assert!(line.starts_with(&prefix), "{line}\ndoes not name {prefix}");
    let out = keqv(&[OsString::from("inspect"), model.into()]);
    assert_eq!(out.code, Some(0), "inspect {model:?}: {}", out.stderr);
    let row = out
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{layer} ")))
        .unwrap_or_else(|| panic!("inspect shows no layer {layer}:\n{}", out.stdout));
    assert!(row.trim_end().ends_with(status), "{row}");
    assert!(out
        .stdout
        .contains("runs in keqv: no (1 layer cannot run: "));
    line
}

#[test]
fn custom_layer_class_without_a_mapping() {
    let s = Scratch::new();
    let path = h5_with_config(&s, "tfk/a_seq_mlp.h5", "fancy.h5", |c| {
        layer(c, "dense")["class_name"] = json!("FancyDense")
    });
    assert_mentions(
        &cannot_run(&path, "dense", "custom: map it"),
        &[
            "layer 'dense' (FancyDense): is a custom layer class keqv does not know; ",
            "--custom FancyDense=BUILTIN",
        ],
    );
    // The registered custom layer of the fixtures, without its mapping.
    for rel in ["k3/b_seq_custom.keras", "tfk/b_seq_custom.h5"] {
        let line = cannot_run(&fixture(rel), "feature_normalization", "custom: map it");
        assert_mentions(
            &line,
            &[
                "(mypkg>FeatureNormalization): is a custom layer class keqv does not know",
                "--custom FeatureNormalization=BUILTIN",
            ],
        );
    }
}

#[test]
fn keras_built_in_keqv_does_not_run() {
    let s = Scratch::new();
    let path = h5_with_config(&s, "tfk/a_seq_mlp.h5", "conv.h5", |c| {
        layer(c, "dense")["class_name"] = json!("SpectralNormalization")
    });
    let line = cannot_run(&path, "dense", "unsupported");
    assert_mentions(
        &line,
        &["layer 'dense' (SpectralNormalization): is a Keras built-in layer that keqv does not support yet (supported: see README 'Supported layers')"],
    );
    assert!(!line.contains("--custom"), "{line}");
}

#[test]
fn lambda_layers_are_never_run() {
    for rel in [
        "k3/f_lambda.keras",
        "tfk/f_lambda.h5",
        "k3/f_lambda.h5",
        "tfk/f_lambda.keras",
    ] {
        let line = cannot_run(&fixture(rel), "lambda", "Lambda: refused");
        assert_mentions(
            &line,
            &[
                "layer 'lambda' (Lambda)",
                "Python code, which keqv never runs",
                "--custom lambda=BUILTIN",
            ],
        );
    }
}

#[test]
fn cycle_in_the_graph() {
    let s = Scratch::new();
    let path = keras_with_config(&s, "k3/c_func_skip.keras", "cycle.keras", |c| {
        set_k3_history(c, "dense_x", json!(["add", 0, 0]))
    });
    assert_mentions(
        &refused(&path),
        &[
            "the layers dense_x, dense_y, add, out form a cycle",
            "malformed",
        ],
    );
    let path = h5_with_config(&s, "tfk/c_func_skip.h5", "cycle.h5", |c| {
        layer(c, "dense_y")["inbound_nodes"] = json!([[["dense_y", 0, 0, {}]]])
    });
    assert_mentions(
        &refused(&path),
        &["the layers dense_y, add, out form a cycle"],
    );
}

#[test]
fn references_to_missing_layers_nodes_and_tensors() {
    let s = Scratch::new();
    let cases = [
        (
            json!(["nope", 0, 0]),
            "takes input from layer 'nope', which is not in the model",
        ),
        (
            json!(["dense_x", 3, 0]),
            "takes input from call 3 of layer 'dense_x', which is called only 1 time(s)",
        ),
        (
            json!(["dense_x", 0, 2]),
            "takes output 2 of layer 'dense_x', which has 1 output(s)",
        ),
        (
            json!(["input", 1, 0]),
            "takes input from call 1 of InputLayer 'input', which has only call 0",
        ),
    ];
    for (i, (history, message)) in cases.into_iter().enumerate() {
        let mut tfk = history.as_array().unwrap().clone();
        tfk.push(json!({}));
        let path = keras_with_config(&s, "k3/c_func_skip.keras", &format!("ref{i}.keras"), |c| {
            set_k3_history(c, "dense_y", history)
        });
        assert_mentions(
            &refused(&path),
            &["layer 'dense_y' (Dense): ", message, "malformed"],
        );
        let path = h5_with_config(&s, "tfk/c_func_skip.h5", &format!("ref{i}.h5"), |c| {
            layer(c, "dense_y")["inbound_nodes"] = json!([[tfk]])
        });
        assert_mentions(&refused(&path), &["layer 'dense_y' (Dense): ", message]);
    }
    let path = keras_with_config(&s, "k3/c_func_skip.keras", "output.keras", |c| {
        c["config"]["output_layers"] = json!(["gone", 0, 0])
    });
    assert_mentions(
        &refused(&path),
        &["output ['gone', 0, 0] refers to a tensor no layer produces"],
    );
}

/// `keqv convert` reads a model's calls with the walk `run` builds its graph with, so a broken
/// call graph gets the same line from both.
#[test]
fn convert_and_run_give_the_same_line_for_a_broken_call_graph() {
    let s = Scratch::new();
    let out = s.path("out.keras");
    let out = out.to_str().unwrap();
    let cases = [
        (json!(["add", 0, 0]), "form a cycle"),
        (json!(["nope", 0, 0]), "which is not in the model"),
        (json!(["dense_x", 3, 0]), "which is called only 1 time(s)"),
        (json!(["input", 0, 2]), "which has 1 output(s)"),
    ];
    for (i, (history, message)) in cases.into_iter().enumerate() {
        let path = keras_with_config(&s, "k3/c_func_skip.keras", &format!("walk{i}.keras"), |c| {
            set_k3_history(c, "dense_x", history)
        });
        let line = refused(&path);
        assert_mentions(&line, &[message, "malformed"]);
        let convert = ["convert", path.to_str().unwrap(), "-o", out, "--no-verify"];
        assert_eq!(error_line(&convert), line);
    }
}

#[test]
fn duplicate_layer_names() {
    let s = Scratch::new();
    let path = h5_with_config(&s, "tfk/a_seq_mlp.h5", "dup.h5", |c| {
        layer(c, "dense_1")["config"]["name"] = json!("dense")
    });
    assert_mentions(
        &refused(&path),
        &[
            "model 'sequential' has two layers named 'dense'",
            "malformed",
        ],
    );
    let path = keras_with_config(&s, "k3/c_func_skip.keras", "dup.keras", |c| {
        let l = layer(c, "dense_y");
        l["name"] = json!("dense_x");
        l["config"]["name"] = json!("dense_x");
    });
    assert_mentions(
        &refused(&path),
        &["model 'func_skip' has two layers named 'dense_x'"],
    );
}

#[test]
fn zero_sized_dimensions() {
    let s = Scratch::new();
    let path = keras_with_config(&s, "k3/a_seq_mlp.keras", "zero_in.keras", |c| {
        layer(c, "input_layer")["config"]["batch_shape"] = json!([null, 0])
    });
    assert_mentions(
        &refused(&path),
        &["layer 'input_layer' (InputLayer): input shape (None, 0) has a zero-sized dimension"],
    );
    let path = keras_with_config(&s, "k3/a_seq_mlp.keras", "zero_units.keras", |c| {
        layer(c, "dense_1")["config"]["units"] = json!(0)
    });
    assert_mentions(
        &refused(&path),
        &["layer 'dense_1' (Dense): output shape (None, 0) has a zero-sized dimension"],
    );
}

#[test]
fn absurd_sizes_are_refused_before_allocating() {
    let s = Scratch::new();
    let path = h5_with_config(&s, "tfk/a_seq_mlp.h5", "huge.h5", |c| {
        layer(c, "dense")["config"]["units"] = json!(1u64 << 40)
    });
    assert_mentions(
        &refused(&path),
        &[
            "layer 'dense' (Dense): weight 'kernel' would have shape [784, 1099511627776], which needs 3.1 PiB of memory",
            "refusing to allocate it",
        ],
    );
    let path = keras_with_config(&s, "k3/a_seq_mlp.keras", "huge_in.keras", |c| {
        layer(c, "input_layer")["config"]["batch_shape"] =
            json!([null, 1u64 << 20, 1u64 << 20, 1u64 << 20])
    });
    assert_mentions(
        &refused(&path),
        &["input shape (None, 1048576, 1048576, 1048576) would need 4.0 EiB per sample"],
    );
    let path = keras_with_config(&s, "k3/a_seq_mlp.keras", "overflow.keras", |c| {
        layer(c, "input_layer")["config"]["batch_shape"] = json!([null, u64::MAX, u64::MAX])
    });
    assert_mentions(&refused(&path), &["refusing to allocate it"]);
}

// ---------------------------------------------------------------------------------------------
// .keras archives

#[test]
fn keras_archive_missing_members() {
    let s = Scratch::new();
    for missing in ["config.json", "model.weights.h5"] {
        let path = keras_with_members(
            &s,
            "k3/a_seq_mlp.keras",
            &format!("no_{missing}.keras"),
            |m| m.retain(|(n, _)| n != missing),
        );
        assert_mentions(
            &refused(&path),
            &[
                &format!(".keras archive has no {missing}"),
                "re-save the model",
            ],
        );
    }
}

#[test]
fn keras_archive_with_path_traversal() {
    let s = Scratch::new();
    let path = keras_with_members(&s, "k3/a_seq_mlp.keras", "evil.keras", |m| {
        m.push(("../evil".into(), b"gotcha".to_vec()))
    });
    assert_mentions(
        &refused(&path),
        &[
            "archive member \"../evil\" has an unsafe path",
            "refusing the archive",
        ],
    );
}

/// A member that declares far more bytes than the archive holds: refused before any allocation.
/// Recipe: a stored archive written by the zip crate, then the 32-bit uncompressed size of
/// model.weights.h5 in its central-directory entry (offset 24 of the `PK\1\2` record) set to 4 GiB.
#[test]
fn keras_archive_zip_bomb() {
    let s = Scratch::new();
    let path = keras_with_members(&s, "k3/a_seq_mlp.keras", "bomb.keras", |_| {});
    let mut bytes = std::fs::read(&path).unwrap();
    let mut patched = 0;
    let mut at = 0;
    while let Some(i) = bytes[at..]
        .windows(4)
        .position(|w| w == b"PK\x01\x02")
        .map(|i| i + at)
    {
        let name_len = u16::from_le_bytes([bytes[i + 28], bytes[i + 29]]) as usize;
        if &bytes[i + 46..i + 46 + name_len] == b"model.weights.h5" {
            bytes[i + 24..i + 28].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
            patched += 1;
        }
        at = i + 4;
    }
    assert_eq!(patched, 1);
    std::fs::write(&path, &bytes).unwrap();
    assert_mentions(
        &refused(&path),
        &[
            "member model.weights.h5 declares 4294967280 bytes in a",
            "a zip bomb",
        ],
    );
}

/// The weights member is read in place when stored and from memory when compressed: the
/// same clear messages either way.
#[test]
fn keras_archive_weights_member_not_hdf5() {
    let s = Scratch::new();
    type Edit = fn(&mut Vec<u8>);
    let cases: [(&str, Edit, &str); 3] = [
        (
            "text",
            |w| *w = b"these bytes are not an HDF5 file".to_vec(),
            "not an HDF5 file (no HDF5 signature)",
        ),
        ("empty", |w| w.clear(), "the file is empty (0 bytes)"),
        (
            "cut",
            |w| w.truncate(1000),
            "the HDF5 file is truncated: it has 1000 of its",
        ),
    ];
    for (name, edit, message) in cases {
        for method in [
            zip::CompressionMethod::Stored,
            zip::CompressionMethod::Deflated,
        ] {
            let path = s.path(&format!("{name}_{method}.keras"));
            let mut members = zip_members(&fixture("k3/a_seq_mlp.keras"));
            edit(member(&mut members, "model.weights.h5"));
            write_zip(&path, &members, method);
            let shown = path.join("model.weights.h5");
            let line = refused_with(&path, &[], &shown);
            assert_mentions(&line, &[message]);
        }
    }
}

/// A byte of the stored weights changed after the archive was written: the member's CRC-32,
/// which the in-place reader checks as unpacking would, refuses it.
#[test]
fn keras_archive_damaged_weights_member() {
    let s = Scratch::new();
    let path = keras_with_members(&s, "k3/a_seq_mlp.keras", "damaged.keras", |_| {});
    let mut bytes = std::fs::read(&path).unwrap();
    let weights = zip_members(&path)
        .into_iter()
        .find(|(n, _)| n == "model.weights.h5")
        .unwrap()
        .1;
    let start = bytes
        .windows(weights.len())
        .position(|w| w == weights.as_slice())
        .unwrap();
    // A byte in the last quarter: weight values, which nothing else in the file checks.
    bytes[start + weights.len() * 3 / 4] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    assert_mentions(
        &refused(&path),
        &[
            "member model.weights.h5 fails its CRC-32 check",
            "re-save the model",
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Inputs

fn input_error(model: &str, inputs: &Path) -> String {
    error_line(&[
        OsString::from("run"),
        "--device".into(),
        "cpu".into(),
        fixture(model).into(),
        "--inputs".into(),
        inputs.into(),
    ])
}

#[test]
fn npy_with_corrupt_header() {
    let s = Scratch::new();
    let good = std::fs::read(fixture("inputs/a_seq_mlp.npy")).unwrap();
    // The header is ASCII text padded with spaces: rewrite it in place, same length.
    let header_end = 10 + u16::from_le_bytes([good[8], good[9]]) as usize;
    let header = std::str::from_utf8(&good[10..header_end]).unwrap();
    assert!(header.contains("'shape': (8, 784)"), "{header}");
    let cases = [
        (
            "shape.npy",
            header.replace("(8, 784)", "(8, 7x4)"),
            "shape entry '7x4' is not a size",
        ),
        (
            "descr.npy",
            header.replace("'descr'", "'dexcr'"),
            "header has no 'descr'",
        ),
        (
            "huge.npy",
            header.replace("(8, 784), ", "(99999999999, 99999999999), "),
            "is too large for any file",
        ),
        (
            "order.npy",
            header.replace("False", "Maybe"),
            "fortran_order is 'Maybe'",
        ),
    ];
    for (name, edited, message) in cases {
        let edited = edited.trim_end().to_string() + "\n";
        let mut bytes = good[..10].to_vec();
        let padded = format!("{:<width$}", edited.trim_end(), width = header.len() - 1) + "\n";
        assert_eq!(padded.len(), header.len(), "{edited}");
        bytes.extend_from_slice(padded.as_bytes());
        bytes.extend_from_slice(&good[header_end..]);
        let path = s.write(name, &bytes);
        let line = input_error("k3/a_seq_mlp.keras", &path);
        assert_mentions(
            &line,
            &[
                &path.display().to_string(),
                "not a valid .npy array",
                message,
                "numpy.save",
            ],
        );
    }
    let mut bytes = good.clone();
    bytes[8] = 0xff;
    bytes[9] = 0xff;
    let path = s.write("len.npy", &bytes);
    assert_mentions(
        &input_error("k3/a_seq_mlp.keras", &path),
        &["header longer than the file"],
    );
    let path = s.write("short.npy", &good[..2000]);
    assert_mentions(
        &input_error("k3/a_seq_mlp.keras", &path),
        &["shape [8, 784] needs 25088 bytes of data, the file has 1872"],
    );
}

/// `values` (row-major, shape `shape`) as the bytes of `descr`, each written by `to_bytes`.
fn int_npy<T: Copy, const N: usize>(
    descr: &str,
    shape: &[usize],
    values: &[T],
    to_bytes: fn(T) -> [u8; N],
) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let data: Vec<u8> = values.iter().flat_map(|&v| to_bytes(v)).collect();
    npy_bytes(
        &format!(
            "{{'descr': '{descr}', 'fortran_order': False, 'shape': ({}), }}",
            dims.join(", ")
        ),
        &data,
    )
}

/// Integer and bool inputs (token ids, masks) are read exactly: the model's output is the
/// output of the same values given as float32.
#[test]
fn npy_with_integer_and_bool_dtypes_runs_exactly() {
    let s = Scratch::new();
    let model = fixture("k3/a_seq_mlp.keras");
    let shape = [8usize, 784];
    let ids: Vec<i64> = (0..8 * 784).map(|i| i % 7 - 3).collect();
    let as_f32 = |values: Vec<f32>| ArrayD::from_shape_vec(IxDyn(&shape), values).unwrap();
    let floats = s.path("floats.npy");
    keqv::npy::write_npy(&floats, &as_f32(ids.iter().map(|&v| v as f32).collect())).unwrap();
    let (want, _) = run_ok(&s, &model, &floats, &[]);
    let i32s: Vec<i32> = ids.iter().map(|&v| v as i32).collect();
    let cases = [
        ("i32.npy", int_npy("<i4", &shape, &i32s, i32::to_le_bytes)),
        (
            "i64_big.npy",
            int_npy(">i8", &shape, &ids, i64::to_be_bytes),
        ),
        (
            "i16_big.npy",
            int_npy(
                ">i2",
                &shape,
                &ids.iter().map(|&v| v as i16).collect::<Vec<_>>(),
                i16::to_be_bytes,
            ),
        ),
    ];
    for (name, bytes) in cases {
        let path = s.write(name, &bytes);
        assert_eq!(
            keqv::npy::read_npy(&path).unwrap(),
            as_f32(ids.iter().map(|&v| v as f32).collect()),
            "{name}"
        );
        let (got, _) = run_ok(&s, &model, &path, &[]);
        assert_eq!(got, want, "{name}");
    }
    // Unsigned and bool: values 0..6 and 0/1, against their float32 copies.
    let small: Vec<u8> = (0..8 * 784).map(|i| (i % 7) as u8).collect();
    let bools: Vec<u8> = (0..8 * 784).map(|i| (i % 3 == 0) as u8).collect();
    for (name, bytes, values) in [
        (
            "u8.npy",
            int_npy("|u1", &shape, &small, u8::to_le_bytes),
            &small,
        ),
        (
            "u32_big.npy",
            int_npy(
                ">u4",
                &shape,
                &small.iter().map(|&v| v as u32).collect::<Vec<_>>(),
                u32::to_be_bytes,
            ),
            &small,
        ),
        (
            "bool.npy",
            int_npy("|b1", &shape, &bools, u8::to_le_bytes),
            &bools,
        ),
    ] {
        let floats = s.path("floats.npy");
        keqv::npy::write_npy(&floats, &as_f32(values.iter().map(|&v| v as f32).collect())).unwrap();
        let (want, _) = run_ok(&s, &model, &floats, &[]);
        let path = s.write(name, &bytes);
        let (got, _) = run_ok(&s, &model, &path, &[]);
        assert_eq!(got, want, "{name}");
    }
}

/// `verify` reports an integer inputs file's cast among the assumptions, by NumPy's name.
#[test]
fn integer_inputs_are_reported_as_cast() {
    let s = Scratch::new();
    let ids: Vec<i64> = (0..8 * 784).map(|i| i % 5).collect();
    let path = s.write(
        "ids.npy",
        &int_npy("<i8", &[8, 784], &ids, i64::to_le_bytes),
    );
    let out = keqv(&[
        OsString::from("verify"),
        fixture("k3/a_seq_mlp.keras").into(),
        fixture("k3/a_func_mlp.keras").into(),
        "--device".into(),
        "cpu".into(),
        "--inputs".into(),
        path.into(),
        "--format".into(),
        "json".into(),
    ]);
    let json: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}\nstdout: {}\nstderr: {}", out.stdout, out.stderr));
    assert_eq!(
        json["assumptions"]["inputs"]["casts"],
        json!(["input 'input_layer': int64 cast to float32"]),
        "stderr: {}",
        out.stderr
    );
}

/// An integer beyond ±2^24 has no exact float32: refused, naming the file (and array), the
/// value, where it is, and what to do.
#[test]
fn integers_float32_cannot_hold_are_refused() {
    let s = Scratch::new();
    let mut ids: Vec<i64> = (0..8 * 784).map(|i| i % 7).collect();
    ids[3 * 784 + 100] = (1 << 24) + 1;
    let path = s.write(
        "ids.npy",
        &int_npy("<i8", &[8, 784], &ids, i64::to_le_bytes),
    );
    let line = input_error("k3/a_seq_mlp.keras", &path);
    assert_mentions(
        &line,
        &[
            &format!(
                "keqv: error: {}: int64 value 16777217 at index [3, 100]",
                path.display()
            ),
            "cannot be represented exactly in float32",
            "integers beyond ±16777216 (2^24) lose digits; renumber token ids below 16777216",
        ],
    );
    // 2^24 itself is exact.
    ids[3 * 784 + 100] = 1 << 24;
    let path = s.write(
        "ids_max.npy",
        &int_npy("<i8", &[8, 784], &ids, i64::to_le_bytes),
    );
    assert_eq!(keqv::npy::read_npy(&path).unwrap()[[3, 100]], 16_777_216.0);
    // In an .npz, the array is named too; a negative, big-endian value.
    let a = keqv::npy::to_npy(&ArrayD::zeros(IxDyn(&[8, 8])));
    let mut b: Vec<i32> = vec![1; 64];
    b[9] = -(1 << 24) - 1;
    let members: Members = vec![
        ("a.npy".into(), a),
        (
            "b.npy".into(),
            int_npy(">i4", &[8, 8], &b, i32::to_be_bytes),
        ),
    ];
    let path = s.path("ids.npz");
    write_zip(&path, &members, zip::CompressionMethod::Stored);
    assert_mentions(
        &input_error("k3/e_shared.keras", &path),
        &[&format!(
            "{}:b.npy: int32 value -16777217 at index [1, 1]",
            path.display()
        )],
    );
}

#[test]
fn npy_with_the_wrong_shape() {
    let s = Scratch::new();
    let x = read_npy(&fixture("inputs/a_seq_mlp.npy"));
    let path = s.path("narrow.npy");
    keqv::npy::write_npy(
        &path,
        &x.slice(ndarray::s![.., ..100]).to_owned().into_dyn(),
    )
    .unwrap();
    assert_mentions(
        &input_error("k3/a_seq_mlp.keras", &path),
        &[
            "input 'input_layer' has shape [8, 100]; the model expects (batch, 784)",
            "(N, 784)",
        ],
    );
    let path = s.path("empty_batch.npy");
    keqv::npy::write_npy(&path, &ArrayD::zeros(IxDyn(&[0, 784]))).unwrap();
    assert_mentions(
        &input_error("k3/a_seq_mlp.keras", &path),
        &["0 samples", "at least one sample"],
    );
    // A two-input model given one .npy.
    assert_mentions(
        &input_error("k3/e_shared.keras", &fixture("inputs/a_seq_mlp.npy")),
        &["the model has 2 inputs (a, b); give an .npz"],
    );
}

#[test]
fn npz_with_missing_input_names() {
    let s = Scratch::new();
    let arrays = keqv::npy::read_npz(&fixture("inputs/e_shared.npz")).unwrap();
    let a = &arrays.iter().find(|(k, _)| k == "a").unwrap().1;
    let b = &arrays.iter().find(|(k, _)| k == "b").unwrap().1;
    let path = s.path("only_a.npz");
    keqv::npy::write_npz(&path, &[("a".into(), a)]).unwrap();
    assert_mentions(
        &input_error("k3/e_shared.keras", &path),
        &[
            "has no array named 'b' (it has [a]; the model's inputs are [a, b])",
            "numpy.savez(FILE, a=…, b=…)",
        ],
    );
    // Two arrays, one misnamed: refused rather than matched by position.
    let path = s.path("misnamed.npz");
    keqv::npy::write_npz(&path, &[("a".into(), a), ("c".into(), b)]).unwrap();
    assert_mentions(
        &input_error("k3/e_shared.keras", &path),
        &["has no array named 'b'"],
    );
    // Every input found, and one array more: named, not ignored.
    let path = s.path("extra.npz");
    keqv::npy::write_npz(
        &path,
        &[("a".into(), a), ("b".into(), b), ("labels".into(), b)],
    )
    .unwrap();
    assert_mentions(
        &input_error("k3/e_shared.keras", &path),
        &["array 'labels' is no input of the model (its inputs are [a, b])"],
    );
    // Different batch sizes.
    let short = b.slice(ndarray::s![..3, ..]).to_owned().into_dyn();
    let path = s.path("batches.npz");
    keqv::npy::write_npz(&path, &[("a".into(), a), ("b".into(), &short)]).unwrap();
    assert_mentions(
        &input_error("k3/e_shared.keras", &path),
        &["different batch sizes ('a' 8, 'b' 3)"],
    );
}

/// numpy.savez(file, x, y) names arrays arr_0, arr_1: those are matched by position.
#[test]
fn npz_with_positional_names_runs() {
    let s = Scratch::new();
    let arrays = keqv::npy::read_npz(&fixture("inputs/e_shared.npz")).unwrap();
    let a = &arrays.iter().find(|(k, _)| k == "a").unwrap().1;
    let b = &arrays.iter().find(|(k, _)| k == "b").unwrap().1;
    let path = s.path("positional.npz");
    keqv::npy::write_npz(&path, &[("arr_1".into(), b), ("arr_0".into(), a)]).unwrap();
    let (got, _) = run_ok(&s, &fixture("k3/e_shared.keras"), &path, &[]);
    let want = read_npy(&fixture("k3/e_shared.expected.npy"));
    assert!(max_abs_diff(&got, &want) < 1e-4);
}

// ---------------------------------------------------------------------------------------------
// Options

#[test]
fn weights_of_a_different_model() {
    let cases = [
        (
            "k3/a_seq_mlp.keras",
            "k3/c_func_skip.weights.h5",
            "weights group 'layers/dense' belongs to a layer named 'dense_x'",
        ),
        (
            "tfk/a_seq_mlp.h5",
            "tfk/c_func_skip_legacyweights.h5",
            "has weights for layer 'dense_x', which the model does not have",
        ),
        (
            "tfk/a_seq_mlp.h5",
            "tfk/c_func_skip.weights.h5",
            "has weights in 'layers/dense_2' that no layer of model 'sequential' maps to",
        ),
        (
            "k3/c_func_skip.keras",
            "k3/a_seq_mlp.keras",
            "weights group 'layers/dense' belongs to a layer named 'dense'",
        ),
    ];
    for (model, weights, message) in cases {
        let weights = fixture(weights);
        let line = refused_with(
            &fixture(model),
            &["--weights", weights.to_str().unwrap()],
            &weights,
        );
        assert_mentions(&line, &[message, "pass the weights saved from this model"]);
    }
}

#[test]
fn weights_file_that_is_not_hdf5() {
    let s = Scratch::new();
    let text = s.write("weights.h5", b"not weights");
    let line = refused_with(
        &fixture("k3/a_seq_mlp.keras"),
        &["--weights", text.to_str().unwrap()],
        &text,
    );
    assert_mentions(&line, &["neither a .keras (zip) archive nor an HDF5 file"]);
    let cut = s.truncated("k3/a_seq_mlp.weights.h5", 4096, "cut.weights.h5");
    let line = refused_with(
        &fixture("k3/a_seq_mlp.keras"),
        &["--weights", cut.to_str().unwrap()],
        &cut,
    );
    assert_mentions(&line, &["the HDF5 file is truncated: it has 4096 of its"]);
}

#[test]
fn malformed_custom_flag() {
    for flag in [
        "FeatureNormalization",
        "=l2_normalize",
        "FeatureNormalization=",
    ] {
        let line = error_line(&[
            OsString::from("inspect"),
            fixture("k3/b_seq_custom.keras").into(),
            "--custom".into(),
            flag.into(),
        ]);
        assert_mentions(
            &line,
            &[
                &format!("--custom '{flag}' is not NAME=BUILTIN"),
                "--custom FeatureNormalization=l2_normalize",
            ],
        );
    }
    let line = error_line(&[
        OsString::from("inspect"),
        fixture("k3/b_seq_custom.keras").into(),
        "--custom".into(),
        "FeatureNormalization=l3_normalize".into(),
    ]);
    assert_mentions(
        &line,
        &[
            "is mapped to 'l3_normalize', which is not a built-in",
            "l2_normalize",
        ],
    );
}

/// TimeDistributed around a layer keqv does not run names the wrapped class and says where to
/// look for what it runs.
#[test]
fn time_distributed_around_a_layer_keqv_does_not_run_is_refused() {
    let s = Scratch::new();
    let path = keras_with_config(&s, "k3/t_timedist_seq.keras", "wrapped.keras", |c| {
        layer(c, "time_distributed_1")["config"]["layer"]["class_name"] = json!("RandomCrop")
    });
    assert_mentions(
        &refused(&path),
        &[
            "layer 'time_distributed_1' (TimeDistributed)",
            "wraps a RandomCrop, which keqv does not run",
            "README 'Supported layers'",
        ],
    );
}
