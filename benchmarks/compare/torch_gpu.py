# SPDX-License-Identifier: Apache-2.0
# The PyTorch side of benchmarks/compare/torch_gpu.sh: times the cases of benchmarks/cuda/ops.cu
# in PyTorch with CUDA events, reads tessera's Google Benchmark JSON, and prints one line per case:
#   RESULT case=<name> tessera=<ms> torch=<ms> unit=ms ratio=<tessera/torch>
# The timing mirrors Google Benchmark's with --benchmark_min_time=MIN_TIME and
# --benchmark_repetitions=REPS: each of REPS repetitions runs iterations (each synchronised, as
# tessera's time_iterations) until their event times add up to MIN_TIME seconds, and the result
# is the median of the repetitions' means. Both sides then keep the GPU busy for the same time:
# a GEMM timed over 50 iterations (20 ms) runs at boost clocks that a second of the same GEMM
# does not keep (power limit), so unequal durations alone can move a ratio by 10 %.
# MIN_TIME=0 times single iterations instead (median of REPS).
# usage: REPS=<n> MIN_TIME=<s> python3 torch_gpu.py <tessera.json>
import json
import os
import statistics
import sys

import torch

REPS = int(os.environ.get("REPS", "10"))
MIN_TIME = float(os.environ.get("MIN_TIME", "0.5"))  # Google Benchmark's default


def time_one(fn):
    """One synchronised iteration, in ms (CUDA events), as tessera's time_iterations."""
    a = torch.cuda.Event(enable_timing=True)
    b = torch.cuda.Event(enable_timing=True)
    a.record()
    fn()
    b.record()
    b.synchronize()
    return a.elapsed_time(b)


def time_ms(fn, reps=REPS, warmup=3, min_time=MIN_TIME):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    if min_time <= 0:
        return statistics.median(time_one(fn) for _ in range(reps))
    means = []
    for _ in range(reps):
        total, n = 0.0, 0
        while total < min_time * 1e3:
            total += time_one(fn)
            n += 1
        means.append(total / n)
    return statistics.median(means)


def mlp_step():
    torch.manual_seed(7)
    dev = "cuda"
    net = torch.nn.Sequential(
        torch.nn.Linear(784, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 1024), torch.nn.ReLU(),
        torch.nn.Linear(1024, 10)).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.randn(256, 784, device=dev)
    y = (torch.arange(256, device=dev) * 7) % 10

    def step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()

    return step


def small_ops():
    # benchmarks/ad/cases.hpp's chain and values: 40 x (add, mul, tanh, sub, exp), 16 elements.
    i = torch.arange(16, dtype=torch.float32, device="cuda")
    x0, a, b, c = -0.4 + 0.05 * i, 0.1 + 0.01 * i, 0.9 - 0.01 * i, 0.5 + 0.02 * i

    def run():
        with torch.no_grad():
            x = x0
            for _ in range(40):
                x = torch.exp(torch.tanh((x + a) * b) - c)

    return run


def small_ops_bwd():
    # The same chain with autograd: x requires grad, sum().backward() after the chain.
    i = torch.arange(16, dtype=torch.float32, device="cuda")
    x0, a, b, c = -0.4 + 0.05 * i, 0.1 + 0.01 * i, 0.9 - 0.01 * i, 0.5 + 0.02 * i

    def run():
        x = x0.detach().requires_grad_(True)
        y = x
        for _ in range(40):
            y = torch.exp(torch.tanh((y + a) * b) - c)
        y.sum().backward()

    return run


def matmul_tf32():
    torch.backends.cuda.matmul.allow_tf32 = True
    a = torch.randn(4096, 4096, device="cuda")
    b = torch.randn(4096, 4096, device="cuda")
    return lambda: a @ b


def matmul_bf16():
    a = torch.randn(4096, 4096, device="cuda")
    b = torch.randn(4096, 4096, device="cuda")

    def run():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            return a @ b

    return run


def matmul_bf16_storage():
    a = torch.randn(4096, 4096, device="cuda").to(torch.bfloat16)
    b = torch.randn(4096, 4096, device="cuda").to(torch.bfloat16)
    return lambda: a @ b


def softmax_rows():
    x = torch.randn(16384, 1024, device="cuda")
    return lambda: torch.softmax(x, dim=-1)


def rfft2_irfft2_94():
    x = torch.randn(32, 32, 94, 94, device="cuda")
    return lambda: torch.fft.irfft2(torch.fft.rfft2(x), s=(94, 94))


def main():
    with open(sys.argv[1]) as f:
        report = json.load(f)
    ours = {}
    for b in report["benchmarks"]:
        if b.get("aggregate_name") == "median":
            scale = {"ms": 1.0, "us": 1e-3, "ns": 1e-6, "s": 1e3}[b["time_unit"]]
            ours[b["run_name"].split("/")[0]] = b["real_time"] * scale
    torch_cases = {
        "mlp_train_step": mlp_step(),
        "small_ops_fwd": small_ops(),
        "small_ops_fwd_bwd": small_ops_bwd(),
        "matmul_4096_tf32": matmul_tf32(),
        "matmul_4096_bf16": matmul_bf16(),
        "matmul_4096_bf16_storage": matmul_bf16_storage(),
        "softmax_rows": softmax_rows(),
        "rfft2_irfft2_94": rfft2_irfft2_94(),
    }
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name()}")
    for name, fn in torch_cases.items():
        t = time_ms(fn)
        # mlp_train_step_graph, _tape and _tape_graph are timed against the same eager PyTorch
        # step; the matmul cases' _gemmex (cublasGemmEx instead of cuBLASLt) and _autotune
        # variants against the same PyTorch product.
        for case in (name, name + "_graph", name + "_tape", name + "_tape_graph",
                     name + "_gemmex", name + "_autotune"):
            if case in ours:
                o = ours[case]
                print(f"RESULT case={case} tessera={o:.4f} torch={t:.4f} unit=ms ratio={o / t:.3f}")
    n = 4096
    for case in ("matmul_4096_tf32", "matmul_4096_tf32_gemmex", "matmul_4096_tf32_autotune",
                 "matmul_4096_bf16", "matmul_4096_bf16_storage",
                 "matmul_4096_bf16_storage_gemmex"):
        if case in ours:
            print(f"{case}: tessera {2 * n**3 / ours[case] * 1e-9:.1f} TFLOP/s")
    if "softmax_rows" in ours:
        gb = 2 * 16384 * 1024 * 4 * 1e-9
        print(f"softmax_rows: tessera {gb / ours['softmax_rows'] * 1e3:.0f} GB/s")


if __name__ == "__main__":
    main()
