//! `keqv adapters`: every GPU adapter wgpu can see, with the limits that matter to keqv.

use super::Outcome;
use crate::cli::OutputFormat;
use crate::error::Result;
use crate::exec::gpu::list_adapters;

pub fn adapters(format: OutputFormat) -> Result<Outcome> {
    let adapters = list_adapters();
    match format {
        OutputFormat::Json => println!(
            "{}",
            crate::document::json(&serde_json::json!({ "adapters": adapters }))
        ),
        OutputFormat::Text if adapters.is_empty() => {
            println!("no GPU adapter found; keqv runs on the CPU (install mesa-vulkan-drivers for Mesa's lavapipe)")
        }
        OutputFormat::Text => {
            for a in &adapters {
                let kind = if a.software {
                    "software".to_string()
                } else {
                    format!("hardware, {}", a.device_type)
                };
                let features: Vec<&str> = [
                    (a.shader_f16, "f16"),
                    (a.subgroups, "subgroups"),
                    (a.timestamp_queries, "timestamps"),
                ]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, name)| *name)
                .collect();
                println!("{} — {}, {kind}", a.name, a.backend);
                println!("  driver        {} {}", a.driver, a.driver_info);
                println!(
                    "  limits        storage binding {} MiB, buffer {} MiB, workgroup {:?} / {} invocations, {} storage buffers per stage",
                    a.max_storage_buffer_binding_size >> 20,
                    a.max_buffer_size >> 20,
                    a.max_compute_workgroup_size,
                    a.max_compute_invocations_per_workgroup,
                    a.max_storage_buffers_per_shader_stage
                );
                println!(
                    "  features      {}",
                    if features.is_empty() {
                        "none".to_string()
                    } else {
                        features.join(", ")
                    }
                );
            }
        }
    }
    Ok(Outcome::Success)
}
