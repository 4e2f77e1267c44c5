//! `keqv suite MANIFEST.toml`: a conversion regression suite. Each case is a `verify` of an
//! original against a converted model with its own settings and the result it must give
//! (equivalent, not equivalent, or an error), so a known-bad conversion is a passing case.
//!
//! `manifest` reads the TOML, `shard` picks one slice for a CI job, `run` runs the cases (CPU
//! cases in parallel, GPU cases one at a time) and checks each against its expectation,
//! `report` renders the results (text, JUnit XML, JSON); `crate::html` renders them as a page.

pub mod manifest;
pub mod report;
pub mod run;
pub mod shard;

pub use manifest::{Case, Manifest, Verdict};
pub use run::{run_cases, CaseResult, SuiteReport};
pub use shard::Shard;
