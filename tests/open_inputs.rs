//! Inputs whose dimensions a model leaves open (`None`): settled by `--input-shape` or by the
//! shapes of the `--inputs` file; every mistake ends with exit code 2 and one line naming the
//! input, its shape, how many dimensions it needs, which are open, and the flag to pass.
//!
//! The models are fixtures whose InputLayer shape is opened here, in a copy.

mod common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use common::files::keras_with_config;
use common::fixture;
use serde_json::{json, Value};

/// A copy of the `.keras` fixture `rel` in `dir`, its config changed by `edit`.
fn with_config(dir: &Path, rel: &str, name: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let path = dir.join(name);
    keras_with_config(&fixture(rel), &path, edit);
    path
}

/// The config entry of layer `name`.
fn layer<'v>(config: &'v mut Value, name: &str) -> &'v mut Value {
    config["config"]["layers"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|l| l["config"]["name"] == name)
        .unwrap_or_else(|| panic!("no layer {name}"))
}

/// A copy of the `.keras` fixture `rel` in `dir`, with the `batch_shape` of the named
/// InputLayers replaced.
fn opened(dir: &Path, rel: &str, name: &str, shapes: &[(&str, Value)]) -> PathBuf {
    with_config(dir, rel, name, |config| {
        for (input, shape) in shapes {
            layer(config, input)["config"]["batch_shape"] = shape.clone();
        }
    })
}

struct Models {
    _dir: tempfile::TempDir,
    /// a_seq_mlp with input (None, None): 784 open.
    mlp: PathBuf,
    /// e_layout with input (None, 3, None, 5): 4 open.
    layout: PathBuf,
    /// e_shared with inputs a and b both (None, None).
    shared: PathBuf,
}

fn models() -> Models {
    let dir = tempfile::tempdir().unwrap();
    let mlp = opened(
        dir.path(),
        "k3/a_seq_mlp.keras",
        "mlp_open.keras",
        &[("input_layer", json!([null, null]))],
    );
    let layout = opened(
        dir.path(),
        "k3/e_layout.keras",
        "layout_open.keras",
        &[("x", json!([null, 3, null, 5]))],
    );
    let shared = opened(
        dir.path(),
        "k3/e_shared.keras",
        "shared_open.keras",
        &[("a", json!([null, null])), ("b", json!([null, null]))],
    );
    Models {
        _dir: dir,
        mlp,
        layout,
        shared,
    }
}

fn keqv(args: &[&dyn AsRef<std::ffi::OsStr>]) -> std::process::Output {
    let args: Vec<OsString> = args.iter().map(|a| a.as_ref().to_os_string()).collect();
    common::keqv().args(&args).output().unwrap()
}

