//! `keqv convert --blocks`: every fixture that is not a chain but has one input and one output
//! (the textbook skip connection, Inception-, DenseNet- and U-Net-style blocks, nested models,
//! a shared layer, …), and keras.applications' ResNet50, DenseNet121 and MobileNetV2 where they
//! were generated, is written in every dialect and format as a Sequential model of layers and
//! blocks that keqv reads back with the same layers, configs and weights and that computes the
//! same outputs; Keras itself loads every written file and predicts what the original predicted
//! (tests/keras_loads.py); the CLI lists the blocks and why, and refuses what no Sequential
//! model can be, with its reasons.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use common::converted::{layer_changes, output_differences};
use common::{keqv, Fixture};
use keqv::convert::block_plan::{analyze_blocks, BlockAnalysis, BlockPlan, Entry};
use keqv::convert::keras_order::{layer_order, Call};
use keqv::convert::{write_blocks, Target};
use keqv::graph::build::build;
use keqv::keras::{Dialect, Format, KerasModel, LayerConfig, ModelConfig};

const TARGETS: [(Format, Dialect); 4] = [
    (Format::Keras, Dialect::Keras3),
    (Format::H5, Dialect::Keras3),
    (Format::Keras, Dialect::TfKeras2),
    (Format::H5, Dialect::TfKeras2),
];

/// The fixtures each of which must be written to every target from both writers.
const REQUIRED: &[&str] = &[
    "c_func_skip",
    "e_nested_func",
    "z_inception",
    "z_dense_block",
    "z_unet",
    "z_nested_blocks",
    "z_shared_chain",
];

/// keras.applications models converted where they were generated: one file of each.
const APPLICATIONS: &[&str] = &[
    "k3/resnet50.keras",
    "k3/densenet121.h5",
    "tfk/mobilenet_v2.h5",
    "tfk/densenet121.h5",
];

/// One converted file.
struct Written {
    id: String,
    model: String,
    file: PathBuf,
    target: Target,
    source_dialect: Dialect,
    /// The Sequential model's layer names after its input (block names included).
    names: Vec<String>,
    input: PathBuf,
    expected: PathBuf,
    source: PathBuf,
    /// How far the other Keras may be from the saved prediction: tol + tol·|b|.
    tol: f64,
}

/// Every runnable fixture that is not a chain, one file per model and writer (a Keras 3
/// `.keras`, a tf-keras `.h5`), and the keras.applications files above where generated.
fn block_fixtures() -> Vec<Fixture> {
    let applications = common::applications()
        .unwrap_or_default()
        .into_iter()
        .filter(|f| APPLICATIONS.contains(&f.path.as_str()));
    common::fixtures()
        .into_iter()
        .filter(|f| !f.chain && f.runnable && f.weights.is_none())
        .filter(|f| (f.writer == "k3") == (f.format == "keras"))
        .chain(applications)
        .collect()
}

fn target_name(target: Target) -> String {
    let dialect = match target.dialect {
        Dialect::Keras3 => "k3",
        Dialect::TfKeras2 => "tfk",
    };
    let ext = match target.format {
        Format::Keras => "keras",
        Format::H5 => "h5",
    };
    format!("{dialect}.{ext}")
}

/// What the other Keras cannot hold, which `convert` refuses rather than write: every
/// refusal of a conversion across dialects must be one of these.
const ACROSS_DIALECTS: &[&str] = &[
    "hard_sigmoid",
    "rms_scaling",
    "Lambda",
    "positional arguments",
    "has a '/' in its name",
    "Keras 3 does not have",
];

