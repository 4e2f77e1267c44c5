//! WGSL sources, kernel variants and the pipeline cache: one compute pipeline per variant
//! (entry point + override constants), created the first time it is asked for.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::params::{KernelParams, ParamsDecl};
use crate::error::Result;
use crate::graph::{Activation, MergeKind};

const COMMON: &str = include_str!("../../../shaders/common.wgsl");

/// One shader file; its module is `common.wgsl` followed by the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShaderFile {
    Dense,
    GemmSoft,
    GemmSoftSubgroup,
    Activation,
    Normalize,
    Elementwise,
    Layout,
    Conv,
    Recurrent,
    ConvLstm,
    Sequence,
    Attention,
    Dot,
    Categorical,
    Compare,
}

impl ShaderFile {
    pub const ALL: [ShaderFile; 15] = [
        ShaderFile::Dense,
        ShaderFile::GemmSoft,
        ShaderFile::GemmSoftSubgroup,
        ShaderFile::Activation,
        ShaderFile::Normalize,
        ShaderFile::Elementwise,
        ShaderFile::Layout,
        ShaderFile::Conv,
        ShaderFile::Recurrent,
        ShaderFile::ConvLstm,
        ShaderFile::Sequence,
        ShaderFile::Attention,
        ShaderFile::Dot,
        ShaderFile::Categorical,
        ShaderFile::Compare,
    ];

    pub fn file_name(self) -> &'static str {
        match self {
            ShaderFile::Dense => "dense.wgsl",
            ShaderFile::GemmSoft => "gemm_soft.wgsl",
            ShaderFile::GemmSoftSubgroup => "gemm_soft_subgroup.wgsl",
            ShaderFile::Activation => "activation.wgsl",
            ShaderFile::Normalize => "normalize.wgsl",
            ShaderFile::Elementwise => "elementwise.wgsl",
            ShaderFile::Layout => "layout.wgsl",
            ShaderFile::Conv => "conv.wgsl",
            ShaderFile::Recurrent => "recurrent.wgsl",
            ShaderFile::ConvLstm => "conv_lstm.wgsl",
            ShaderFile::Sequence => "sequence.wgsl",
            ShaderFile::Attention => "attention.wgsl",
            ShaderFile::Dot => "dot.wgsl",
            ShaderFile::Categorical => "categorical.wgsl",
            ShaderFile::Compare => "compare.wgsl",
        }
    }

    fn body(self) -> &'static str {
        match self {
            ShaderFile::Dense => include_str!("../../../shaders/dense.wgsl"),
            ShaderFile::GemmSoft => include_str!("../../../shaders/gemm_soft.wgsl"),
            ShaderFile::GemmSoftSubgroup => {
                include_str!("../../../shaders/gemm_soft_subgroup.wgsl")
            }
            ShaderFile::Activation => include_str!("../../../shaders/activation.wgsl"),
            ShaderFile::Normalize => include_str!("../../../shaders/normalize.wgsl"),
            ShaderFile::Elementwise => include_str!("../../../shaders/elementwise.wgsl"),
            ShaderFile::Layout => include_str!("../../../shaders/layout.wgsl"),
            ShaderFile::Conv => include_str!("../../../shaders/conv.wgsl"),
            ShaderFile::Recurrent => include_str!("../../../shaders/recurrent.wgsl"),
            ShaderFile::ConvLstm => include_str!("../../../shaders/conv_lstm.wgsl"),
            ShaderFile::Sequence => include_str!("../../../shaders/sequence.wgsl"),
            ShaderFile::Attention => include_str!("../../../shaders/attention.wgsl"),
            ShaderFile::Dot => include_str!("../../../shaders/dot.wgsl"),
            ShaderFile::Categorical => include_str!("../../../shaders/categorical.wgsl"),
            ShaderFile::Compare => include_str!("../../../shaders/compare.wgsl"),
        }
    }

    /// The complete module source: the common prelude, then the file with its templates
    /// filled in. `fn k(FLAT_INVOCATION)` declares an entry point of a one-dimensional grid
    /// split over x, y and z (`grid_1d`), and `FLAT_ID` is its invocation's index there.
    pub fn source(self) -> String {
        let body = self
            .body()
            .replace(
                "(FLAT_INVOCATION)",
                "(\n    @builtin(workgroup_id) wid: vec3<u32>,\n    @builtin(num_workgroups) nwg: vec3<u32>,\n    @builtin(local_invocation_index) li: u32,\n)",
            )
            .replace("FLAT_ID", "flat_id(wid, nwg, li)");
        format!("{}{COMMON}\n{body}", self.params_wgsl())
    }

    /// The WGSL declarations of the parameter structs this file's kernels read (and of
    /// `Groups`, which the grouped reductions nest and common.wgsl's helpers take).
    fn params_wgsl(self) -> String {
        let mut decls = vec![super::params::Groups::DECL];
        for kernel in super::kernel_keys::Kernel::all() {
            let key = kernel.key();
            if key.file == self && !decls.contains(&key.params) {
                decls.push(key.params);
            }
        }
        decls
            .iter()
            .map(|d| d.wgsl())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Modules that use subgroup operations (and so need `Features::SUBGROUP`).
    pub fn needs_subgroups(self) -> bool {
        self == ShaderFile::GemmSoftSubgroup
    }
}

