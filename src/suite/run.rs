//! Running the cases: those on the CPU executor on a small pool of threads, those on a GPU one
//! at a time (one device), both lanes at once; each case's verdict checked against what the
//! manifest expects.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use serde::Serialize;

use super::manifest::{Case, Verdict};
use super::shard::Shard;
use crate::commands::load_pair;
use crate::error::{Error, Result};
use crate::verify::{verify, VerifyReport};

/// What one case gave, and whether that is what the manifest expects.
#[derive(Clone, Debug, Serialize)]
pub struct CaseResult {
    pub name: String,
    pub original: String,
    pub converted: String,
    pub expect: Verdict,
    /// What the case gave: a verdict, or "error".
    pub result: Verdict,
    /// The result meets the expectation.
    pub passed: bool,
    /// Why the case failed (an unmet expectation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The error, when the case gave one (expected or not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The error is a mistake in the case's own settings (a name that matches nothing).
    #[serde(skip)]
    pub settings_error: bool,
    pub duration_s: f64,
    /// The full verify report, when the models could be compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<VerifyReport>,
}

/// A run of a suite (or of one shard of it).
#[derive(Clone, Debug, Serialize)]
pub struct SuiteReport {
    pub suite: String,
    pub manifest: String,
    pub shard: Shard,
    /// Every case of the shard meets its expectation.
    pub passed: bool,
    pub total: usize,
    pub failed: usize,
    pub duration_s: f64,
    pub cases: Vec<CaseResult>,
}

impl SuiteReport {
    pub fn new(suite: &str, manifest: &str, shard: Shard, cases: Vec<CaseResult>) -> Self {
        let failed = cases.iter().filter(|c| !c.passed).count();
        SuiteReport {
            suite: suite.to_string(),
            manifest: manifest.to_string(),
            shard,
            passed: failed == 0,
            total: cases.len(),
            failed,
            duration_s: 0.0,
            cases,
        }
    }
}

/// Runs `cases`: CPU-only cases on `jobs` threads, the others one after another on a lane of
/// their own. `on_done(result)` is called on the calling thread as each case finishes. Returns
/// the results in the order of `cases`.
pub fn run_cases(
    cases: &[Case],
    jobs: usize,
    mut on_done: impl FnMut(&CaseResult),
) -> Vec<CaseResult> {
    let auto_is_cpu = cases.iter().any(Case::uses_auto) && !hardware_gpu_present();
    let (cpu, device): (Vec<usize>, Vec<usize>) =
        (0..cases.len()).partition(|&i| cases[i].cpu_only(auto_is_cpu));
    let mut results: Vec<Option<CaseResult>> = vec![None; cases.len()];
    let (send, receive) = mpsc::channel::<(usize, CaseResult)>();
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let workers = jobs.max(1).min(cpu.len());
        for _ in 0..workers {
            let (send, next, cpu) = (send.clone(), &next, &cpu);
            scope.spawn(move || loop {
                let k = next.fetch_add(1, Ordering::SeqCst);
                let Some(&i) = cpu.get(k) else { break };
                if send.send((i, run_case(&cases[i]))).is_err() {
                    break;
                }
            });
        }
        if !device.is_empty() {
            let (send, device) = (send.clone(), &device);
            scope.spawn(move || {
                for &i in device {
                    if send.send((i, run_case(&cases[i]))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(send);
        for (i, result) in receive {
            on_done(&result);
            results[i] = Some(result);
        }
    });
    results
        .into_iter()
        .map(|r| r.expect("every case reports"))
        .collect()
}

/// Whether `--device auto` would pick a GPU here (a hardware adapter exists).
fn hardware_gpu_present() -> bool {
    crate::exec::gpu::list_adapters()
        .iter()
        .any(|a| !a.software)
}

/// Runs one case and checks its result against the expectation. Never panics: a panic in the
/// case becomes its error.
pub fn run_case(case: &Case) -> CaseResult {
    let start = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| compare(case)))
        .unwrap_or_else(|panic| Err(Error::Device(format!("keqv panicked: {}", message(&panic)))));
    let duration_s = start.elapsed().as_secs_f64();
    let settings_error = matches!(outcome, Err(Error::Usage(_)));
    let (result, report, error) = match outcome {
        Ok(r) if r.equivalent => (Verdict::Equivalent, Some(r), None),
        Ok(r) => (Verdict::NotEquivalent, Some(r), None),
        Err(e) => (Verdict::Error, None, Some(e.to_string())),
    };
    let reason = unmet(case, result, error.as_deref());
    CaseResult {
        name: case.name.clone(),
        original: case.original.model.display().to_string(),
        converted: case.converted.model.display().to_string(),
        expect: case.expect,
        result,
        passed: reason.is_none(),
        reason,
        error,
        settings_error,
        duration_s,
        report,
    }
}

fn compare(case: &Case) -> Result<VerifyReport> {
    let (original, converted) = load_pair(&case.original, &case.converted, case.inputs_flag())?;
    verify(&original, &converted, &case.options)
}

/// Why `result` does not meet the case's expectation; None when it does.
fn unmet(case: &Case, result: Verdict, error: Option<&str>) -> Option<String> {
    if result != case.expect {
        return Some(match (case.expect, result) {
            (Verdict::Error, got) => {
                format!("expected an error, but the models were compared: {got}")
            }
            (want, Verdict::Error) => format!("expected {want}, got an error"),
            (want, got) => format!("expected {want}, got {got}"),
        });
    }
    match (&case.error_contains, error) {
        (Some(needle), Some(message)) if !message.contains(needle.as_str()) => Some(format!(
            "expected an error containing '{needle}', got another error"
        )),
        _ => None,
    }
}

fn message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}
