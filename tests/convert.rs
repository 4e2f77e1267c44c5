//! `keqv convert`: every chain-shaped fixture (and keras.applications' VGG16 and MobileNet where
//! they were generated), in every output format and dialect, is written as
//! a Sequential model that keqv's readers read back with the same layer names, configs and
//! weights and that computes the same outputs; Keras itself loads every written file and
//! predicts what the original predicted (tests/keras_loads.py); models that are not chains are
//! refused with their exact reasons.

mod common;

use std::path::{Path, PathBuf};

use common::converted::{layer_changes, output_differences};
use common::{keqv, Fixture};
use keqv::convert::plan::{analyze, Analysis};
use keqv::convert::{convert, Converted, Target};
use keqv::graph::build::build;
use keqv::keras::{Dialect, Format, KerasModel, LayerConfig};
use serde_json::Value;

const TARGETS: [(Format, Dialect); 4] = [
    (Format::Keras, Dialect::Keras3),
    (Format::H5, Dialect::Keras3),
    (Format::Keras, Dialect::TfKeras2),
    (Format::H5, Dialect::TfKeras2),
];

/// One converted file.
struct Written {
    fixture: String,
    source_dialect: Dialect,
    file: PathBuf,
    target: Target,
    /// The layer names the Sequential model must have (after its input).
    layers: Vec<String>,
    input: PathBuf,
    expected: PathBuf,
    /// The file converted, and the weights loaded onto it.
    source: PathBuf,
    source_weights: Option<PathBuf>,
    /// How far the other Keras may be from the saved prediction: tol + tol·|b|.
    tol: f64,
}

/// The chain-shaped fixtures, and the chain-shaped keras.applications models where they were
/// generated (tests/applications.rs requires them in CI): VGG16 from a tf-keras `.h5`,
/// MobileNet from a Keras 3 `.keras`, so that each source dialect and format is converted.
fn chain_fixtures() -> Vec<Fixture> {
    let applications = common::applications()
        .unwrap_or_default()
        .into_iter()
        .filter(|f| matches!(f.path.as_str(), "tfk/vgg16.h5" | "k3/mobilenet.keras"));
    common::fixtures()
        .into_iter()
        .chain(applications)
        .filter(|f| f.chain)
        .collect()
}

fn file_name(fixture: &Fixture, target: Target) -> String {
    let dialect = match target.dialect {
        Dialect::Keras3 => "k3",
        Dialect::TfKeras2 => "tfk",
    };
    let ext = match target.format {
        Format::Keras => "keras",
        Format::H5 => "h5",
    };
    let weights = if fixture.weights.is_some() {
        fixture
            .weights
            .as_deref()
            .and_then(|w| Path::new(w).file_stem())
            .map(|s| format!("+{}", s.to_string_lossy()))
            .unwrap_or_default()
    } else {
        String::new()
    };
    let source = Path::new(&fixture.path)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace('.', "_");
    format!("{}_{source}{weights}.to_{dialect}.{ext}", fixture.writer)
}

fn has_lambda(model: &KerasModel) -> bool {
    fn walk(layers: &[LayerConfig]) -> bool {
        layers
            .iter()
            .any(|l| l.class_name == "Lambda" || l.nested.as_ref().is_some_and(|m| walk(&m.layers)))
    }
    walk(&model.model.layers)
}