/// Converts every fixture to every target into `dir`. Returns the files written, the
/// failures, and the refusals (a Keras 3 block a mask would cross, a rewrite across dialects).
fn convert_all(dir: &Path) -> (Vec<Written>, Vec<String>, Vec<String>) {
    let mut written = Vec::new();
    let mut failures = Vec::new();
    let mut refused = Vec::new();
    for fixture in block_fixtures() {
        let model = fixture
            .load()
            .unwrap_or_else(|e| panic!("{}: {e}", fixture.id()));
        let graph = match build(&model, &fixture.options()) {
            Ok(g) => g,
            Err(e) => {
                failures.push(format!(
                    "{}: runnable but does not build: {e}",
                    fixture.id()
                ));
                continue;
            }
        };
        for (format, dialect) in TARGETS {
            let target = Target { format, dialect };
            let id = format!("{} -> {}", fixture.id(), target_name(target));
            let plan = match analyze_blocks(&model, Some(&graph), dialect).unwrap() {
                BlockAnalysis::Blocks(plan) => plan,
                BlockAnalysis::Refused(reasons) => {
                    let expected = reasons.iter().all(|r| {
                        r.contains("; a Sequential model has one")
                            || r.contains(
                                "a Keras 3 nested model neither takes in nor passes on a mask",
                            )
                    });
                    if !expected {
                        failures.push(format!("{id}: refused: {reasons:?}"));
                    }
                    refused.push(format!("{id}: {}", reasons[0]));
                    continue;
                }
            };
            let file = dir.join(format!(
                "{}_{}_{}.to_{}",
                fixture.writer,
                fixture.model,
                fixture.format,
                target_name(target)
            ));
            match write_blocks(&model, &plan, Some(&graph), target, &file) {
                Ok(()) => written.push(Written {
                    id,
                    model: fixture.model.clone(),
                    file,
                    target,
                    source_dialect: model.dialect,
                    names: entry_names(&plan),
                    input: fixture.base.join(&fixture.input),
                    expected: fixture.base.join(&fixture.expected),
                    source: fixture.base.join(&fixture.path),
                    // keras.applications' deep CNNs (generated outside the repo): XLA's and
                    // oneDNN's convolutions sum in different orders.
                    tol: if fixture.base == common::root() {
                        1e-6
                    } else {
                        1e-4
                    },
                }),
                Err(e) => {
                    let e = e.to_string();
                    let across = model.dialect != dialect;
                    if !(across && ACROSS_DIALECTS.iter().any(|k| e.contains(k))) {
                        failures.push(format!("{id}: {e}"));
                    }
                    refused.push(format!("{id}: {e}"));
                }
            }
        }
    }
    for model in REQUIRED {
        let n = written.iter().filter(|w| w.model == *model).count();
        if n != 8 {
            failures.push(format!(
                "{model}: {n} files written, want 8 (2 writers x 4 targets)"
            ));
        }
    }
    if common::applications().is_some() {
        for model in ["resnet50", "densenet121", "mobilenet_v2"] {
            let n = written.iter().filter(|w| w.model == model).count();
            if n < 4 {
                failures.push(format!("{model}: {n} files written, want at least 4"));
            }
        }
    }
    (written, failures, refused)
}

fn entry_names(plan: &BlockPlan) -> Vec<String> {
    plan.entries
        .iter()
        .map(|e| match e {
            Entry::Layer(n) => plan.layer(*n).name.clone(),
            Entry::Block(b) => b.name.clone(),
        })
        .collect()
}

/// Every leaf layer of a model, nested models' included, by name.
fn leaves(model: &ModelConfig) -> Vec<&LayerConfig> {
    model
        .layers
        .iter()
        .flat_map(|l| match &l.nested {
            Some(m) => leaves(m),
            None => vec![l],
        })
        .collect()
}

