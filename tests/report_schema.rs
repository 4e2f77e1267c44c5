//! Every JSON document keqv writes validates against schemas/report.schema.json, the contract
//! CI consumers parse: verify (with and without per-layer detail, mappings and weights), suite,
//! inspect, bench, adapters, and the error document.

mod common;

use serde_json::Value;

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(common::root().join("schemas/report.schema.json")).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::draft202012::new(&schema).expect("the schema is valid JSON Schema")
}

/// Runs keqv in the repository root; returns its stdout and exit code.
fn keqv(args: &[&str]) -> (String, i32) {
    let out = common::keqv().args(args).output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code().unwrap(),
    )
}

fn assert_valid(validator: &jsonschema::Validator, what: &str, text: &str) {
    let doc: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}\n{text}"));
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}:\n{}", errors.join("\n"));
}

#[test]
fn every_json_report_validates_against_the_schema() {
    let v = validator();
    let verify = [
        "verify",
        "models/tfk/c_func_skip.h5",
        "models/k3/c_seq_skip_dropped.keras",
        "--device",
        "cpu",
        "--format",
        "json",
    ];
    let (text, code) = keqv(&verify);
    assert_eq!(code, 1);
    assert_valid(&v, "verify", &text);
    let (text, _) = keqv(&[&verify[..], &["--per-layer"]].concat());
    assert_valid(&v, "verify --per-layer", &text);
    let (text, code) = keqv(&[
        "verify",
        "models/tfk/b_seq_custom.h5",
        "models/k3/b_seq_custom.keras",
        "--device",
        "cpu",
        "--custom",
        "FeatureNormalization=l2_normalize",
        "--original-weights",
        "models/tfk/b_seq_custom.h5",
        "--per-layer",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{text}");
    assert_valid(&v, "verify with mappings and weights", &text);

    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("suite.json");
    let (_, code) = keqv(&[
        "suite",
        "models/suite.toml",
        "--device",
        "cpu",
        "--filter",
        "skip",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert_valid(&v, "suite", &std::fs::read_to_string(&json).unwrap());

    let (text, _) = keqv(&["inspect", "models/k3/e_zoo.keras", "--format", "json"]);
    assert_valid(&v, "inspect", &text);
    // A model keqv cannot run is still inspected: unknown ops and shapes are null.
    let (text, code) = keqv(&["inspect", "models/unsupported/mixed.h5", "--format", "json"]);
    assert_eq!(code, 0, "{text}");
    assert_valid(&v, "inspect of a model keqv cannot run", &text);
    let (text, _) = keqv(&[
        "bench",
        "models/k3/a_seq_mlp.keras",
        "--device",
        "cpu",
        "--runs",
        "1",
        "--warmup",
        "0",
        "--format",
        "json",
    ]);
    assert_valid(&v, "bench", &text);
    let (text, _) = keqv(&["adapters", "--format", "json"]);
    assert_valid(&v, "adapters", &text);
    let (text, code) = keqv(&[
        "verify",
        "models/no_such.keras",
        "models/no_such.keras",
        "--format",
        "json",
    ]);
    assert_eq!(code, 2);
    assert_valid(&v, "error", &text);
}

#[test]
fn the_schema_rejects_what_a_consumer_could_not_parse() {
    let v = validator();
    let (text, _) = keqv(&[
        "verify",
        "models/k3/a_seq_mlp.keras",
        "models/k3/a_func_mlp.keras",
        "--device",
        "cpu",
        "--format",
        "json",
    ]);
    let good: Value = serde_json::from_str(&text).unwrap();
    assert!(v.is_valid(&good));
    let mut unknown = good.clone();
    unknown["outputs"][0]["max_abz"] = 0.into();
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("equivalent");
    let mut old = good.clone();
    old["schema_version"] = 0.into();
    for (what, doc) in [
        ("unknown key", unknown),
        ("missing key", missing),
        ("old version", old),
    ] {
        assert!(!v.is_valid(&doc), "{what} passed the schema");
    }
}
