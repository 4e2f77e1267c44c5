//! A verdict that cannot be fooled by an ordinary mistake: every name the user gives must
//! match something, a suite that runs nothing is not green, an error still writes the machine
//! reports that were asked for, `convert` never overwrites a file unasked, and every report
//! states what the verdict rests on.

mod common;

use std::path::{Path, PathBuf};

use serde_json::Value;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn keqv(args: &[&str]) -> Run {
    let out = common::keqv()
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Exit code 2 with one `keqv: error:` line on stderr that contains every needle.
fn assert_error(run: &Run, needles: &[&str], what: &str) {
    assert_eq!(run.code, 2, "{what}: {}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.starts_with("keqv: error: ") && run.stderr.lines().count() == 1,
        "{what}: {}",
        run.stderr
    );
    for needle in needles {
        assert!(
            run.stderr.contains(needle),
            "{what}: no '{needle}' in {}",
            run.stderr
        );
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

const MLP: &str = "models/k3/a_seq_mlp.keras";
const MLP_PERTURBED: &str = "models/k3/a_seq_mlp_perturbed.keras";
const CUSTOM_TFK: &str = "models/tfk/b_seq_custom.h5";
const CUSTOM_K3: &str = "models/k3/b_seq_custom.keras";

#[test]
fn a_tolerance_for_an_output_that_does_not_exist_is_refused() {
    // The perturbed twin differs by ~5e-5 on dense_1: with a loose default and a tight
    // tolerance on a misspelt output, the comparison used to pass.
    let base = [
        "verify",
        MLP,
        MLP_PERTURBED,
        "--device",
        "cpu",
        "--atol",
        "1e-3",
    ];
    let run = keqv(&[&base[..], &["--atol", "dense_1:1e-7"]].concat());
    assert_eq!(run.code, 1, "the tight tolerance applies: {}", run.stdout);
    let run = keqv(&[&base[..], &["--atol", "dense_l:1e-7"]].concat());
    assert_error(&run, &["'dense_l'", "'dense_1'"], "misspelt --atol output");
    let run = keqv(&[&base[..], &["--rtol", "nope:0"]].concat());
    assert_error(&run, &["'nope'"], "misspelt --rtol output");
    let run = keqv(&[&base[..], &["--atol", ":1e-3"]].concat());
    assert_error(&run, &["--atol ':1e-3'"], "empty output name");
}

#[test]
fn a_manifest_tolerance_for_an_output_that_does_not_exist_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("s.toml");
    std::fs::write(
        &manifest,
        format!(
            "[[case]]\nname = \"tight on a typo\"\noriginal = \"{}\"\nconverted = \"{}\"\ndevice = \"cpu\"\natol = 1e-3\n[case.outputs.dense_l]\natol = 1e-7\n",
            common::root().join(MLP).display(),
            common::root().join(MLP_PERTURBED).display()
        ),
    )
    .unwrap();
    let junit = dir.path().join("j.xml");
    let run = keqv(&["suite", path_str(&manifest), "--junit", path_str(&junit)]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("'dense_l'") && run.stderr.contains("fix the manifest"),
        "{}",
        run.stderr
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<error") && xml.contains("dense_l"), "{xml}");
}

#[test]
fn a_custom_mapping_that_matches_no_layer_is_refused() {
    let map = "FeatureNormalization=l2_normalize";
    let run = keqv(&[
        "verify", CUSTOM_TFK, CUSTOM_K3, "--device", "cpu", "--custom", map,
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let run = keqv(&[
        "verify",
        CUSTOM_TFK,
        CUSTOM_K3,
        "--device",
        "cpu",
        "--custom",
        map,
        "--custom",
        "FeatureNormalisation=identity",
    ]);
    assert_error(
        &run,
        &["'FeatureNormalisation=identity'", "FeatureNormalization"],
        "misspelt class in --custom",
    );
    // A mapping for one side must match a layer of that side.
    let run = keqv(&[
        "verify",
        MLP,
        CUSTOM_K3,
        "--device",
        "cpu",
        "--original-custom",
        map,
        "--converted-custom",
        map,
    ]);
    assert_error(
        &run,
        &[MLP, "matches no layer"],
        "--original-custom on the wrong side",
    );
    // Single-model commands: the mapping must match a layer of that model.
    let run = keqv(&["run", MLP, "--device", "cpu", "--custom", map]);
    assert_error(&run, &["matches no layer", MLP], "run --custom");
    let dir = tempfile::tempdir().unwrap();
    let mapping_file = dir.path().join("map.txt");
    std::fs::write(&mapping_file, "Dens=identity\n").unwrap();
    let run = keqv(&[
        "run",
        MLP,
        "--device",
        "cpu",
        "--custom-file",
        path_str(&mapping_file),
    ]);
    assert_error(&run, &["'Dens=identity'", "map.txt"], "--custom-file");
}

/// A manifest in a temporary folder; `{root}` in the text becomes the repository root.
fn manifest(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("suite.toml");
    let root = common::root();
    std::fs::write(&path, text.replace("{root}", root.to_str().unwrap())).unwrap();
    path
}

#[test]
fn a_suite_that_selects_no_case_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let one = manifest(
        dir.path(),
        "[[case]]\nname = \"only\"\noriginal = \"{root}/models/k3/a_seq_mlp.keras\"\nconverted = \"{root}/models/k3/a_func_mlp.keras\"\ndevice = \"cpu\"\n",
    );
    let one = path_str(&one);
    assert_eq!(keqv(&["suite", one]).code, 0);
    let run = keqv(&["suite", one, "--filter", "nothing like it"]);
    assert_error(&run, &["no case to run", "'nothing like it'"], "--filter");
    let run = keqv(&["suite", one, "--shard", "2/2"]);
    assert_error(&run, &["no case to run", "shard 2/2"], "--shard");
    let empty = dir.path().join("empty.toml");
    std::fs::write(&empty, "name = \"nothing\"\n").unwrap();
    let junit = dir.path().join("j.xml");
    let run = keqv(&["suite", path_str(&empty), "--junit", path_str(&junit)]);
    assert_error(&run, &["no [[case]]"], "empty manifest");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("errors=\"1\""), "{xml}");
}

#[test]
fn a_missing_model_file_is_a_manifest_error_naming_where_keqv_looked() {
    let dir = tempfile::tempdir().unwrap();
    let path = manifest(
        dir.path(),
        "[[case]]\nname = \"gone\"\noriginal = \"models/no_such.keras\"\nconverted = \"{root}/models/k3/a_func_mlp.keras\"\ndevice = \"cpu\"\n",
    );
    let run = keqv(&["suite", path_str(&path)]);
    let looked = dir.path().join("models/no_such.keras");
    assert_error(
        &run,
        &["case 1 (gone)", "original", path_str(&looked)],
        "missing original",
    );
    let path = manifest(
        dir.path(),
        "[[case]]\noriginal = \"{root}/models/k3/a_seq_mlp.keras\"\nconverted = \"{root}/models/k3/a_func_mlp.keras\"\ninputs = \"x.npy\"\n",
    );
    let run = keqv(&["suite", path_str(&path)]);
    assert_error(
        &run,
        &["inputs", path_str(&dir.path().join("x.npy"))],
        "missing inputs",
    );
}

#[test]
fn an_error_still_writes_the_reports_that_were_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("verify.xml");
    let html = dir.path().join("verify.html");
    let run = keqv(&[
        "verify",
        "models/k3/no_such.keras",
        MLP,
        "--format",
        "json",
        "--junit",
        path_str(&junit),
        "--html",
        path_str(&html),
    ]);
    assert_eq!(run.code, 2);
    let json: Value = serde_json::from_str(&run.stdout).expect("a JSON object on stdout");
    assert!(json["error"].as_str().unwrap().contains("no_such.keras"));
    assert_eq!(json["exit_code"], 2);
    assert_eq!(json["schema_version"], keqv::document::SCHEMA_VERSION);
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let error = doc
        .descendants()
        .find(|n| n.has_tag_name("error"))
        .expect("an <error> test case");
    assert!(error
        .attribute("message")
        .unwrap()
        .contains("no_such.keras"));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("ERROR") && page.contains("no_such.keras"));

    // An unsupported layer (a Lambda) is an error too.
    let run = keqv(&[
        "verify",
        "models/k3/f_lambda.keras",
        "models/k3/f_lambda.keras",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 2);
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(json["error"].as_str().unwrap().contains("Lambda"));

    // The suite's three reports, when the manifest itself is broken.
    let manifest = dir.path().join("broken.toml");
    std::fs::write(&manifest, "[[case]]\noriginal = 3\n").unwrap();
    let (j, s, h) = (
        dir.path().join("s.xml"),
        dir.path().join("s.json"),
        dir.path().join("s.html"),
    );
    let run = keqv(&[
        "suite",
        path_str(&manifest),
        "--junit",
        path_str(&j),
        "--json",
        path_str(&s),
        "--html",
        path_str(&h),
    ]);
    assert_eq!(run.code, 2);
    assert!(std::fs::read_to_string(&j).unwrap().contains("<error"));
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&s).unwrap()).unwrap();
    assert!(json["error"].as_str().unwrap().contains("broken.toml"));
    assert!(std::fs::read_to_string(&h).unwrap().contains("ERROR"));

    // inspect --format json
    let run = keqv(&["inspect", "models/k3/no_such.keras", "--format", "json"]);
    assert_eq!(run.code, 2);
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(json["error"].is_string());
}