/// A kernel variant: an entry point of a shader file and its override constants.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KernelKey {
    pub file: ShaderFile,
    pub entry: &'static str,
    pub constants: Vec<(&'static str, u32)>,
    /// An explicit bind group layout, for kernels with dynamic offsets (the `*_window` entry
    /// points); None lets wgpu derive the layout from the shader.
    pub layout: Option<&'static [Bind]>,
    /// The parameters it reads at binding 0.
    pub params: ParamsDecl,
}

/// One binding of an explicit layout, in binding order from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bind {
    /// The kernel's parameters.
    Params,
    /// A 64 KiB uniform window over a storage buffer (dynamic offset).
    Window,
    /// The `Window` record of the current window (dynamic offset).
    WindowBase,
    Storage {
        read_only: bool,
    },
}

/// Bytes of one uniform window (`WINDOW` vec4s in common.wgsl).
pub const WINDOW_BYTES: u64 = 65536;
/// Floats of one uniform window.
pub const WINDOW_FLOATS: usize = 16384;

const RW: Bind = Bind::Storage { read_only: false };
const RO: Bind = Bind::Storage { read_only: true };
/// Layouts of the window kernels.
pub const ACT_WINDOW: &[Bind] = &[Bind::Params, Bind::Window, RW, Bind::WindowBase];
pub const MERGE_WINDOW: &[Bind] = &[
    Bind::Params,
    Bind::Window,
    Bind::Window,
    RW,
    Bind::WindowBase,
];
pub const MERGE_ACC_WINDOW: &[Bind] = &[Bind::Params, Bind::Window, RW, Bind::WindowBase];
pub const BATCH_NORM_WINDOW: &[Bind] = &[Bind::Params, Bind::Window, RO, RO, RW, Bind::WindowBase];

impl KernelKey {
    pub fn new(file: ShaderFile, entry: &'static str, params: ParamsDecl) -> Self {
        KernelKey {
            file,
            entry,
            constants: Vec::new(),
            layout: None,
            params,
        }
    }

    pub fn with_layout(mut self, layout: &'static [Bind]) -> Self {
        self.layout = Some(layout);
        self
    }

    pub fn with(mut self, name: &'static str, value: u32) -> Self {
        self.constants.push((name, value));
        self
    }
}

/// Workgroup size of the one-dimensional kernels (the `WG` override).
pub const WG: u32 = 64;

/// The `ACT` override for an elementwise activation (softmax is not elementwise: None).
pub fn act_code(act: &Activation) -> Option<u32> {
    Some(match act {
        Activation::Linear => 0,
        Activation::Relu { .. } => 1,
        Activation::Sigmoid => 2,
        Activation::Tanh => 3,
        Activation::Elu { .. } => 4,
        Activation::Selu => 5,
        Activation::Softplus => 6,
        Activation::Softsign => 7,
        Activation::Silu => 8,
        Activation::Gelu => 9,
        Activation::GeluTanh => 10,
        Activation::HardSigmoid { .. } => 11,
        Activation::HardSilu => 12,
        Activation::Exponential => 13,
        Activation::Mish => 14,
        Activation::Softmax | Activation::LogSoftmax => return None,
    })
}

