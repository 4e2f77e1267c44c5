//! What the GPU tests share: the dense kernels an adapter can run.

use keqv::exec::gpu::{self, DenseKernel, GpuContext};

/// Every dense kernel `ctx` can run: the tiled one, the texture one, and the texture one with
/// subgroups where the adapter has them.
pub fn dense_kernels(ctx: &GpuContext) -> Vec<DenseKernel> {
    let mut kernels = vec![
        DenseKernel::Tiled,
        DenseKernel::Texture {
            subgroups: false,
            tile: gpu::SOFT_TILE_PLAIN,
        },
    ];
    if ctx.has_subgroups() {
        kernels.push(DenseKernel::Texture {
            subgroups: true,
            tile: gpu::SOFT_TILE_SUBGROUP,
        });
    }
    kernels
}
