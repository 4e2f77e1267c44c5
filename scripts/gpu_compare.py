"""keqv's WGSL figures from criterion against PyTorch (cuBLAS and cuDNN float32, TF32 off) on the
same GPU.

Usage: python3 scripts/gpu_compare.py target/criterion
Reads the medians of the dense 4096³, large-MLP batch-1024 and ResNet50 3×3 convolution (batch 32)
benches that scripts/gpu-bench.sh just ran, times the same work in PyTorch (cuDNN for the
convolutions, channels last), and prints a Markdown table. Both sides are timed end to
end (host input in, host output back) and PyTorch also kernel-only, so the ratio can be read both
ways.
"""
import glob
import json
import os
import sys
import time

import torch

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
DEV = torch.device("cuda")
REPS = 20


def criterion_medians(root, group):
    """{bench id: median seconds} for every bench of `group` under criterion's output folder."""
    out = {}
    for path in glob.glob(os.path.join(root, group, "*", "*", "new", "benchmark.json")):
        with open(path) as f:
            bench = json.load(f)
        with open(os.path.join(os.path.dirname(path), "estimates.json")) as f:
            median_ns = json.load(f)["median"]["point_estimate"]
        out[bench["full_id"]] = median_ns * 1e-9
    return out


def timed(fn):
    """Median seconds of `fn` over REPS runs after three warm-ups, synchronised each time."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(REPS):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def dense(n):
    """(end-to-end seconds, kernel-only seconds) of x·W + b with n×n operands."""
    gen = torch.Generator().manual_seed(0)
    x_host = torch.rand(n, n, generator=gen) - 0.5
    w = (torch.rand(n, n, generator=gen) - 0.5).to(DEV)
    b = (torch.rand(n, generator=gen) - 0.5).to(DEV)
    x = x_host.to(DEV)
    kernel = timed(lambda: torch.addmm(b, x, w))
    end_to_end = timed(lambda: torch.addmm(b, x_host.to(DEV), w).cpu())
    return end_to_end, kernel


def mlp(batch):
    """(end-to-end seconds, kernel-only seconds) of 784→4096→4096→4096→10 with ReLU."""
    torch.manual_seed(0)
    widths = [784, 4096, 4096, 4096, 10]
    layers = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).to(DEV).eval()
    x_host = torch.randn(batch, 784)
    x = x_host.to(DEV)
    with torch.inference_mode():
        kernel = timed(lambda: model(x))
        end_to_end = timed(lambda: model(x_host.to(DEV)).cpu())
    return end_to_end, kernel


def conv3x3(side, channels, batch=32):
    """(end-to-end seconds, kernel-only seconds) of a 3×3 'same' convolution with bias, channels
    last, as benches/kernels.rs's conv3x3 group runs it."""
    gen = torch.Generator().manual_seed(0)
    x_host = (torch.rand(batch, channels, side, side, generator=gen) - 0.5).to(
        memory_format=torch.channels_last)
    w = (torch.rand(channels, channels, 3, 3, generator=gen) - 0.5).to(DEV).to(
        memory_format=torch.channels_last)
    b = (torch.rand(channels, generator=gen) - 0.5).to(DEV)
    x = x_host.to(DEV)
    conv = torch.nn.functional.conv2d
    with torch.inference_mode():
        kernel = timed(lambda: conv(x, w, b, padding=1))
        end_to_end = timed(lambda: conv(x_host.to(DEV), w, b, padding=1).cpu())
    return end_to_end, kernel


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
    n, batch = 4096, 1024
    mlp_flops = 2 * batch * (784 * 4096 + 4096 * 4096 * 2 + 4096 * 10)
    cases = [
        ("dense", f"dense/{n}^3/", 2 * n**3, dense(n)),
        ("large_mlp", "large_mlp/", mlp_flops, mlp(batch)),
    ]
    for side, channels in [(56, 64), (28, 128), (14, 256), (7, 512)]:
        flops = 2 * 32 * side * side * 9 * channels * channels
        cases.append(("conv3x3", f"conv3x3/{side}x{side}x{channels}/", flops, conv3x3(side, channels)))
    print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, TF32 off\n")
    print("| work | runner | median | GFLOP/s | keqv as % of torch, end to end | keqv as % of torch, kernel only |")
    print("| --- | --- | --- | --- | --- | --- |")
    for group, prefix, flops, (torch_e2e, torch_kernel) in cases:
        for label, secs in [("torch end to end", torch_e2e), ("torch kernel only", torch_kernel)]:
            print(f"| {prefix.rstrip('/')} | {label} | {secs * 1e3:.2f} ms | {flops / secs / 1e9:,.0f} | | |")
        for bench_id, secs in sorted(criterion_medians(root, group).items()):
            if not bench_id.startswith(prefix) or (group == "large_mlp" and not bench_id.endswith(f"/{batch}")):
                continue
            print(
                f"| {prefix.rstrip('/')} | keqv {bench_id[len(prefix):]} | {secs * 1e3:.2f} ms "
                f"| {flops / secs / 1e9:,.0f} | {torch_e2e / secs:.0%} | {torch_kernel / secs:.0%} |"
            )


if __name__ == "__main__":
    main()