/// Number of distinct `ACT` codes.
pub const ACT_CODES: u32 = 15;
/// `ACT` value that makes a kernel take the activation code from its parameters (`dims[0].x`):
/// the software GEMM uses it, so one pipeline serves every activation.
pub const ACT_DYNAMIC: u32 = 255;

/// The activation's parameters as the shaders read them (`act_apply` in common.wgsl).
pub fn act_params(act: &Activation) -> [f32; 4] {
    match *act {
        Activation::Relu {
            negative_slope,
            max_value,
            threshold,
            threshold_by_product,
        } => [
            negative_slope,
            max_value.unwrap_or(0.0),
            threshold,
            // Flags: 1 max_value is set, 2 threshold by product.
            f32::from(u8::from(max_value.is_some()) | u8::from(threshold_by_product) << 1),
        ],
        Activation::Elu { alpha } => [alpha, 0.0, 0.0, 0.0],
        Activation::HardSigmoid { slope } => [slope, 0.0, 0.0, 0.0],
        _ => [0.0; 4],
    }
}

/// The `OP` override of elementwise.wgsl (Average adds, then divides on the last step).
pub fn merge_code(kind: MergeKind) -> u32 {
    match kind {
        MergeKind::Add | MergeKind::Average => 0,
        MergeKind::Subtract => 1,
        MergeKind::Multiply => 2,
        MergeKind::Maximum => 3,
        MergeKind::Minimum => 4,
        MergeKind::ScaledAdd { .. } => 5,
    }
}

/// Tile shape of the software GEMM (gemm_soft*.wgsl): rows and 4-column texels per invocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SoftTile {
    pub rows: u32,
    pub texels: u32,
}

/// Lanes per workgroup of the software GEMM: one SIMD vector of llvmpipe (and the subgroup size
/// the subgroup variant shares A rows across).
pub const SOFT_WX: u32 = 8;
/// Largest tile each generated software GEMM holds (`LIMITS` in shaders/gen_gemm_soft.py).
pub const SOFT_MAX_TEXELS: u32 = 4;
pub fn soft_max_tile(subgroups: bool) -> SoftTile {
    if subgroups {
        SoftTile {
            rows: 16,
            texels: 2,
        }
    } else {
        SoftTile {
            rows: 16,
            texels: SOFT_MAX_TEXELS,
        }
    }
}

/// Workgroup shape of the hardware GEMM (dense.wgsl `gemm_tiled`): GX x GY invocations, each a
/// 4 x 4 block, so a (4 GY) x (4 GX) tile of C per workgroup, staged TK deep.
pub const TILED_GX: u32 = 16;
pub const TILED_GY: u32 = 16;
pub const TILED_TK: u32 = 16;
/// Invocations per side of conv_gemm's workgroup (each a 4 × 4 block of the output).
pub const CONV_GEMM_TILE: u32 = 16;

/// A created pipeline and the bind group layout its bind groups must use.
pub struct Pipeline {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

/// Modules and pipelines of one device, created on first use and kept.
pub struct Kernels {
    device: wgpu::Device,
    modules: Mutex<HashMap<ShaderFile, Arc<wgpu::ShaderModule>>>,
    pipelines: Mutex<HashMap<KernelKey, Arc<Pipeline>>>,
}

impl Kernels {
    pub fn new(device: wgpu::Device) -> Self {
        Kernels {
            device,
            modules: Mutex::new(HashMap::new()),
            pipelines: Mutex::new(HashMap::new()),
        }
    }