#[test]
fn every_blocks_file_round_trips_through_keqvs_readers() {
    let dir = tempfile::tempdir().unwrap();
    let (written, mut failures, refused) = convert_all(dir.path());
    let fixtures = block_fixtures();
    for w in &written {
        let fixture = fixtures
            .iter()
            .find(|f| w.source == f.base.join(&f.path))
            .unwrap();
        let source = fixture.load().unwrap();
        let back = match KerasModel::load(&w.file, None) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{}: unreadable: {e}", w.id));
                continue;
            }
        };
        let mut check = |ok: bool, what: String| {
            if !ok {
                failures.push(format!("{}: {what}", w.id));
            }
        };
        check(back.model.is_sequential(), "not Sequential".into());
        check(back.format == w.target.format, "format".into());
        check(back.dialect == w.target.dialect, "dialect".into());
        check(back.model.name == source.model.name, "model name".into());
        let names: Vec<&str> = back.model.layers[1..]
            .iter()
            .map(|l| l.name.as_str())
            .collect();
        check(
            names == w.names,
            format!("layers {names:?}, want {:?}", w.names),
        );
        for block in back.model.layers.iter().filter(|l| l.nested.is_some()) {
            let nested = block.nested.as_ref().unwrap();
            check(
                nested.class_name == "Functional" && nested.layers[0].class_name == "InputLayer",
                format!("block {} is no Functional model on an input", block.name),
            );
        }
        // Every layer of the original is there once, with its class, config and weights.
        let read: Vec<&LayerConfig> = leaves(&back.model);
        let mut seen = HashSet::new();
        for src in leaves(&source.model)
            .into_iter()
            .filter(|l| l.class_name != "InputLayer")
        {
            if !seen.insert(src.name.as_str()) {
                continue;
            }
            let matching: Vec<&&LayerConfig> = read.iter().filter(|l| l.name == src.name).collect();
            let [got] = matching[..] else {
                check(
                    false,
                    format!("layer {} is there {} times", src.name, matching.len()),
                );
                continue;
            };
            for change in layer_changes(src, got, source.dialect == w.target.dialect) {
                check(false, change);
            }
        }
        match output_differences(fixture, &back) {
            Ok(maxima) => {
                for max in maxima.into_iter().filter(|&max| max != 0.0) {
                    failures.push(format!("{}: outputs differ by {max:e}", w.id));
                }
            }
            Err(e) => failures.push(format!("{}: {e}", w.id)),
        }
    }
    eprintln!(
        "{} files written and read back; refused: {}",
        written.len(),
        refused.join("; ")
    );
    assert!(written.len() >= 60, "only {} files written", written.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn keras_loads_every_blocks_file_and_predicts_the_same() {
    let test = "keras_loads_every_blocks_file_and_predicts_the_same";
    let Some(python) = common::keras::python_for(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (written, mut failures, _) = convert_all(dir.path());
    let manifest: Vec<serde_json::Value> = written
        .iter()
        .filter(|w| !keras3_cannot_load(w))
        .map(|w| {
            serde_json::json!({
                "file": w.file,
                "dialect": match w.target.dialect { Dialect::Keras3 => "keras3", Dialect::TfKeras2 => "tf-keras" },
                "input": w.input,
                "expected": w.expected,
                "layers": w.names,
                "exact": w.source_dialect == w.target.dialect,
                "source": w.source,
                "source_weights": null,
                "tol": w.tol,
            })
        })
        .collect();
    let mut worst = (0f64, String::new());
    for r in common::keras::load_and_predict(&python, dir.path(), &manifest) {
        let file = r["file"].as_str().unwrap_or_default().to_string();
        let max = r["max_abs"].as_f64().unwrap_or(f64::NAN);
        if max > worst.0 {
            worst = (max, file.clone());
        }
        if r["ok"] != true {
            failures.push(format!("{file}: {}", r["error"]));
        }
    }
    eprintln!(
        "Keras loaded {} files; largest |keras(converted) - keras(original)| = {:e} ({})",
        written.len(),
        worst.0,
        worst.1
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Keras 3's legacy `.h5` loader keeps a layer's `axis` only when it is one number (its
/// `saving_utils.model_from_config`), so it cannot load a layer over several axes from any `.h5`
/// file: e_layout's LayerNormalization over axes 1 and 2 is refused, i_nonfinite_acts's
/// Softmax over them computes over the last axis. Keras 3 does both with the `.h5` files it
/// wrote itself.
fn keras3_cannot_load(w: &Written) -> bool {
    matches!(w.model.as_str(), "e_layout" | "i_nonfinite_acts")
        && w.target.format == Format::H5
        && w.target.dialect == Dialect::Keras3
}

/// `keqv convert MODEL -o OUT ARGS…`: exit code, stdout, and whether OUT was written.
fn convert_cli(model: &Path, out: &str, args: &[&str]) -> (Option<i32>, String, bool) {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join(out);
    let result = keqv()
        .arg("convert")
        .arg(model)
        .arg("-o")
        .arg(&out_file)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&result.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&result.stderr);
    (
        result.status.code(),
        format!("{stdout}{stderr}").replace(&out_file.display().to_string(), out),
        out_file.exists(),
    )
}

#[test]
fn the_textbook_skip_connection_is_listed_and_verified() {
    for (model, target) in [
        (
            "models/k3/c_func_skip.keras",
            ".keras archive, keras 3 dialect",
        ),
        (
            "models/tfk/c_func_skip.h5",
            ".keras archive, keras 3 dialect",
        ),
    ] {
        let (code, stdout, written) = convert_cli(
            &common::root().join(model),
            "out.keras",
            &["--blocks", "--device", "cpu"],
        );
        assert_eq!(code, Some(0), "{model}: {stdout}");
        assert!(written);
        let want = format!(
            "wrote out.keras: Sequential 'func_skip' with 3 layers after its input, 1 of them a block ({target})
  1  dense_x      Dense
  2  block_2_add  block of 2 layers: dense_y, add
                    dense_x feeds 2 layers (dense_y, add): a skip connection
                    add merges 2 tensors (dense_x, dense_y)
  3  out          Dense
EQUIVALENT
"
        );
        assert!(stdout.starts_with(&want), "{model}:\n{stdout}");
    }
}

#[test]
fn a_model_that_is_no_chain_is_offered_blocks() {
    let (code, stdout, written) = convert_cli(
        &common::root().join("models/k3/z_unet.keras"),
        "out.keras",
        &[],
    );
    assert_eq!(code, Some(1), "{stdout}");
    assert!(!written);
    let last = stdout.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        "pass --blocks to write it as a Sequential model of 4 layers, 1 of them a block of nested layers",
        "{stdout}"
    );
    // A model no Sequential model can be is not offered it.
    let (code, stdout, _) = convert_cli(
        &common::root().join("models/k3/e_shared.keras"),
        "out.keras",
        &[],
    );
    assert_eq!(code, Some(1));
    assert!(!stdout.contains("--blocks"), "{stdout}");
}

#[test]
fn what_no_sequential_model_can_be_is_refused_with_its_reasons() {
    let refusals: [(&str, &[&str], &[&str]); 4] = [
        (
            "models/k3/e_shared.keras",
            &[],
            &["the model has 2 inputs (a, b); a Sequential model has one"],
        ),
        (
            "models/k3/h_two_heads.keras",
            &[],
            &["the model has 2 outputs (out, aux); a Sequential model has one"],
        ),
        (
            "models/k3/u_encoder.keras",
            &[],
            &[
                "enc_mha reads the mask made at tokens, which would pass a nested model, and a Keras 3 nested model neither takes in nor passes on a mask: convert with --dialect tf-keras",
                "pool reads the mask made at ids, which would pass a nested model, and a Keras 3 nested model neither takes in nor passes on a mask: convert with --dialect tf-keras",
            ],
        ),
        (
            "models/tfk/u_encoder.h5",
            &[],
            &[
                "enc_mha reads the mask made at tokens, which would pass a nested model, and a Keras 3 nested model neither takes in nor passes on a mask: convert with --dialect tf-keras",
                "dec_mha reads the mask made at tokens, which would pass a nested model, and a Keras 3 nested model neither takes in nor passes on a mask: convert with --dialect tf-keras",
                "pool reads the mask made at tokens, which would pass a nested model, and a Keras 3 nested model neither takes in nor passes on a mask: convert with --dialect tf-keras",
            ],
        ),
    ];
    for (model, args, reasons) in refusals {
        let mut all = vec!["--blocks"];
        all.extend(args);
        let (code, stdout, written) = convert_cli(&common::root().join(model), "out.keras", &all);
        assert_eq!(code, Some(1), "{model}: {stdout}");
        assert!(!written, "{model}: a file was written");
        let mut lines = stdout.lines();
        assert!(
            lines
                .next()
                .unwrap_or_default()
                .ends_with("cannot be a Sequential model, even of blocks, so nothing was written:"),
            "{model}: {stdout}"
        );
        let got: Vec<&str> = lines.map(|l| l.trim_start_matches("  - ")).collect();
        assert_eq!(got, reasons, "{model}");
    }
    // The same masked model, for tf-keras, whose nested models pass masks on.
    let (code, stdout, written) = convert_cli(
        &common::root().join("models/tfk/u_encoder.h5"),
        "out.h5",
        &["--blocks", "--dialect", "tf-keras", "--device", "cpu"],
    );
    assert_eq!(code, Some(0), "{stdout}");
    assert!(written && stdout.contains("\nEQUIVALENT\n"), "{stdout}");
}

#[test]
fn a_chain_with_blocks_is_the_plain_sequential_model() {
    let model = common::root().join("models/k3/d_chain_func.keras");
    let dir = tempfile::tempdir().unwrap();
    let mut configs = Vec::new();
    for (out, blocks) in [("plain.keras", false), ("blocks.keras", true)] {
        let file = dir.path().join(out);
        let mut cmd = keqv();
        cmd.arg("convert").arg(&model).arg("-o").arg(&file);
        if blocks {
            cmd.arg("--blocks");
        }
        let result = cmd.args(["--device", "cpu"]).output().unwrap();
        let stdout = String::from_utf8_lossy(&result.stdout);
        assert_eq!(result.status.code(), Some(0), "{stdout}");
        assert!(
            stdout.contains("Sequential 'd_chain_func' with 4 layers after its input (")
                && !stdout.contains("of them a block"),
            "{stdout}"
        );
        let mut members = common::files::zip_members(&file);
        configs.push(common::files::member(&mut members, "config.json").clone());
    }
    assert_eq!(configs[0], configs[1]);
}

/// A plan's entries: a layer's name, or a block's name and its layers' nodes.
fn plan_of(model: &str, to: Dialect) -> Vec<String> {
    let fixture = common::fixtures()
        .into_iter()
        .find(|f| f.path == model)
        .unwrap();
    let loaded = fixture.load().unwrap();
    let graph = fixture.graph().unwrap();
    let plan = match analyze_blocks(&loaded, Some(&graph), to).unwrap() {
        BlockAnalysis::Blocks(plan) => plan,
        BlockAnalysis::Refused(r) => panic!("{model}: refused: {r:?}"),
    };
    plan.entries
        .iter()
        .map(|e| match e {
            Entry::Layer(n) => plan.layer(*n).name.clone(),
            Entry::Block(b) => {
                let nodes: Vec<&str> = b
                    .nodes
                    .clone()
                    .map(|n| plan.flow.topo.nodes[n].name.as_str())
                    .collect();
                format!("{}[{}]", b.name, nodes.join(" "))
            }
        })
        .collect()
}

#[test]
fn blocks_are_cut_where_every_path_passes() {
    for (model, want) in [
        (
            "models/k3/z_inception.keras",
            &["stem", "block_2_mixed[branch_3x3_reduce branch_3x3_bn branch_3x3_relu branch_1x1 branch_3x3 mixed]", "pool", "probs"][..],
        ),
        (
            "models/tfk/z_dense_block.h5",
            &["conv0", "block_2_cat_all[bn1 relu1 conv1 cat2 bn2 relu2 conv2 cat3 bn3 relu3 conv3 cat_all]", "pool", "logits"][..],
        ),
        (
            "models/k3/z_unet.keras",
            &["enc1", "block_2_skip_cat[down enc2 bottleneck_frozen up skip_cat]", "dec1", "mask"][..],
        ),
        // Nested models: a chain flattened, a branching one kept under its own name.
        (
            "models/tfk/z_nested_blocks.h5",
            &["stem_d1", "stem_d2", "residual[residual/res_d1 residual/res_d2 residual/res_add]", "middle", "mix[mix/mix_a mix/mix_b mix/mix_gate]", "head"][..],
        ),
        // A layer applied in two places keeps both calls in one block.
        (
            "models/k3/z_shared_chain.keras",
            &["d0", "block_2_shared[shared act shared#1]", "out"][..],
        ),
    ] {
        for to in [Dialect::Keras3, Dialect::TfKeras2] {
            assert_eq!(plan_of(model, to), want, "{model}");
        }
    }
}

#[test]
fn a_block_says_why_it_could_not_be_flattened() {
    let (code, stdout, _) = convert_cli(
        &common::root().join("models/k3/z_shared_chain.keras"),
        "out.h5",
        &["--blocks", "--dialect", "tf-keras", "--device", "cpu"],
    );
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains(
            "  2  block_2_shared  block of 3 layers: shared, act, shared#1\n                       shared is applied twice (a shared layer)\n"
        ),
        "{stdout}"
    );
}

/// Keras's own layer order, computed from a Functional model's calls, is the order Keras wrote
/// every Functional fixture's layers in (both Keras list `model.layers` in the order they
/// compute, and save that list).
#[test]
fn keras_layer_order_is_the_order_keras_writes() {
    let mut checked = 0;
    for fixture in common::fixtures() {
        let model = fixture.load().unwrap();
        let m = &model.model;
        if m.is_sequential() {
            continue;
        }
        let mut index = std::collections::HashMap::new();
        let mut calls = Vec::new();
        let mut inputs = Vec::new();
        for (l, layer) in m.layers.iter().enumerate() {
            if layer.class_name == "InputLayer" {
                index.insert((layer.name.as_str(), 0), calls.len());
                inputs.push(calls.len());
                calls.push((l, Vec::new()));
                continue;
            }
            for (c, call) in layer.calls.iter().enumerate() {
                index.insert((layer.name.as_str(), c), calls.len());
                // Keras 3 flattens keyword arguments sorted by name, tf-keras in call order.
                let mut keywords: Vec<_> = call.keywords.iter().collect();
                if model.dialect == Dialect::Keras3 {
                    keywords.sort_by_key(|k| k.name.as_str());
                }
                let tensors: Vec<_> = call
                    .args
                    .iter()
                    .chain(keywords.into_iter().map(|k| &k.tensor))
                    .map(|r| (r.layer.as_str(), r.node))
                    .collect();
                calls.push((l, tensors));
            }
        }
        let calls: Vec<Call> = calls
            .into_iter()
            .map(|(layer, tensors)| Call {
                layer,
                parents: tensors.into_iter().map(|t| index[&t]).collect(),
            })
            .collect();
        let outputs: Vec<usize> = m
            .outputs
            .iter()
            .map(|r| index[&(r.layer.as_str(), r.node)])
            .collect();
        let order = layer_order(&calls, &inputs, &outputs);
        let want: Vec<usize> = (0..m.layers.len()).collect();
        assert_eq!(order, want, "{}", fixture.id());
        checked += 1;
    }
    assert!(checked >= 100, "only {checked} Functional fixtures");
}

/// Renames layer `from` of a model's top level to `to`, in its config and every reference.
fn rename(model: &mut KerasModel, from: &str, to: &str) {
    let m = &mut model.model;
    for layer in &mut m.layers {
        if layer.name == from {
            layer.name = to.to_string();
            layer.config["name"] = serde_json::json!(to);
        }
        for call in &mut layer.calls {
            call.tensors_mut()
                .filter(|r| r.layer == from)
                .for_each(|r| r.layer = to.to_string());
        }
    }
    m.outputs
        .iter_mut()
        .filter(|r| r.layer == from)
        .for_each(|r| r.layer = to.to_string());
}

/// tf-keras lets a layer name hold '/', Keras 3 refuses it: such a model is written for
/// tf-keras only, and a block ending with such a layer is named without it.
#[test]
fn a_name_holding_a_slash_is_written_for_tf_keras_only() {
    let mut model = KerasModel::load(&common::fixture("tfk/z_unet.h5"), None).unwrap();
    rename(&mut model, "skip_cat", "skip/cat");
    let graph = build(&model, &Default::default()).unwrap();
    let plan = match analyze_blocks(&model, Some(&graph), Dialect::TfKeras2).unwrap() {
        BlockAnalysis::Blocks(plan) => plan,
        BlockAnalysis::Refused(r) => panic!("refused: {r:?}"),
    };
    assert_eq!(
        entry_names(&plan),
        ["enc1", "block_2_skip_cat", "dec1", "mask"]
    );
    let dir = tempfile::tempdir().unwrap();
    for (format, dialect) in TARGETS {
        let target = Target { format, dialect };
        let out = dir.path().join(format!("out.{}", target_name(target)));
        let written = write_blocks(&model, &plan, Some(&graph), target, &out);
        match dialect {
            Dialect::Keras3 => {
                let err = written.unwrap_err().to_string();
                assert!(
                    err.contains("layer 'skip/cat'") && err.contains("has a '/' in its name"),
                    "{err}"
                );
                assert!(!out.exists());
            }
            Dialect::TfKeras2 => {
                written.unwrap();
                let back = KerasModel::load(&out, None).unwrap();
                let block = back.model.layer("block_2_skip_cat").unwrap();
                assert!(block.nested.as_ref().unwrap().layer("skip/cat").is_some());
            }
        }
    }
}
