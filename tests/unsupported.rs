//! Models holding layers keqv cannot run (models/unsupported/, written by
//! models/generate_unsupported.py): Keras built-ins keqv does not support yet are told apart
//! from a user's own layer, every such layer is named in one line, and `keqv inspect` still
//! describes the whole model.

use std::path::PathBuf;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

fn model(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("models/unsupported")
        .join(name)
}

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn keqv(args: &[&str]) -> Output {
    let out = Command::cargo_bin("keqv")
        .unwrap()
        .args(args)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `keqv run` refuses the model with exit code 2 and one line; returns it.
fn refused(name: &str) -> String {
    let path = model(name);
    let out = keqv(&["run", "--device", "cpu", path.to_str().unwrap()]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    let prefix = format!("keqv: error: {}: ", path.display());
    assert!(lines[0].starts_with(&prefix), "{}", lines[0]);
    lines[0][prefix.len()..].to_string()
}

#[test]
fn built_ins_keqv_does_not_run_are_named_together_without_custom_advice() {
    assert_eq!(
        refused("conv.keras"),
        "2 layers keqv cannot run: 'conv1' (SpectralNormalization), 'crop' (RandomCrop) are Keras built-ins keqv does not support yet (supported: see README 'Supported layers')"
    );
    assert_eq!(
        refused("seq.h5"),
        "2 layers keqv cannot run: 'hash' (Hashing), 'local' (LocallyConnected1D) are Keras built-ins keqv does not support yet (supported: see README 'Supported layers')"
    );
}

#[test]
fn built_ins_and_a_custom_layer_each_get_their_own_advice() {
    for name in ["mixed.keras", "mixed.h5"] {
        assert_eq!(
            refused(name),
            "3 layers keqv cannot run: 'conv1' (SpectralNormalization), 'crop' (RandomCrop) are Keras built-ins keqv does not support yet (supported: see README 'Supported layers'); 'norm' (mypkg>FeatureNormalization) is a custom layer: map it with --custom FeatureNormalization=BUILTIN",
            "{name}"
        );
    }
    // Mapping the custom layer leaves the built-ins, named as before.
    let path = model("mixed.keras");
    let out = keqv(&[
        "run",
        "--device",
        "cpu",
        path.to_str().unwrap(),
        "--custom",
        "FeatureNormalization=l2_normalize",
    ]);
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr.contains(
            "2 layers keqv cannot run: 'conv1' (SpectralNormalization), 'crop' (RandomCrop) are Keras built-ins"
        ) && !out.stderr.contains("norm"),
        "{}",
        out.stderr
    );
}

#[test]
fn verify_names_the_layers_keqv_cannot_run() {
    let (a, b) = (model("mixed.keras"), model("mixed.h5"));
    let out = keqv(&[
        "verify",
        "--device",
        "cpu",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    ]);
    assert_eq!(out.code, Some(2));
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("3 layers keqv cannot run"),
        "{}",
        out.stderr
    );
}