    fn module(&self, ctx: &super::GpuContext, file: ShaderFile) -> Result<Arc<wgpu::ShaderModule>> {
        let mut modules = self.modules.lock().expect("kernel cache lock");
        if let Some(m) = modules.get(&file) {
            return Ok(m.clone());
        }
        let source = file.source();
        let module = ctx.scoped(&format!("compiling {}", file.file_name()), || {
            self.device
                .create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(file.file_name()),
                    source: wgpu::ShaderSource::Wgsl(source.into()),
                })
        })?;
        let module = Arc::new(module);
        modules.insert(file, module.clone());
        Ok(module)
    }

    /// The pipeline for `key`, created (and cached) on first use.
    pub fn get(&self, ctx: &super::GpuContext, key: &KernelKey) -> Result<Arc<Pipeline>> {
        if let Some(p) = self.pipelines.lock().expect("kernel cache lock").get(key) {
            return Ok(p.clone());
        }
        let module = self.module(ctx, key.file)?;
        let constants: Vec<(&str, f64)> = key
            .constants
            .iter()
            .map(|(k, v)| (*k, f64::from(*v)))
            .collect();
        let what = format!(
            "creating the {} kernel ({})",
            key.entry,
            key.file.file_name()
        );
        let pipeline = ctx.scoped(&what, || {
            let explicit = key.layout.map(|binds| {
                let entries: Vec<wgpu::BindGroupLayoutEntry> = binds
                    .iter()
                    .enumerate()
                    .map(|(i, b)| wgpu::BindGroupLayoutEntry {
                        binding: i as u32,
                        visibility: wgpu::ShaderStages::COMPUTE,
                        ty: match b {
                            Bind::Params => uniform(false, key.params.size as u64),
                            Bind::Window => uniform(true, WINDOW_BYTES),
                            Bind::WindowBase => uniform(true, 16),
                            Bind::Storage { read_only } => wgpu::BindingType::Buffer {
                                ty: wgpu::BufferBindingType::Storage {
                                    read_only: *read_only,
                                },
                                has_dynamic_offset: false,
                                min_binding_size: None,
                            },
                        },
                        count: None,
                    })
                    .collect();
                let bgl = self
                    .device
                    .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                        label: Some(key.entry),
                        entries: &entries,
                    });
                let pl = self
                    .device
                    .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                        label: Some(key.entry),
                        bind_group_layouts: &[Some(&bgl)],
                        immediate_size: 0,
                    });
                (bgl, pl)
            });
            let pipeline = self
                .device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(key.entry),
                    layout: explicit.as_ref().map(|(_, pl)| pl),
                    module: &module,
                    entry_point: Some(key.entry),
                    compilation_options: wgpu::PipelineCompilationOptions {
                        constants: &constants,
                        zero_initialize_workgroup_memory: false,
                    },
                    cache: None,
                });
            let layout = match explicit {
                Some((bgl, _)) => bgl,
                None => pipeline.get_bind_group_layout(0),
            };
            Pipeline { pipeline, layout }
        })?;
        let pipeline = Arc::new(pipeline);
        self.pipelines
            .lock()
            .expect("kernel cache lock")
            .insert(key.clone(), pipeline.clone());
        Ok(pipeline)
    }
}

fn uniform(dynamic: bool, size: u64) -> wgpu::BindingType {
    wgpu::BindingType::Buffer {
        ty: wgpu::BufferBindingType::Uniform,
        has_dynamic_offset: dynamic,
        min_binding_size: wgpu::BufferSize::new(size),
    }
}

/// A kernel variant as a test validates it: the module source, the entry point and the override
/// values. Covers every variant the executor can create.
#[derive(Clone, Debug)]
pub struct Variant {
    pub file: ShaderFile,
    pub entry: &'static str,
    pub constants: Vec<(&'static str, f64)>,
}

/// Every kernel variant the executor may ask for (all activations, merge ops and GEMM tiles),
/// from the same constructors the planner uses.
pub fn variants() -> Vec<Variant> {
    super::kernel_keys::Kernel::all()
        .into_iter()
        .map(|kernel| {
            let key = kernel.key();
            Variant {
                file: key.file,
                entry: key.entry,
                constants: key
                    .constants
                    .iter()
                    .map(|(k, v)| (*k, f64::from(*v)))
                    .collect(),
            }
        })
        .collect()
}
