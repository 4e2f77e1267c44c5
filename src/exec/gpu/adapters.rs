//! The GPU adapters wgpu can see: backends, their summaries for `keqv adapters`, and the
//! order in which keqv prefers them (hardware before software).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::error::{Error, Result};

/// A graphics API wgpu can drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    Vulkan,
    Metal,
    Dx12,
    Gl,
}

impl Backend {
    pub const ALL: [Backend; 4] = [Backend::Vulkan, Backend::Metal, Backend::Dx12, Backend::Gl];

    pub(super) fn flags(self) -> wgpu::Backends {
        match self {
            Backend::Vulkan => wgpu::Backends::VULKAN,
            Backend::Metal => wgpu::Backends::METAL,
            Backend::Dx12 => wgpu::Backends::DX12,
            Backend::Gl => wgpu::Backends::GL,
        }
    }

    pub(super) fn of(backend: wgpu::Backend) -> Option<Backend> {
        match backend {
            wgpu::Backend::Vulkan => Some(Backend::Vulkan),
            wgpu::Backend::Metal => Some(Backend::Metal),
            wgpu::Backend::Dx12 => Some(Backend::Dx12),
            wgpu::Backend::Gl => Some(Backend::Gl),
            _ => None,
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Vulkan => "Vulkan",
            Backend::Metal => "Metal",
            Backend::Dx12 => "DX12",
            Backend::Gl => "GL",
        })
    }
}

impl FromStr for Backend {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "vulkan" | "vk" => Ok(Backend::Vulkan),
            "metal" | "mtl" => Ok(Backend::Metal),
            "dx12" | "d3d12" => Ok(Backend::Dx12),
            "gl" | "gles" | "opengl" => Ok(Backend::Gl),
            other => Err(Error::Usage(format!(
                "unknown GPU backend '{other}'; use one of vulkan, metal, dx12, gl"
            ))),
        }
    }
}

/// What `keqv adapters` prints for each adapter wgpu finds.
#[derive(Clone, Debug, Serialize)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    /// "discrete", "integrated", "virtual", "software" or "other".
    pub device_type: String,
    /// True for CPU (software) adapters such as llvmpipe, lavapipe, WARP or SwiftShader.
    pub software: bool,
    pub driver: String,
    pub driver_info: String,
    pub max_storage_buffer_binding_size: u64,
    pub max_buffer_size: u64,
    pub max_compute_workgroup_size: [u32; 3],
    pub max_compute_invocations_per_workgroup: u32,
    pub max_compute_workgroups_per_dimension: u32,
    pub max_storage_buffers_per_shader_stage: u32,
    pub shader_f16: bool,
    pub subgroups: bool,
    pub timestamp_queries: bool,
}

impl AdapterSummary {
    pub(super) fn new(
        info: &wgpu::AdapterInfo,
        limits: &wgpu::Limits,
        features: wgpu::Features,
    ) -> Self {
        AdapterSummary {
            name: info.name.clone(),
            backend: Backend::of(info.backend)
                .map_or_else(|| format!("{:?}", info.backend), |b| b.to_string()),
            device_type: device_type_name(info.device_type).into(),
            software: info.device_type == wgpu::DeviceType::Cpu,
            driver: info.driver.clone(),
            driver_info: info.driver_info.clone(),
            max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
            max_buffer_size: limits.max_buffer_size,
            max_compute_workgroup_size: [
                limits.max_compute_workgroup_size_x,
                limits.max_compute_workgroup_size_y,
                limits.max_compute_workgroup_size_z,
            ],
            max_compute_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
            max_compute_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
            max_storage_buffers_per_shader_stage: limits.max_storage_buffers_per_shader_stage,
            shader_f16: features.contains(wgpu::Features::SHADER_F16),
            subgroups: features.contains(wgpu::Features::SUBGROUP),
            timestamp_queries: features.contains(wgpu::Features::TIMESTAMP_QUERY),
        }
    }
}

impl fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mib = |b: u64| b / (1 << 20);
        let mut feats: Vec<&str> = Vec::new();
        if self.shader_f16 {
            feats.push("f16");
        }
        if self.subgroups {
            feats.push("subgroups");
        }
        if self.timestamp_queries {
            feats.push("timestamps");
        }
        let driver = match (self.driver.is_empty(), self.driver_info.is_empty()) {
            (false, false) => format!("{} {}", self.driver, self.driver_info),
            (false, true) => self.driver.clone(),
            (true, false) => self.driver_info.clone(),
            (true, true) => "unknown driver".into(),
        };
        let [x, y, z] = self.max_compute_workgroup_size;
        write!(
            f,
            "{} — {}, {}; {}; storage binding {} MiB, buffer {} MiB, workgroup {} ({}x{}x{}), {} storage buffers/stage; features: {}",
            self.name,
            self.backend,
            self.device_type,
            driver,
            mib(self.max_storage_buffer_binding_size),
            mib(self.max_buffer_size),
            self.max_compute_invocations_per_workgroup,
            x,
            y,
            z,
            self.max_storage_buffers_per_shader_stage,
            if feats.is_empty() { "none".to_string() } else { feats.join(", ") }
        )
    }
}

pub(super) fn device_type_name(t: wgpu::DeviceType) -> &'static str {
    match t {
        wgpu::DeviceType::DiscreteGpu => "discrete",
        wgpu::DeviceType::IntegratedGpu => "integrated",
        wgpu::DeviceType::VirtualGpu => "virtual",
        wgpu::DeviceType::Cpu => "software",
        wgpu::DeviceType::Other => "other",
    }
}

/// Lists every adapter wgpu finds on every backend, without opening a device.
pub fn list_adapters() -> Vec<AdapterSummary> {
    enumerate(wgpu::Backends::all())
        .iter()
        .map(|a| AdapterSummary::new(&a.get_info(), &a.limits(), a.features()))
        .collect()
}

pub(super) fn instance(backends: wgpu::Backends) -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends,
        flags: wgpu::InstanceFlags::empty().with_env(),
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    })
}

pub(super) fn enumerate(backends: wgpu::Backends) -> Vec<wgpu::Adapter> {
    let instance = instance(backends);
    let mut adapters = pollster::block_on(instance.enumerate_adapters(backends));
    adapters.sort_by_key(|a| preference(&a.get_info()));
    adapters
}

/// Sort key: hardware before software, native APIs before GL.
pub(super) fn preference(info: &wgpu::AdapterInfo) -> (u8, u8) {
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    };
    let api = match info.backend {
        wgpu::Backend::Gl => 1,
        _ => 0,
    };
    (kind, api)
}