#[test]
fn inspect_shows_every_layer_and_its_status() {
    let path = model("mixed.h5");
    let out = keqv(&["inspect", path.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let rows: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("layer "))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    let expected: [&[&str]; 6] = [
        &[
            "image",
            "InputLayer",
            "input",
            "(None, 8, 8, 3)",
            "0",
            "cpu+gpu",
        ],
        &[
            "conv1",
            "SpectralNormalization",
            "-",
            "-",
            "116",
            "image",
            "unsupported",
        ],
        &["crop", "RandomCrop", "-", "-", "0", "conv1", "unsupported"],
        &[
            "norm",
            "mypkg>FeatureNormalization",
            "-",
            "-",
            "0",
            "crop",
            "custom: map it",
        ],
        &["flatten", "Flatten", "-", "-", "0", "norm", "cpu+gpu"],
        &["out", "Dense", "-", "-", "195", "flatten", "cpu+gpu"],
    ];
    assert_eq!(rows.len(), expected.len(), "{}", out.stdout);
    for (row, want) in rows.iter().zip(expected) {
        assert_eq!(row.as_slice(), want, "{}", out.stdout);
    }
    assert!(
        out.stdout.contains("runs in keqv: no (3 layers cannot run: 'conv1' (SpectralNormalization): unsupported, 'crop' (RandomCrop): unsupported, 'norm' (mypkg>FeatureNormalization): custom: map it with --custom FeatureNormalization=BUILTIN)"),
        "{}",
        out.stdout
    );
}

#[test]
fn inspect_shows_a_mapped_layer_and_what_it_computes_up_to_the_first_gap() {
    let path = model("mixed.keras");
    let out = keqv(&[
        "inspect",
        path.to_str().unwrap(),
        "--custom",
        "FeatureNormalization=l2_normalize",
        "--format",
        "json",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["runnable"], false);
    let status: Vec<&str> = json["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        status,
        [
            "cpu+gpu",
            "unsupported",
            "unsupported",
            "mapped → l2_normalize",
            "cpu+gpu",
            "cpu+gpu"
        ]
    );
    let image = &json["layers"][0];
    assert_eq!(image["op"], "input");
    assert_eq!(image["output_shape"], serde_json::json!([null, 8, 8, 3]));
    let conv = &json["layers"][1];
    assert_eq!(conv["op"], Value::Null);
    assert_eq!(conv["output_shape"], Value::Null);
    // The values the file stores for it: Keras 3 writes the wrapped kernel twice (the wrapper's
    // variable and the inner Conv2D's), so 224 where Keras's count_params says 116.
    assert_eq!(conv["parameters"], 224);
    assert_eq!(json["outputs"][0]["shape"], Value::Null);
}

#[test]
fn inspect_of_a_runnable_model_says_so() {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/k3/a_seq_mlp.keras");
    let out = keqv(&["inspect", fixture.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["runnable"], true);
    assert!(json["layers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["status"] == "cpu+gpu"));
    let text = keqv(&["inspect", fixture.to_str().unwrap()]).stdout;
    assert!(text.ends_with("runs in keqv: yes\n"), "{text}");
}

#[test]
fn a_layer_keqv_runs_is_refused_when_called_with_a_keyword_tensor() {
    for name in ["softmax_mask.keras", "softmax_mask.h5"] {
        assert_eq!(
            refused(name),
            "layer 'sm' (Softmax): is called with a tensor as keyword argument 'mask', which keqv does not support for Softmax yet",
            "{name}"
        );
    }
}

/// MultiHeadAttention's `value=` keyword tensor and Attention run; the Softmax's `mask=` alone
/// is refused.
#[test]
fn only_the_keyword_tensor_keqv_cannot_read_is_refused() {
    for name in ["keywords.keras", "keywords.h5"] {
        assert_eq!(
            refused(name),
            "layer 'sm' (Softmax): is called with a tensor as keyword argument 'mask', which keqv does not support for Softmax yet",
            "{name}"
        );
    }
}

/// The layers feeding a call by keyword are among its inbound layers, in `inspect` and in
/// `convert`'s analysis alike.
#[test]
fn inspect_and_convert_count_keyword_tensors_as_inputs() {
    for name in ["keywords.keras", "keywords.h5"] {
        let path = model(name);
        let out = keqv(&["inspect", path.to_str().unwrap(), "--format", "json"]);
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        let json: Value = serde_json::from_str(&out.stdout).unwrap();
        let layer = |name: &str| {
            json["layers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["name"] == name)
                .unwrap_or_else(|| panic!("no layer {name}"))
                .clone()
        };
        assert_eq!(layer("mha")["inbound"], serde_json::json!(["q", "v"]));
        assert_eq!(layer("sm")["inbound"], serde_json::json!(["q", "m"]));
        assert_eq!(layer("sm")["status"], "keyword 'mask': unsupported");
        let problems: Vec<&str> = json["chain_problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        assert!(
            problems.contains(&"sm merges 2 tensors (q, m)"),
            "{problems:?}"
        );
        let model = keqv::keras::KerasModel::load(&path, None).unwrap();
        match keqv::convert::plan::analyze(&model).unwrap() {
            keqv::convert::plan::Analysis::NotChain(from_config) => {
                assert_eq!(from_config, problems, "{name}")
            }
            keqv::convert::plan::Analysis::Chain(_) => panic!("{name} is no chain"),
        }
    }
}