fn ok(args: &[&dyn AsRef<std::ffi::OsStr>]) -> String {
    let out = keqv(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Expects exit code 2 and one `keqv: error: …` line mentioning every part; returns it.
fn refused(args: &[&dyn AsRef<std::ffi::OsStr>], parts: &[&str]) -> String {
    let out = keqv(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line:\n{stderr}");
    assert!(lines[0].starts_with("keqv: error: "), "{stderr}");
    for part in parts {
        assert!(
            lines[0].contains(part),
            "{}\ndoes not mention {part:?}",
            lines[0]
        );
    }
    lines[0].to_string()
}

#[test]
fn the_inputs_file_settles_open_dimensions() {
    let m = models();
    let mlp_in = fixture("inputs/a_seq_mlp.npy");
    let closed = ok(&[
        &"run",
        &"--device",
        &"cpu",
        &fixture("k3/a_seq_mlp.keras"),
        &"--inputs",
        &mlp_in,
    ]);
    let open = ok(&[&"run", &"--device", &"cpu", &m.mlp, &"--inputs", &mlp_in]);
    assert_eq!(open, closed);
    // A flag that agrees with the file changes nothing.
    let flagged = ok(&[
        &"run",
        &"--device",
        &"cpu",
        &m.mlp,
        &"--inputs",
        &mlp_in,
        &"--input-shape",
        &"input_layer=784",
    ]);
    assert_eq!(flagged, closed);

    // Several open dimensions, and several inputs from an .npz.
    let layout_in = fixture("inputs/e_layout.npy");
    assert_eq!(
        ok(&[
            &"run",
            &"--device",
            &"cpu",
            &m.layout,
            &"--inputs",
            &layout_in
        ]),
        ok(&[
            &"run",
            &"--device",
            &"cpu",
            &fixture("k3/e_layout.keras"),
            &"--inputs",
            &layout_in
        ])
    );
    let shared_in = fixture("inputs/e_shared.npz");
    assert_eq!(
        ok(&[
            &"run",
            &"--device",
            &"cpu",
            &m.shared,
            &"--inputs",
            &shared_in
        ]),
        ok(&[
            &"run",
            &"--device",
            &"cpu",
            &fixture("k3/e_shared.keras"),
            &"--inputs",
            &shared_in
        ])
    );

    // verify settles both sides from the file.
    let report = ok(&[
        &"verify",
        &"--device",
        &"cpu",
        &m.shared,
        &fixture("k3/e_shared.keras"),
        &"--inputs",
        &shared_in,
    ]);
    assert!(report.starts_with("EQUIVALENT"), "{report}");
}

#[test]
fn verify_settles_an_input_of_another_name_by_position() {
    let dir = tempfile::tempdir().unwrap();
    // The converted model calls its input 'pixels' and leaves its size open.
    let renamed = with_config(
        dir.path(),
        "k3/a_seq_mlp.keras",
        "renamed.keras",
        |config| {
            let input = layer(config, "input_layer");
            input["config"]["name"] = json!("pixels");
            input["config"]["batch_shape"] = json!([null, null]);
        },
    );
    let report = ok(&[
        &"verify",
        &"--device",
        &"cpu",
        &fixture("k3/a_seq_mlp.keras"),
        &renamed,
        &"--inputs",
        &fixture("inputs/a_seq_mlp.npy"),
    ]);
    assert!(report.starts_with("EQUIVALENT"), "{report}");
}

#[test]
fn a_flag_that_contradicts_the_inputs_file_names_both() {
    let m = models();
    let mlp_in = fixture("inputs/a_seq_mlp.npy");
    refused(
        &[
            &"run",
            &"--device",
            &"cpu",
            &m.mlp,
            &"--inputs",
            &mlp_in,
            &"--input-shape",
            &"input_layer=700",
        ],
        &[
            "--input-shape input_layer=700 conflicts with",
            "a_seq_mlp.npy, whose array for 'input_layer' is (8, 784)",
            "needs 1 dimension (D1 open)",
        ],
    );
    // A file that cannot be the input at all says which shape it must have.
    refused(
        &[&"run", &"--device", &"cpu", &m.layout, &"--inputs", &mlp_in],
        &[
            "the array for input 'x' is (8, 784)",
            "give an array of shape (N, 3, D2, 5)",
        ],
    );
}

#[test]
fn an_unknown_input_name_lists_the_model_inputs() {
    let m = models();
    refused(
        &[
            &"run",
            &"--device",
            &"cpu",
            &m.shared,
            &"--input-shape",
            &"c=8",
        ],
        &[
            "--input-shape c=8: the model has no input named 'c'",
            "'a' (None, None) (--input-shape a=D1) and 'b' (None, None) (--input-shape b=D1)",
        ],
    );
    // Even for a model with no open dimensions, where the flag used to be ignored.
    refused(
        &[
            &"run",
            &"--device",
            &"cpu",
            &fixture("k3/a_seq_mlp.keras"),
            &"--input-shape",
            &"inputs=784",
        ],
        &["no input named 'inputs'", "'input_layer' (None, 784)"],
    );
    // verify: a name of either model is known.
    refused(
        &[
            &"verify",
            &"--device",
            &"cpu",
            &m.mlp,
            &fixture("k3/a_seq_mlp.keras"),
            &"--input-shape",
            &"x=5",
        ],
        &[
            "neither model has an input named 'x'",
            "the original's inputs are 'input_layer' (None, None)",
        ],
    );
}

#[test]
fn input_shape_mistakes_say_how_many_dimensions_and_which_are_open() {
    let m = models();
    let needs = "input 'x' is (None, 3, None, 5), the batch first: --input-shape x=3,D2,5 needs 3 dimensions (D2 open)";
    for flag in ["x=4", "x=3,4,6", "x=3,4,5,1", "x=3,four,5", "x=3,0,5"] {
        refused(
            &[&"inspect", &m.layout, &"--input-shape", &flag],
            &["--input-shape", flag, needs],
        );
    }
    refused(
        &[&"run", &"--device", &"cpu", &m.mlp, &"--input-shape", &"input_layer=784,1"],
        &["--input-shape input_layer=784,1: input 'input_layer' is (None, None), the batch first: --input-shape input_layer=D1 needs 1 dimension (D1 open)"],
    );
    // A settled shape runs.
    let out = ok(&[
        &"run",
        &"--device",
        &"cpu",
        &m.layout,
        &"--input-shape",
        &"x=3,4,5",
    ]);
    assert!(out.contains("shape [8, 5]"), "{out}");
}

#[test]
fn open_dimensions_and_no_flag_say_exactly_what_to_pass() {
    let m = models();
    refused(
        &[&"run", &"--device", &"cpu", &m.mlp],
        &[
            "mlp_open.keras: input 'input_layer' is (None, None), the batch first, and leaves D1 open",
            "pass --input-shape input_layer=D1",
            "or --inputs FILE.npy",
        ],
    );
    refused(
        &[&"bench", &"--device", &"cpu", &m.layout],
        &[
            "leaves D2 open",
            "pass --input-shape x=3,D2,5",
            "or --inputs FILE.npy",
        ],
    );
    refused(
        &[
            &"verify",
            &"--device",
            &"cpu",
            &m.shared,
            &fixture("k3/e_shared.keras"),
            &"--input-shape",
            &"a=8",
        ],
        &[
            "input 'b' is (None, None)",
            "pass --input-shape b=D1",
            "or --inputs FILE.npz",
        ],
    );
    // inspect needs no shape: it shows the open dimensions, says which flag settles them,
    // and leaves what depends on them unknown.
    let text = ok(&[&"inspect", &m.shared]);
    for part in [
        "inputs   a (None, None), b (None, None)",
        "open     input 'a' is (None, None), the batch first, and leaves D1 open; pass --input-shape a=D1",
        "runs in keqv: yes, once the open input dimensions are settled",
    ] {
        assert!(text.contains(part), "{text}\ndoes not mention {part:?}");
    }
    assert!(!text.contains("--inputs"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(&[&"inspect", &m.shared, &"--format", &"json"])).unwrap();
    assert_eq!(json["runnable"], false);
    assert_eq!(json["inputs"][0]["shape"], json!([null, null]));
    assert_eq!(json["open_inputs"].as_array().unwrap().len(), 2);
    // Settled, everything is known again.
    let text = ok(&[
        &"inspect",
        &m.shared,
        &"--input-shape",
        &"a=8",
        &"--input-shape",
        &"b=8",
    ]);
    assert!(text.contains("runs in keqv: yes\n"), "{text}");
    assert!(!text.contains("  open "), "{text}");
}
