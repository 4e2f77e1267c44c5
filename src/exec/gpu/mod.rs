//! GPU executor: WGSL compute kernels through wgpu. (Placeholder until the runtime lands.)

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::exec::{Executor, Keep, Trace};
use crate::graph::Graph;
use crate::tensor::Tensor;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Vulkan,
    Metal,
    Dx12,
    Gl,
}

pub struct GpuContext;

impl GpuContext {
    pub fn open(_backend: Option<Backend>, _adapter: Option<&str>) -> Result<Self> {
        Err(Error::Device(
            "the GPU executor is not available in this build".into(),
        ))
    }

    pub fn open_hardware() -> Result<Option<Self>> {
        Ok(None)
    }
}

pub struct GpuExecutor;

impl GpuExecutor {
    pub fn new(_ctx: Arc<GpuContext>, _graph: Arc<Graph>) -> Result<Self> {
        Err(Error::Device(
            "the GPU executor is not available in this build".into(),
        ))
    }
}

impl Executor for GpuExecutor {
    fn device(&self) -> String {
        "gpu".into()
    }

    fn run(&mut self, _inputs: &[Tensor], _keep: Keep) -> Result<Trace> {
        Err(Error::Device(
            "the GPU executor is not available in this build".into(),
        ))
    }
}
