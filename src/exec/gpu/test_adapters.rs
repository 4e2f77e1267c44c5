//! The adapters the GPU tests run on, and the rules that make a missing one fail in CI.

use super::*;

/// The GPU adapters tests should run on, one shared context each (so pipelines compile once per
/// test binary). Rules, shared by every GPU test of the crate:
/// - env `KEQV_GPU_BACKENDS=vulkan,gl`: an adapter of each listed backend must exist (else this
///   panics, failing the test) and only those backends are used;
/// - otherwise every adapter found; when there is none, `KEQV_REQUIRE_GPU=1` makes this panic,
///   else it prints that the test is skipped and returns an empty list.
pub fn test_adapters() -> Vec<Arc<GpuContext>> {
    static CONTEXTS: OnceLock<std::result::Result<Vec<Arc<GpuContext>>, String>> = OnceLock::new();
    let contexts = CONTEXTS.get_or_init(|| {
        if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
            // Mesa's Vulkan loader complains on every instance without it.
            std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir());
        }
        open_test_adapters()
    });
    match contexts {
        Ok(list) => {
            if list.is_empty() {
                eprintln!(
                    "no GPU adapter found: skipping (set KEQV_REQUIRE_GPU=1 to make this an error)"
                );
            }
            list.clone()
        }
        Err(msg) => panic!("{msg}"),
    }
}

fn open_test_adapters() -> std::result::Result<Vec<Arc<GpuContext>>, String> {
    let required: Option<Vec<Backend>> = match std::env::var("KEQV_GPU_BACKENDS") {
        Ok(list) if !list.trim().is_empty() => Some(
            list.split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| {
                    s.parse::<Backend>()
                        .map_err(|e| format!("KEQV_GPU_BACKENDS: {e}"))
                })
                .collect::<std::result::Result<_, _>>()?,
        ),
        _ => None,
    };
    let summaries = list_adapters();
    let mut out = Vec::new();
    let backends = required.clone().unwrap_or_else(|| Backend::ALL.to_vec());
    for backend in backends {
        let present = summaries.iter().any(|a| a.backend == backend.to_string());
        if !present {
            if required.is_some() {
                return Err(format!(
                    "KEQV_GPU_BACKENDS asks for {backend}, but no {backend} adapter was found (found: {})",
                    summaries.iter().map(|a| format!("{} ({})", a.name, a.backend)).collect::<Vec<_>>().join(", ")
                ));
            }
            continue;
        }
        for ctx in GpuContext::open_each(backend) {
            out.push(Arc::new(ctx.map_err(|e| e.to_string())?));
        }
    }
    if out.is_empty() && std::env::var("KEQV_REQUIRE_GPU").is_ok_and(|v| v.trim() == "1") {
        return Err("KEQV_REQUIRE_GPU=1 but no GPU adapter was found (install mesa-vulkan-drivers for lavapipe)".into());
    }
    Ok(out)
}
