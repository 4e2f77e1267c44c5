"""numpy on the CPU kernel targets of BENCHMARKS.md, to read beside `cargo bench --bench kernels
-- 'relu_16M/x1/cpu|layer_norm_4096x1024/cpu'` and `cargo bench --bench cpu_gemm -- 'keqv/(1024|2048)x'`
run in the same session: float32 matmul of 1024² and 2048² squares (OpenBLAS), relu over 16M float32
(`np.maximum(x, 0, out=y)`) and LayerNormalization over 4096×1024 (mean, variance, normalise,
scale and shift, as keqv's CPU executor computes it). Prints the median of 20 runs of each.

    python benches/elementwise_baseline.py
"""

import statistics
import time

import numpy as np


def median_ms(f, runs=20):
    f()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 1 << 20), dtype=np.float32)
    y = np.empty_like(x)
    print("relu 16M, numpy np.maximum(x, 0, out=y): %.2f ms" % median_ms(lambda: np.maximum(x, 0, out=y)))

    a = rng.standard_normal((4096, 1024), dtype=np.float32)
    gamma = rng.standard_normal(1024, dtype=np.float32)
    beta = rng.standard_normal(1024, dtype=np.float32)

    def layer_norm():
        mean = a.mean(axis=-1, keepdims=True)
        centered = a - mean
        var = np.mean(centered * centered, axis=-1, keepdims=True)
        return centered / np.sqrt(var + 1e-3) * gamma + beta

    print("LayerNorm 4096x1024, numpy: %.2f ms" % median_ms(layer_norm))

    for n in (1024, 2048):
        a, b = rng.standard_normal((2, n, n), dtype=np.float32)
        c = np.empty_like(a)
        ms = median_ms(lambda: np.matmul(a, b, out=c))
        print("matmul %d^3, numpy: %.2f ms, %.1f GFLOP/s" % (n, ms, 2 * n**3 / ms / 1e6))


if __name__ == "__main__":
    main()