#[test]
fn convert_never_overwrites_a_file_unasked() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::root().join("models/k3/d_chain_func.keras");
    let existing = dir.path().join("precious.keras");
    std::fs::copy(common::root().join(MLP), &existing).unwrap();
    let before = std::fs::read(&existing).unwrap();
    let args = [
        "convert",
        path_str(&model),
        "-o",
        path_str(&existing),
        "--device",
        "cpu",
    ];
    let run = keqv(&args);
    assert_error(&run, &["exists", "--force"], "existing output");
    assert_eq!(std::fs::read(&existing).unwrap(), before, "left untouched");
    let run = keqv(&[&args[..], &["--force"]].concat());
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_ne!(std::fs::read(&existing).unwrap(), before, "replaced");
    // Arguments swapped: the "output" is the model itself, even with --force.
    let copy = dir.path().join("model.keras");
    std::fs::copy(&model, &copy).unwrap();
    let run = keqv(&["convert", path_str(&copy), "-o", path_str(&copy), "--force"]);
    assert_error(&run, &["the model being converted"], "own input");
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        std::fs::read(&model).unwrap()
    );
}

#[test]
fn every_report_states_the_mappings_and_weights_it_rests_on() {
    // Both custom layers mapped to identity: equivalent, but only under that assumption.
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("j.xml");
    let html = dir.path().join("r.html");
    let args = [
        "verify",
        CUSTOM_TFK,
        CUSTOM_K3,
        "--device",
        "cpu",
        "--custom",
        "FeatureNormalization=identity",
        "--converted-weights",
        "models/k3/b_seq_custom.keras",
    ];
    let run = keqv(&[&args[..], &["--format", "json"]].concat());
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["keqv_version"], env!("CARGO_PKG_VERSION"));
    let a = &json["assumptions"];
    for side in ["original", "converted"] {
        let m = &a[side]["custom_mappings"][0];
        assert_eq!(m["name"], "FeatureNormalization", "{a}");
        assert_eq!(m["builtin"], "identity");
        assert_eq!(m["layers"][0], "feature_normalization");
    }
    assert_eq!(a["original"]["weights_file"], Value::Null);
    assert_eq!(
        a["converted"]["weights_file"],
        "models/k3/b_seq_custom.keras"
    );
    assert!(json["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().contains("verdict holds only if")));

    let run = keqv(
        &[
            &args[..],
            &["--junit", path_str(&junit), "--html", path_str(&html)],
        ]
        .concat(),
    );
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.contains(
            "mappings   original: FeatureNormalization=identity on feature_normalization"
        ),
        "{}",
        run.stdout
    );
    assert!(run
        .stdout
        .contains("weights    converted: models/k3/b_seq_custom.keras"));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<property name=\"mappings\" value=\"original: FeatureNormalization=identity"),
        "{xml}"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("FeatureNormalization=identity on feature_normalization"));
}

