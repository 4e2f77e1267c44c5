//! `keqv suite` end to end: models/suite.toml covers every fixture and passes; unmet
//! expectations fail with the metrics in the JUnit XML (parsed here by an XML parser); sharding
//! splits the cases disjointly and completely; mistakes are one-line errors (exit 2).

mod common;

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use keqv::cli::DeviceArgs;
use keqv::suite::{Manifest, Verdict};
use serde_json::Value;

fn keqv() -> Command {
    let mut cmd = common::keqv();
    cmd.env_remove("NO_COLOR");
    cmd
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn suite(args: &[&str]) -> Run {
    let out = keqv().arg("suite").args(args).output().unwrap();
    Run {
        code: out.status.code().unwrap(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn cpu() -> DeviceArgs {
    DeviceArgs {
        device: "cpu".into(),
        adapter: None,
    }
}

/// An absolute path to a fixture, as a TOML string.
/// A fixture's path as a TOML string.
fn fixture(rel: &str) -> String {
    format!("{:?}", common::fixture(rel).to_str().unwrap())
}

/// Writes a manifest into `dir` and returns its path.
fn manifest(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("suite.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The parsed JUnit file: (testsuite attributes, [(case name, failure/error tag, message,
/// system-out)]).
type Junit = (
    Vec<(String, String)>,
    Vec<(String, Option<String>, String, String)>,
);

fn parse_junit(path: &Path) -> Junit {
    let text = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&text)
        .unwrap_or_else(|e| panic!("JUnit XML does not parse: {e}\n{text}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 1, "{text}");
    let suite = suites[0];
    let attrs = suite
        .attributes()
        .map(|a| (a.name().to_string(), a.value().to_string()))
        .collect();
    let cases = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .map(|case| {
            let bad = case
                .children()
                .find(|n| n.has_tag_name("failure") || n.has_tag_name("error"));
            let out = case
                .children()
                .find(|n| n.has_tag_name("system-out"))
                .and_then(|n| n.text())
                .unwrap_or_default()
                .to_string();
            (
                case.attribute("name").unwrap().to_string(),
                bad.map(|n| n.tag_name().name().to_string()),
                bad.and_then(|n| n.attribute("message"))
                    .unwrap_or_default()
                    .to_string(),
                out,
            )
        })
        .collect();
    (attrs, cases)
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> &'a str {
    &attrs.iter().find(|(n, _)| n == name).unwrap().1
}

#[test]
fn models_suite_covers_every_fixture_and_every_kind_of_expectation() {
    let root = common::root();
    let m = Manifest::load(&root.join("models/suite.toml"), &cpu()).unwrap();
    let mut used = HashSet::new();
    for case in &m.cases {
        for side in [&case.original, &case.converted] {
            used.insert((side.model.clone(), side.weights.clone()));
        }
    }
    for f in common::fixtures() {
        let key = (root.join(&f.path), f.weights.as_ref().map(|w| root.join(w)));
        assert!(
            used.contains(&key),
            "models/suite.toml has no case for fixture {} (weights {:?})",
            f.path,
            f.weights
        );
    }
    for verdict in [Verdict::Equivalent, Verdict::NotEquivalent, Verdict::Error] {
        assert!(
            m.cases.iter().any(|c| c.expect == verdict),
            "no case expects {verdict}"
        );
    }
    // The documented known-bad pairs are cases that must come out not equivalent.
    for (original, converted) in [
        ("k3/a_seq_mlp.keras", "k3/a_seq_mlp_perturbed.keras"),
        ("k3/c_func_skip.keras", "k3/c_seq_skip_dropped.keras"),
        ("tfk/e_acts.h5", "k3/e_acts.keras"),
    ] {
        assert!(
            m.cases.iter().any(|c| c.original.model.ends_with(original)
                && c.converted.model.ends_with(converted)
                && c.expect == Verdict::NotEquivalent),
            "{original} vs {converted}"
        );
    }
}

#[test]
fn models_suite_passes_on_the_cpu_with_junit_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let (junit, json) = (dir.path().join("j.xml"), dir.path().join("r.json"));
    let run = suite(&[
        "models/suite.toml",
        "--device",
        "cpu",
        "--junit",
        junit.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    let m = Manifest::load(&common::root().join("models/suite.toml"), &cpu()).unwrap();
    let n = m.cases.len();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains(&format!("\nsuite: {n} passed, 0 failed\n")),
        "{}",
        run.stdout
    );
    // Without a terminal: one plain line per case, no colour, then the summary table.
    assert!(
        run.stdout.contains(&format!("[{n}/{n}] ok")),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains('\x1b'));
    assert!(run.stdout.contains("case") && run.stdout.contains("expected"));

    let (attrs, cases) = parse_junit(&junit);
    assert_eq!(attr(&attrs, "name"), "keqv fixtures");
    assert_eq!(attr(&attrs, "tests"), n.to_string());
    assert_eq!(
        (attr(&attrs, "failures"), attr(&attrs, "errors")),
        ("0", "0")
    );
    let names: Vec<&str> = cases.iter().map(|c| c.0.as_str()).collect();
    let expected: Vec<&str> = m.cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, expected, "one test case per case, in manifest order");
    let perturbed = cases
        .iter()
        .find(|c| c.0 == "a_seq_mlp_perturbed: k3, one kernel element +1e-3")
        .unwrap();
    assert_eq!(
        perturbed.1, None,
        "a known-bad conversion is a passing case"
    );
    assert!(
        perturbed.3.contains("got: not equivalent") && perturbed.3.contains("max_abs 5.73"),
        "{}",
        perturbed.3
    );

    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["passed"], true);
    assert_eq!(report["total"], n);
    let case = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "c_seq_skip_dropped: k3 .keras drops the skip")
        .unwrap();
    assert_eq!(
        (&case["expect"], &case["result"]),
        (
            &Value::from("not-equivalent"),
            &Value::from("not-equivalent")
        )
    );
    let out = &case["report"]["outputs"][0];
    let histogram: Vec<u64> = out["histogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(histogram.len(), 16);
    assert_eq!(
        histogram.iter().sum::<u64>(),
        out["count"].as_u64().unwrap()
    );
    assert_eq!(
        case["report"]["first_divergence"]["converted"], "dense_2",
        "per-layer is on by default in suites"
    );
}

#[test]
fn unmet_expectations_fail_with_what_was_expected_and_the_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let path = manifest(
        dir.path(),
        &format!(
            r#"
[defaults]
device = "cpu"

[[case]]
name = "twins"
original = {twin_a}
converted = {twin_b}

[[case]]
name = "perturbed said to be equivalent"
original = {twin_a}
converted = {perturbed}

[[case]]
name = "lambda said to be equivalent"
original = {lambda}
converted = {lambda}

[[case]]
name = "twins said to be an error"
original = {twin_a}
converted = {twin_b}
expect = "error"

[[case]]
name = "another error than the one expected"
original = {custom}
converted = {custom}
expect = "error"
error_contains = "no such text"
"#,
            twin_a = fixture("k3/a_seq_mlp.keras"),
            twin_b = fixture("k3/a_func_mlp.keras"),
            perturbed = fixture("k3/a_seq_mlp_perturbed.keras"),
            lambda = fixture("k3/f_lambda.keras"),
            custom = fixture("k3/b_seq_custom.keras"),
        ),
    );
    let junit = dir.path().join("j.xml");
    let run = suite(&[
        path.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
        "--jobs",
        "3",
    ]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("\nsuite: 1 passed, 4 failed\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("failed cases:"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("expected equivalent, got not equivalent"),
        "{}",
        run.stdout
    );

    let (attrs, cases) = parse_junit(&junit);
    assert_eq!(
        (
            attr(&attrs, "tests"),
            attr(&attrs, "failures"),
            attr(&attrs, "errors")
        ),
        ("5", "3", "1")
    );
    let by_name = |name: &str| cases.iter().find(|c| c.0 == name).unwrap();
    assert_eq!(by_name("twins").1, None);
    let perturbed = by_name("perturbed said to be equivalent");
    assert_eq!(perturbed.1.as_deref(), Some("failure"));
    for needle in [
        "expected equivalent, got not equivalent",
        "dense_1: FAIL; max_abs ",
        "of 80 elements mismatch",
        "worst at [",
        "min_atol_to_pass ",
        "first divergence: dense (Dense)",
    ] {
        assert!(perturbed.2.contains(needle), "{needle}: {}", perturbed.2);
    }
    let lambda = by_name("lambda said to be equivalent");
    assert_eq!(lambda.1.as_deref(), Some("error"), "an unexpected error");
    assert!(
        lambda.2.contains("Lambda layers hold Python code"),
        "{}",
        lambda.2
    );
    let twins_error = by_name("twins said to be an error");
    assert_eq!(twins_error.1.as_deref(), Some("failure"));
    assert!(
        twins_error
            .2
            .starts_with("expected an error, but the models were compared: equivalent"),
        "{}",
        twins_error.2
    );
    let other = by_name("another error than the one expected");
    assert!(
        other
            .2
            .contains("expected an error containing 'no such text'")
            && other.2.contains("--custom FeatureNormalization="),
        "{}",
        other.2
    );
}

/// `keqv suite --list` names, one per line.
fn list(args: &[&str]) -> Vec<String> {
    let run = suite(&[&["models/suite.toml", "--list"], args].concat());
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout.lines().map(str::to_string).collect()
}

#[test]
fn sharding_splits_the_cases_disjointly_and_completely() {
    let all = list(&[]);
    assert!(all.len() > 50, "{}", all.len());
    for count in [2, 3, 4, 7, all.len() + 3] {
        let mut seen: Vec<String> = Vec::new();
        let mut sizes = Vec::new();
        for index in 1..=count {
            let part = list(&["--shard", &format!("{index}/{count}")]);
            sizes.push(part.len());
            seen.extend(part);
        }
        let unique: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(seen.len(), all.len(), "{count} shards: no case twice");
        assert_eq!(
            unique,
            all.iter().collect::<BTreeSet<_>>(),
            "{count} shards: every case once"
        );
        let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
        assert!(max - min <= 1, "{count} shards are balanced: {sizes:?}");
    }

    // Running the shards for real: their JUnit test cases partition the suite's cases.
    let dir = tempfile::tempdir().unwrap();
    let path = manifest(
        dir.path(),
        &format!(
            "[defaults]\ndevice = \"cpu\"\n{}",
            ["a", "b", "c"]
                .iter()
                .map(|n| format!(
                    "[[case]]\nname = \"{n}\"\noriginal = {}\nconverted = {}\n",
                    fixture("k3/c_func_skip.keras"),
                    fixture("tfk/c_func_skip.h5")
                ))
                .collect::<String>()
        ),
    );
    let mut names = Vec::new();
    for shard in ["1/2", "2/2"] {
        let junit = dir.path().join(format!("{}.xml", shard.replace('/', "-")));
        let run = suite(&[
            path.to_str().unwrap(),
            "--shard",
            shard,
            "--junit",
            junit.to_str().unwrap(),
        ]);
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        let (attrs, cases) = parse_junit(&junit);
        assert!(attrs.contains(&("tests".into(), cases.len().to_string())));
        names.extend(cases.into_iter().map(|c| c.0));
    }
    assert_eq!(names, ["a", "c", "b"]);
}

#[test]
fn mistakes_are_one_line_errors_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let typo = manifest(
        dir.path(),
        "[[case]]\noriginal = \"a.keras\"\nconverted = \"b.keras\"\nexpected = \"error\"\n",
    );
    for (args, needle) in [
        (vec!["models/suite.toml", "--shard", "3/2"], "--shard '3/2'"),
        (vec!["models/suite.toml", "--shard", "0/4"], "1 ≤ I ≤ N"),
        (vec!["models/suite.toml", "--jobs", "0"], "--jobs"),
        (vec!["models/no-such-suite.toml"], "no-such-suite.toml"),
        (vec![typo.to_str().unwrap()], "unknown field `expected`"),
    ] {
        let run = suite(&args);
        assert_eq!(run.code, 2, "{args:?}: {}{}", run.stdout, run.stderr);
        assert!(
            run.stderr.starts_with("keqv: error: ")
                && run.stderr.contains(needle)
                && run.stderr.lines().count() == 1,
            "{args:?}: {}",
            run.stderr
        );
    }
}

/// A case's keys are refused by the rules of the flags they stand for, when the manifest is
/// read and named as keys; the suite's own `--device` is named as the flag, even where every
/// case names its own device.
#[test]
fn settings_are_named_where_they_were_written() {
    let dir = tempfile::tempdir().unwrap();
    let case = |extra: &str| {
        format!(
            "[[case]]\nname = \"c\"\noriginal = {}\nconverted = {}\ndevice = \"cpu\"\n{extra}\n",
            fixture("k3/a_seq_mlp.keras"),
            fixture("k3/a_func_mlp.keras")
        )
    };
    for (extra, needle) in [
        (
            "converted_device = \"tpu\"",
            "case 1 (c): converted_device 'tpu' is not one of",
        ),
        (
            "custom = { FeatureNormalization = \"\" }",
            "case 1 (c): custom 'FeatureNormalization=' is not NAME=BUILTIN",
        ),
        (
            "original_custom = { \"\" = \"relu\" }",
            "case 1 (c): original_custom '=relu' is not NAME=BUILTIN",
        ),
        ("chunk = 0", "case 1 (c): chunk must be at least 1"),
    ] {
        let path = manifest(dir.path(), &case(extra));
        let run = suite(&[path.to_str().unwrap()]);
        assert_eq!(run.code, 2, "{extra}: {}{}", run.stdout, run.stderr);
        assert!(
            run.stderr.contains(needle)
                && !run.stderr.contains("--")
                && run.stderr.lines().count() == 1,
            "{extra}: {}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "refused before any case ran");
    }
    let path = manifest(dir.path(), &case(""));
    let run = suite(&[path.to_str().unwrap(), "--device", "tpu"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("--device 'tpu' is not one of") && !run.stderr.contains("case 1"),
        "{}",
        run.stderr
    );
}