/// Converts every chain fixture to every target into `dir`; refusals must be exactly the
/// cross-dialect Lambda conversions.
fn convert_all(dir: &Path) -> (Vec<Written>, Vec<String>) {
    let mut written = Vec::new();
    let mut failures = Vec::new();
    for fixture in chain_fixtures() {
        let model = fixture
            .load()
            .unwrap_or_else(|e| panic!("{}: {e}", fixture.id()));
        let graph = build(&model, &fixture.options()).ok();
        if fixture.runnable && graph.is_none() {
            failures.push(format!("{}: runnable but does not build", fixture.id()));
            continue;
        }
        let layers: Vec<String> = match analyze(&model).unwrap() {
            Analysis::Chain(plan) => plan.steps.iter().map(|s| s.layer.name.clone()).collect(),
            Analysis::NotChain(p) => {
                failures.push(format!(
                    "{}: marked chain, analysed as not: {p:?}",
                    fixture.id()
                ));
                continue;
            }
        };
        for (format, dialect) in TARGETS {
            let target = Target { format, dialect };
            let file = dir.join(file_name(&fixture, target));
            let refused = has_lambda(&model) && model.dialect != dialect;
            match convert(&model, graph.as_ref(), target, &file) {
                Ok(Converted::Written { .. }) if !refused => written.push(Written {
                    fixture: fixture.id(),
                    source_dialect: model.dialect,
                    file,
                    target,
                    layers: layers.clone(),
                    input: fixture.base.join(&fixture.input),
                    expected: fixture.base.join(&fixture.expected),
                    source: fixture.base.join(&fixture.path),
                    source_weights: fixture.weights.as_ref().map(|w| fixture.base.join(w)),
                    // keras.applications' deep CNNs (generated outside the repo): XLA's and
                    // oneDNN's convolutions sum in different orders.
                    tol: if fixture.base == common::root() {
                        1e-6
                    } else {
                        1e-4
                    },
                }),
                Err(e) if refused && e.to_string().contains("Lambda") => {}
                other => failures.push(format!("{} -> {target}: {other:?}", fixture.id())),
            }
        }
    }
    (written, failures)
}

/// Leaf layers of the source in plan order, for comparison with what was read back.
fn source_layers(model: &KerasModel) -> Vec<&LayerConfig> {
    match analyze(model).unwrap() {
        Analysis::Chain(plan) => plan.steps.iter().map(|s| s.layer).collect(),
        Analysis::NotChain(p) => panic!("not a chain: {p:?}"),
    }
}