#[test]
fn inputs_cast_to_float32_are_named_in_the_report() {
    // The float32 inputs of a fixture, written again as float64.
    let dir = tempfile::tempdir().unwrap();
    let x = keqv::npy::read_npy(&common::root().join("models/inputs/a_seq_mlp.npy")).unwrap();
    let wide = dir.path().join("x64.npy");
    write_npy_f64(&wide, &x);
    let run = keqv(&[
        "verify",
        MLP,
        "models/k3/a_func_mlp.keras",
        "--device",
        "cpu",
        "--inputs",
        path_str(&wide),
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    let casts = &json["assumptions"]["inputs"]["casts"];
    assert_eq!(
        casts[0], "input 'input_layer': float64 cast to float32",
        "{casts}"
    );
    let run = keqv(&[
        "verify",
        MLP,
        "models/k3/a_func_mlp.keras",
        "--device",
        "cpu",
        "--inputs",
        "models/inputs/a_seq_mlp.npy",
        "--format",
        "json",
    ]);
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        json["assumptions"]["inputs"]["casts"],
        serde_json::json!([])
    );
}

/// A little-endian float64 .npy of `x`, as numpy.save writes it.
fn write_npy_f64(path: &Path, x: &ndarray::ArrayD<f32>) {
    let dims: Vec<String> = x.shape().iter().map(|d| d.to_string()).collect();
    let mut header = format!(
        "{{'descr': '<f8', 'fortran_order': False, 'shape': ({},), }}",
        dims.join(", ")
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    for v in x.iter() {
        bytes.extend((*v as f64).to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn reports_say_what_happened_in_words_that_fit() {
    // A dropped skip connection: the layer is rewired, not wrong by itself.
    let run = keqv(&[
        "verify",
        "models/tfk/c_func_skip.h5",
        "models/k3/c_seq_skip_dropped.keras",
        "--device",
        "cpu",
        "--per-layer",
    ]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("rewired here"), "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "dense_2 (Dense) ↔ out is wired differently (the original out takes add; the converted dense_2 takes dense_1 (↔ dense_y))"
        ),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("its own error"), "{}", run.stdout);
    // Worst values as the float32 they are, not 17 digits of a float64 copy.
    assert!(
        run.stdout
            .contains("worst element of out at [5, 8]: original 0.45145354, converted 0.17027004"),
        "{}",
        run.stdout
    );

    // The same model written by tf-keras and by Keras 3: no "op differs (l2_normalize →
    // l2_normalize)", but the real difference of UnitNormalization named.
    let run = keqv(&[
        "verify",
        "models/tfk/d_chain_func.h5",
        "models/k3/d_chain_func.keras",
        "--device",
        "cpu",
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("op differs"), "{}", run.stdout);
    assert!(
        run.stdout.contains("UnitNormalization divides by"),
        "{}",
        run.stdout
    );

    // Outputs that cannot be paired: said in words, not as an empty table.
    let run = keqv(&[
        "verify",
        "models/k3/h_two_heads.keras",
        "models/k3/h_wide_head.keras",
        "--device",
        "cpu",
        "--per-layer",
    ]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("no output pair could be compared"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("\nno layer exceeds the tolerance"),
        "{}",
        run.stdout
    );

    // An .npz given as a model.
    let run = keqv(&["inspect", "models/inputs/e_zoo.npz"]);
    assert_error(
        &run,
        &["NumPy .npz file, not a Keras model", "--inputs"],
        ".npz as model",
    );
}
