//! The envelope of every machine-readable report keqv writes, and the reports of a command
//! that ended in an error: a CI system that asked for a JUnit, JSON or HTML file gets one that
//! says what went wrong, never a missing or empty file.

use serde::Serialize;

use crate::report::xml;

/// The version of the JSON reports' layout (`schemas/*.schema.json`): raised whenever a field
/// is removed or changes meaning, so that consumers can tell what they parse.
pub const SCHEMA_VERSION: u32 = 1;

/// A JSON report with the schema and keqv versions in front of its own fields.
#[derive(Serialize)]
struct Document<'a, T: Serialize> {
    schema_version: u32,
    keqv_version: &'static str,
    #[serde(flatten)]
    report: &'a T,
}

/// `report` as a pretty-printed JSON document.
pub fn json<T: Serialize>(report: &T) -> String {
    serde_json::to_string_pretty(&Document {
        schema_version: SCHEMA_VERSION,
        keqv_version: env!("CARGO_PKG_VERSION"),
        report,
    })
    .expect("reports are serializable")
}

#[derive(Serialize)]
struct ErrorReport<'a> {
    error: &'a str,
    exit_code: u8,
}

/// The JSON document of a command that ended in an error (exit code 2).
pub fn error_json(message: &str) -> String {
    json(&ErrorReport {
        error: message,
        exit_code: 2,
    })
}

/// A JUnit file with one test case in error: CI shows the run as broken, not as empty.
pub fn error_junit(suite: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"{s}\" tests=\"1\" failures=\"0\" errors=\"1\">\n    <testcase classname=\"{s}\" name=\"{s}\"><error message=\"{m}\" type=\"error\">{m}</error></testcase>\n  </testsuite>\n</testsuites>\n",
        s = xml(suite),
        m = xml(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_start_with_their_versions() {
        let text = error_json("it broke");
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["schema_version", "keqv_version", "error", "exit_code"]
        );
        assert_eq!(value["schema_version"], SCHEMA_VERSION);
        assert_eq!(value["keqv_version"], env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn an_error_is_one_junit_test_case_in_error() {
        let xml = error_junit("keqv verify", "a.h5: <missing> & gone");
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let case = doc
            .descendants()
            .find(|n| n.has_tag_name("testcase"))
            .unwrap();
        let error = case.children().find(|n| n.has_tag_name("error")).unwrap();
        assert_eq!(error.attribute("message"), Some("a.h5: <missing> & gone"));
    }
}