#[test]
fn every_chain_fixture_round_trips_through_keqvs_readers() {
    let dir = tempfile::tempdir().unwrap();
    let (written, mut failures) = convert_all(dir.path());
    let fixtures = chain_fixtures();
    for w in &written {
        let fixture = fixtures.iter().find(|f| f.id() == w.fixture).unwrap();
        let source = fixture.load().unwrap();
        let back = match KerasModel::load(&w.file, None) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{} -> {}: unreadable: {e}", w.fixture, w.target));
                continue;
            }
        };
        let id = format!("{} -> {}", w.fixture, w.target);
        let mut check = |ok: bool, what: String| {
            if !ok {
                failures.push(format!("{id}: {what}"));
            }
        };
        check(back.model.is_sequential(), "not Sequential".into());
        check(
            back.format == w.target.format,
            format!("format {:?}", back.format),
        );
        check(
            back.dialect == w.target.dialect,
            format!("dialect {}", back.dialect),
        );
        check(
            back.model.name == source.model.name,
            "model name changed".into(),
        );
        let leaves = source_layers(&source);
        let read: Vec<&LayerConfig> = back.model.layers.iter().skip(1).collect();
        let names: Vec<&str> = read.iter().map(|l| l.name.as_str()).collect();
        check(
            names == w.layers,
            format!("layers {names:?}, want {:?}", w.layers),
        );
        for (src, got) in leaves.iter().zip(&read) {
            let same_dialect = source.dialect == w.target.dialect;
            for change in layer_changes(src, got, same_dialect) {
                check(false, change);
            }
        }
        if !fixture.runnable {
            continue;
        }
        match output_differences(fixture, &back) {
            // Within a dialect the ops are the same; across dialects UnitNormalization's
            // floor differs (1e-24 vs 1e-12 on Σx²), which these inputs never reach.
            Ok(maxima) => {
                for max in maxima {
                    check(max == 0.0, format!("outputs differ by {max:e}"));
                }
            }
            Err(e) => failures.push(format!("{id}: {e}")),
        }
    }
    eprintln!("{} files written and read back", written.len());
    assert!(written.len() >= 150, "only {} files written", written.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn keras_loads_every_written_file_and_predicts_the_same() {
    let test = "keras_loads_every_written_file_and_predicts_the_same";
    let Some(python) = common::keras::python_for(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (written, mut failures) = convert_all(dir.path());
    let manifest: Vec<serde_json::Value> = written
        .iter()
        .map(|w| {
            serde_json::json!({
                "file": w.file,
                "dialect": match w.target.dialect { Dialect::Keras3 => "keras3", Dialect::TfKeras2 => "tf-keras" },
                "input": w.input,
                "expected": w.expected,
                "layers": w.layers,
                "exact": w.source_dialect == w.target.dialect,
                "source": w.source,
                "source_weights": w.source_weights,
                "tol": w.tol,
            })
        })
        .collect();
    let mut worst = (0f64, String::new());
    let mut exact = 0;
    for r in common::keras::load_and_predict(&python, dir.path(), &manifest) {
        let file = r["file"].as_str().unwrap_or_default().to_string();
        let max = r["max_abs"].as_f64().unwrap_or(f64::NAN);
        exact += usize::from(max == 0.0);
        if max > worst.0 {
            worst = (max, file.clone());
        }
        if r["ok"] != true {
            failures.push(format!("{file}: {}", r["error"]));
        }
    }
    eprintln!(
        "Keras loaded {} files; {exact} predict exactly what the original did; largest |keras(converted) - keras(original)| = {:e} ({})",
        written.len(),
        worst.0,
        worst.1
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `keqv convert` on a model that is not a chain: exit 1, the reasons, nothing written. The
/// offer of `--blocks` that may close the list is left out.
fn refused(model: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("out.keras");
    let out = keqv()
        .arg("convert")
        .arg(common::root().join(model))
        .arg("-o")
        .arg(&out_file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{model}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out_file.exists(), "{model}: a file was written");
    let mut lines = stdout.lines();
    assert!(
        lines
            .next()
            .unwrap_or_default()
            .ends_with("cannot be a Sequential model, so nothing was written:"),
        "{stdout}"
    );
    lines
        .filter(|l| !l.starts_with("pass --blocks"))
        .map(|l| l.trim_start_matches("  - ").to_string())
        .collect()
}

#[test]
fn skip_connection_is_refused_with_its_reasons() {
    for model in ["models/k3/c_func_skip.keras", "models/tfk/c_func_skip.h5"] {
        assert_eq!(
            refused(model),
            [
                "dense_x feeds 2 layers (dense_y, add): a skip connection",
                "add merges 2 tensors (dense_x, dense_y)",
            ],
            "{model}"
        );
    }
}

#[test]
fn shared_layer_and_two_inputs_are_refused_with_their_reasons() {
    for model in ["models/k3/e_shared.keras", "models/tfk/e_shared.h5"] {
        assert_eq!(
            refused(model),
            [
                "the model has 2 inputs (a, b)",
                "add merges 2 tensors (shared, shared#1)",
                "shared is applied twice (a shared layer)",
            ],
            "{model}"
        );
    }
    let zoo = refused("models/k3/e_zoo.keras");
    assert_eq!(zoo[0], "the model has 2 inputs (in_seq, in_vec)");
    assert_eq!(zoo[1], "the model has 2 outputs (out, resh)");
    assert!(
        zoo.contains(&"add merges 3 tensors (ln, d_b, mul)".to_string()),
        "{zoo:?}"
    );
    assert!(
        zoo.contains(&"add feeds 2 layers (cat, resh): a branch".to_string()),
        "{zoo:?}"
    );
}

#[test]
fn every_non_chain_fixture_is_explained() {
    for fixture in common::fixtures().into_iter().filter(|f| !f.chain) {
        let model = fixture.load().unwrap();
        match analyze(&model).unwrap() {
            Analysis::NotChain(problems) => assert!(!problems.is_empty(), "{}", fixture.id()),
            Analysis::Chain(_) => panic!("{}: analysed as a chain", fixture.id()),
        }
    }
}

#[test]
fn op_layers_are_named_as_what_a_sequential_model_cannot_hold() {
    for (model, want) in [
        ("models/k3/q_op_layers.keras", "add is an op layer"),
        ("models/k3/q_op_layers.h5", "add is an op layer"),
        (
            "models/tfk/q_op_layers.h5",
            "tf.__operators__.add is an op layer",
        ),
    ] {
        let want = format!("{want}, whose operands a Sequential model cannot hold");
        let reasons = refused(model);
        assert!(reasons.contains(&want), "{model}: {reasons:?}");
    }
}

#[test]
fn nested_functional_residual_is_named_by_its_path() {
    for model in [
        "models/k3/e_nested_func.keras",
        "models/tfk/e_nested_func.h5",
    ] {
        assert_eq!(
            refused(model),
            [
                "x feeds 2 layers (inner_func/if_d1, inner_func/if_add): a skip connection",
                "inner_func/if_add merges 2 tensors (x, inner_func/if_d2)",
            ],
            "{model}"
        );
    }
}

#[test]
fn convert_writes_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    for (model, out, extra) in [
        ("models/k3/e_nested.keras", "nested.keras", vec![]),
        (
            "models/tfk/a_func_mlp.h5",
            "mlp.h5",
            vec!["--dialect", "tf-keras"],
        ),
        (
            "models/k3/b_seq_custom.h5",
            "custom.keras",
            vec!["--custom", "FeatureNormalization=l2_normalize"],
        ),
    ] {
        let out_file = dir.path().join(out);
        let result = keqv()
            .arg("convert")
            .arg(common::root().join(model))
            .arg("-o")
            .arg(&out_file)
            .args(&extra)
            .args(["--device", "cpu"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&result.stdout);
        assert_eq!(
            result.status.code(),
            Some(0),
            "{model}: {stdout}{}",
            String::from_utf8_lossy(&result.stderr)
        );
        assert!(stdout.starts_with("wrote "), "{stdout}");
        assert!(out_file.exists());
    }
}

#[test]
fn a_model_keqv_cannot_run_needs_no_verify() {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("lambda.h5");
    let model = common::root().join("models/tfk/f_lambda.h5");
    let result = keqv()
        .arg("convert")
        .arg(&model)
        .arg("-o")
        .arg(&out_file)
        .args(["--dialect", "tf-keras"])
        .output()
        .unwrap();
    assert_eq!(result.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&result.stderr).contains("--no-verify"));
    assert!(!out_file.exists());
    let result = keqv()
        .arg("convert")
        .arg(&model)
        .arg("-o")
        .arg(&out_file)
        .args(["--dialect", "tf-keras", "--no-verify"])
        .output()
        .unwrap();
    assert_eq!(result.status.code(), Some(0));
    assert!(out_file.exists());
    // Lambda bytecode cannot be rewritten for the other Keras.
    let result = keqv()
        .arg("convert")
        .arg(&model)
        .arg("-o")
        .arg(dir.path().join("lambda3.h5"))
        .arg("--no-verify")
        .output()
        .unwrap();
    assert_eq!(result.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&result.stderr).contains("Lambda"));
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::root().join("models/k3/d_chain_func.keras");
    for out in ["out.txt", "out.weights.h5"] {
        let result = keqv()
            .arg("convert")
            .arg(&model)
            .arg("-o")
            .arg(dir.path().join(out))
            .output()
            .unwrap();
        assert_eq!(result.status.code(), Some(2), "{out}");
    }
    let copy = dir.path().join("copy.keras");
    std::fs::copy(&model, &copy).unwrap();
    let result = keqv()
        .arg("convert")
        .arg(&copy)
        .arg("-o")
        .arg(&copy)
        .output()
        .unwrap();
    assert_eq!(result.status.code(), Some(2));
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        std::fs::read(&model).unwrap()
    );
}

#[test]
fn hard_sigmoid_is_not_converted_across_dialects() {
    let fixture = common::root().join("models/k3/d_chain_func.keras");
    let mut model = KerasModel::load(&fixture, None).unwrap();
    let act = model
        .model
        .layers
        .iter_mut()
        .find(|l| l.name == "act")
        .unwrap();
    act.config["activation"] = serde_json::json!("hard_sigmoid");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.h5");
    let to_tfk = Target {
        format: Format::H5,
        dialect: Dialect::TfKeras2,
    };
    let err = convert(&model, None, to_tfk, &out).unwrap_err().to_string();
    assert!(
        err.contains("layer 'act'") && err.contains("hard_sigmoid"),
        "{err}"
    );
    assert!(!out.exists());
    let same = Target {
        format: Format::H5,
        dialect: Dialect::Keras3,
    };
    assert!(matches!(
        convert(&model, None, same, &out),
        Ok(Converted::Written { layers: 4 })
    ));
}

#[test]
fn inspect_and_convert_give_the_same_reasons() {
    for fixture in common::fixtures().into_iter().filter(|f| f.runnable) {
        let model = fixture.load().unwrap();
        let graph = build(&model, &fixture.options()).unwrap();
        let from_graph = keqv::graph::linear::chain_problems(&graph);
        let from_config = match analyze(&model).unwrap() {
            Analysis::Chain(_) => Vec::new(),
            Analysis::NotChain(p) => p,
        };
        assert_eq!(from_graph, from_config, "{}", fixture.id());
        assert_eq!(from_graph.is_empty(), fixture.chain, "{}", fixture.id());
    }
}

/// A Sequential `.h5` rewritten in its own dialect is the file Keras wrote, byte for byte; a
/// Sequential `.keras` has the same config.json.
#[test]
fn sequential_models_are_rewritten_as_keras_wrote_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for fixture in chain_fixtures().into_iter().filter(|f| f.weights.is_none()) {
        let model = fixture.load().unwrap();
        if !model.model.is_sequential() {
            continue;
        }
        let target = Target {
            format: model.format,
            dialect: model.dialect,
        };
        let out = dir.path().join(file_name(&fixture, target));
        convert(&model, None, target, &out).unwrap();
        let source = fixture.base.join(&fixture.path);
        match model.format {
            Format::H5 => assert!(
                std::fs::read(&out).unwrap() == std::fs::read(&source).unwrap(),
                "{}: not byte-identical",
                fixture.id()
            ),
            // An adapted IntegerLookup's vocabulary moves from the assets into the config.
            Format::Keras if has_assets(&source) => {
                let written: Value = serde_json::from_str(&member(&out, "config.json")).unwrap();
                let original: Value =
                    serde_json::from_str(&member(&source, "config.json")).unwrap();
                assert_eq!(
                    written,
                    with_asset_vocabularies(original, &written),
                    "{}",
                    fixture.id()
                );
            }
            Format::Keras => assert_eq!(
                member(&out, "config.json"),
                member(&source, "config.json"),
                "{}",
                fixture.id()
            ),
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} Sequential fixtures");
}

fn has_assets(archive: &Path) -> bool {
    let zip = zip::ZipArchive::new(std::fs::File::open(archive).unwrap()).unwrap();
    let assets = zip
        .file_names()
        .any(|n| n.is_ok_and(|n| n.starts_with("assets/")));
    assets
}

/// `original` with the vocabulary of each IntegerLookup whose config has none taken from the
/// same place in `written`.
fn with_asset_vocabularies(mut original: Value, written: &Value) -> Value {
    match (&mut original, written) {
        (Value::Object(o), Value::Object(w)) => {
            let lookup = o.get("class_name").and_then(Value::as_str) == Some("IntegerLookup");
            if let (true, Some(config), Some(vocabulary)) = (
                lookup,
                o.get_mut("config"),
                w.get("config").map(|c| c["vocabulary"].clone()),
            ) {
                if config["vocabulary"].is_null() {
                    config["vocabulary"] = vocabulary;
                }
            }
            for (key, value) in o.iter_mut() {
                if let Some(w) = w.get(key) {
                    *value = with_asset_vocabularies(value.take(), w);
                }
            }
        }
        (Value::Array(o), Value::Array(w)) => {
            for (value, w) in o.iter_mut().zip(w) {
                *value = with_asset_vocabularies(value.take(), w);
            }
        }
        _ => {}
    }
    original
}

fn member(archive: &Path, name: &str) -> String {
    use std::io::Read;
    let mut zip = zip::ZipArchive::new(std::fs::File::open(archive).unwrap()).unwrap();
    let mut text = String::new();
    zip.by_name(name)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}
