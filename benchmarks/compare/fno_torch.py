# SPDX-License-Identifier: Apache-2.0
"""The PyTorch side of benchmarks/compare/fno_gpu.sh: the models of the FNO-DEQ brief
(shared/papers/fno_deq.md) written as the reference code writes them, trained on Darcy data
that tessera generated (examples/fno_deq --write-data DIR: a_train.npy, u_train.npy,
a_test.npy, u_test.npy, each (N, K, K) float64), so both sides see the same data.

Models (width w, modes m, GELU, lift Linear(1+2 -> w) with grid channels, zero pad 9 right and
bottom, a last Fourier layer without activation or injection, crop, head 1x1 w->128->1):
  fno    one 3-layer Fourier block applied to the lifted input x~, no injection (FNO, d = 1)
  fno++  the block from z = 0 with x~ injected in every layer
  wt     the block unrolled --wt-unroll times from z = 0, full backprop (FNO-WT)
  deq    the block solved to its fixed point by Anderson (m = 5, lambda = 1e-4 absolute,
         beta = 1, z0 = 0, full budget, per-sample coefficients, lowest batch-Frobenius
         residual iterate), phantom gradient tau = 0.5, k = 1; the first --warmup steps unrolled
         x8 from z = 0 with full backprop (FNO-DEQ)
Training: loss = per-sample relative L2 summed over the batch, Adam lr 1e-3 with L2 weight decay
1e-4 (torch.optim.Adam adds it to the gradient, as the FNO code's Adam), cosine annealing
stepped per iteration, per-pixel Gaussian normaliser (eps 1e-5) on inputs and targets.

Two modes:
  --time-steps N   per model: --time-warmup steps, then N timed optimiser steps (the DEQ in
                   solver mode, after its warm-up phase), CUDA-synchronised per step; prints
                   TIMING model=<name> ms_per_step=<median wall> min=<> max=<>
                   cpu_ms_per_step=<median process CPU time> steps=<N> params=<n>
  (default)        trains --epochs epochs (or --seconds of training) and prints per-epoch
                   train/test relative L2, then RESULT-like lines
                   TRAIN model=<name> epochs=<e> steps=<s> train_s=<t> test_rel_l2=<err>
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class SpectralConv2d(nn.Module):
    """The legacy FNO SpectralConv2d: rfft2 (norm backward), two corner blocks of m1 x m2 modes,
    einsum "bixy,ioxy->boxy", zero elsewhere, irfft2; weights U[0,1) / (Cin Cout), no bias."""

    def __init__(self, cin, cout, m1, m2):
        super().__init__()
        self.m1, self.m2 = m1, m2
        scale = 1 / (cin * cout)
        self.weights1 = nn.Parameter(scale * torch.rand(cin, cout, m1, m2, dtype=torch.cfloat))
        self.weights2 = nn.Parameter(scale * torch.rand(cin, cout, m1, m2, dtype=torch.cfloat))

    def forward(self, x):
        B, _, H, W = x.shape
        m1, m2 = self.m1, self.m2
        x_ft = torch.fft.rfft2(x)
        out_ft = torch.zeros(B, self.weights1.shape[1], H, W // 2 + 1, dtype=torch.cfloat,
                             device=x.device)
        out_ft[:, :, :m1, :m2] = torch.einsum("bixy,ioxy->boxy", x_ft[:, :, :m1, :m2],
                                              self.weights1)
        out_ft[:, :, -m1:, :m2] = torch.einsum("bixy,ioxy->boxy", x_ft[:, :, -m1:, :m2],
                                               self.weights2)
        return torch.fft.irfft2(out_ft, s=(H, W))


class PointwiseMLP(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.fc1 = nn.Conv2d(w, w, 1)
        self.fc2 = nn.Conv2d(w, w, 1)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class FourierLayer(nn.Module):
    """sigma(MLP(K z) + W z + inj); no activation when act is False."""

    def __init__(self, w, m):
        super().__init__()
        self.conv = SpectralConv2d(w, w, m, m)
        self.mlp = PointwiseMLP(w)
        self.w = nn.Conv2d(w, w, 1)

    def forward(self, z, inj=None, act=True):
        y = self.mlp(self.conv(z)) + self.w(z)
        if inj is not None:
            y = y + inj
        return F.gelu(y) if act else y


class Block(nn.Module):
    def __init__(self, w, m, depth=3):
        super().__init__()
        self.layers = nn.ModuleList(FourierLayer(w, m) for _ in range(depth))

    def forward(self, z, inj=None):
        for layer in self.layers:
            z = layer(z, inj)
        return z


def anderson(f, x0, iters, m=5, lam=1e-4, beta=1.0):
    """The FNO-DEQ reference's Anderson acceleration (from the DEQ repository): per-sample
    bordered least-squares systems, the full budget of `iters` evaluations of f (its
    tolerance is overwritten with 1e-9 on entry), the iterate with the lowest Frobenius
    residual over the whole batch returned. Runs without autograd. Returns (z, rel_residual),
    the residual as a tensor (no host synchronisation inside the loop)."""
    bsz = x0.shape[0]
    d = x0[0].numel()
    X = torch.zeros(bsz, m, d, dtype=x0.dtype, device=x0.device)
    Fm = torch.zeros(bsz, m, d, dtype=x0.dtype, device=x0.device)
    X[:, 0], Fm[:, 0] = x0.reshape(bsz, -1), f(x0).reshape(bsz, -1)
    X[:, 1], Fm[:, 1] = Fm[:, 0], f(Fm[:, 0].reshape_as(x0)).reshape(bsz, -1)
    H = torch.zeros(bsz, m + 1, m + 1, dtype=x0.dtype, device=x0.device)
    H[:, 0, 1:] = H[:, 1:, 0] = 1
    y = torch.zeros(bsz, m + 1, 1, dtype=x0.dtype, device=x0.device)
    y[:, 0] = 1
    # Best iterate so far (the reference starts from x0's residual).
    best = X[:, 0].clone()
    best_res = (Fm[:, 0] - X[:, 0]).norm()
    best_rel = best_res / (1e-5 + Fm[:, 0].norm())
    for k in range(2, iters):
        n = min(k, m)
        G = Fm[:, :n] - X[:, :n]
        H[:, 1:n + 1, 1:n + 1] = torch.bmm(G, G.transpose(1, 2)) + lam * torch.eye(
            n, dtype=x0.dtype, device=x0.device)[None]
        alpha = torch.linalg.solve(H[:, :n + 1, :n + 1], y[:, :n + 1])[:, 1:n + 1, 0]
        X[:, k % m] = beta * (alpha[:, None] @ Fm[:, :n])[:, 0] + (1 - beta) * (
            alpha[:, None] @ X[:, :n])[:, 0]
        Fm[:, k % m] = f(X[:, k % m].reshape_as(x0)).reshape(bsz, -1)
        g = Fm[:, k % m] - X[:, k % m]
        res = g.norm()
        better = res < best_res
        best = torch.where(better, X[:, k % m], best)
        best_rel = torch.where(better, res / (1e-5 + Fm[:, k % m].norm()), best_rel)
        best_res = torch.minimum(res, best_res)
    return best.reshape_as(x0), best_rel


class Model(nn.Module):
    def __init__(self, kind, w, m, pad, args):
        super().__init__()
        self.kind, self.pad, self.args = kind, pad, args
        self.lift = nn.Linear(3, w)
        self.block = Block(w, m)
        # FNO / FNO++ with d > 1 ("fno2", "fno++4", ...): blocks 2 ... d, created after the rest.
        self.last = FourierLayer(w, m)
        self.q1 = nn.Conv2d(w, 128, 1)
        self.q2 = nn.Conv2d(128, 1, 1)
        self.solver_mode = False  # DEQ: False = warm-up (unrolled), True = Anderson + phantom
        self.last_residual = None
        depth = int(kind[-1]) if kind[-1].isdigit() else 1
        self.kind = kind.rstrip("0123456789")
        self.deeper = nn.ModuleList(Block(w, m) for _ in range(depth - 1))

    def lifted(self, a):  # a (B, K, K) normalised -> x~ (B, w, K+pad, K+pad)
        B, K, _ = a.shape
        g = torch.linspace(0, 1, K, device=a.device, dtype=a.dtype)
        gx = g.reshape(1, K, 1, 1).expand(B, K, K, 1)
        gy = g.reshape(1, 1, K, 1).expand(B, K, K, 1)
        x = self.lift(torch.cat([a.unsqueeze(-1), gx, gy], dim=-1)).permute(0, 3, 1, 2)
        return F.pad(x, [0, self.pad, 0, self.pad])

    def trunk(self, xt):
        if self.kind == "fno":
            z = self.block(xt)
            for b in self.deeper:
                z = b(z)
            return z
        if self.kind == "fno++":
            z = self.block(torch.zeros_like(xt), xt)
            for b in self.deeper:
                z = b(z, xt)
            return z
        if self.kind == "wt":
            z = torch.zeros_like(xt)
            for _ in range(self.args.wt_unroll):
                z = self.block(z, xt)
            return z
        # deq
        if not self.solver_mode:
            z = torch.zeros_like(xt)
            for _ in range(self.args.warmup_unroll):
                z = self.block(z, xt)
            return z
        with torch.no_grad():
            z, self.last_residual = anderson(lambda z: self.block(z, xt), torch.zeros_like(xt),
                                             self.args.solver_iters)
        tau = self.args.phantom_tau
        for _ in range(self.args.phantom_steps):
            z = (1 - tau) * z + tau * self.block(z, xt)
        return z

    def forward(self, a):
        z = self.last(self.trunk(self.lifted(a)), None, act=False)
        z = z[..., :z.shape[-2] - self.pad, :z.shape[-1] - self.pad]
        return self.q2(F.gelu(self.q1(z))).squeeze(1)


class GaussianNormaliser:
    """FNO's UnitGaussianNormalizer: per-pixel mean and (unbiased) std over the training set."""

    def __init__(self, x, eps=1e-5):
        self.mean, self.std, self.eps = x.mean(0), x.std(0), eps

    def encode(self, x):
        return (x - self.mean) / (self.std + self.eps)

    def decode(self, x):
        return x * (self.std + self.eps) + self.mean


def rel_l2_sum(pred, truth):
    B = truth.shape[0]
    d = (pred - truth).reshape(B, -1).norm(dim=1)
    return (d / truth.reshape(B, -1).norm(dim=1)).sum()


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def load(args, device):
    def npy(name):
        return torch.from_numpy(np.load(os.path.join(args.data, name))).to(torch.float32)

    a_tr, u_tr, a_te, u_te = (npy(n) for n in ("a_train.npy", "u_train.npy", "a_test.npy",
                                                 "u_test.npy"))
    if args.ntrain:
        a_tr, u_tr = a_tr[:args.ntrain], u_tr[:args.ntrain]
    if args.ntest:
        a_te, u_te = a_te[:args.ntest], u_te[:args.ntest]
    an, un = GaussianNormaliser(a_tr), GaussianNormaliser(u_tr)
    d = dict(x_tr=an.encode(a_tr), y_tr=u_tr, x_te=an.encode(a_te), y_te=u_te)
    d = {k: v.to(device) for k, v in d.items()}
    un.mean, un.std = un.mean.to(device), un.std.to(device)
    d["un"] = un
    return d


def evaluate(model, d, batch):
    model.eval()
    err = 0.0
    with torch.no_grad():
        for lo in range(0, d["x_te"].shape[0], batch):
            x, y = d["x_te"][lo:lo + batch], d["y_te"][lo:lo + batch]
            err += rel_l2_sum(d["un"].decode(model(x)), y).item()
    model.train()
    return err / d["x_te"].shape[0]


def make(kind, args, device):
    torch.manual_seed(args.seed + 100)  # the same initial weights for every model
    return Model(kind, args.width, args.modes, args.pad, args).to(device)


def step_fn(model, opt, sched, d, idx):
    x, y = d["x_tr"][idx], d["y_tr"][idx]
    loss = rel_l2_sum(d["un"].decode(model(x)), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    sched.step()
    return loss


def time_model(kind, args, d, device):
    model = make(kind, args, device)
    total = args.time_warmup + args.time_steps
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(total, 1))
    model.solver_mode = True  # time the solver mode of the DEQ (its cost after warm-up)
    gen = torch.Generator(device="cpu").manual_seed(args.seed + 7)
    N = d["x_tr"].shape[0]
    times, cpu_times = [], []
    for s in range(total):
        idx = torch.randint(0, N, (args.batch,), generator=gen).to(device)
        sync(device)
        t0, c0 = time.perf_counter(), time.process_time()
        step_fn(model, opt, sched, d, idx)
        sync(device)
        if s >= args.time_warmup:
            times.append(1e3 * (time.perf_counter() - t0))
            cpu_times.append(1e3 * (time.process_time() - c0))
    res = ""
    if kind == "deq" and model.last_residual is not None:
        res = f" rel_residual={model.last_residual.item():.2e}"
    print(f"TIMING model={kind} ms_per_step={statistics.median(times):.4g} min={min(times):.4g} "
          f"max={max(times):.4g} cpu_ms_per_step={statistics.median(cpu_times):.4g} "
          f"steps={len(times)} params={nparams(model)}{res}", flush=True)


def nparams(model):
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters())


def train_model(kind, args, d, device):
    model = make(kind, args, device)
    N = d["x_tr"].shape[0]
    spe = (N + args.batch - 1) // args.batch
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=spe * args.epochs)
    gen = torch.Generator(device="cpu").manual_seed(args.seed + 7)
    print(f"-- {kind}: {nparams(model)} parameters", flush=True)
    step, train_s, epochs_done = 0, 0.0, 0
    for e in range(1, args.epochs + 1):
        perm = torch.randperm(N, generator=gen).to(device)
        sync(device)
        t0 = time.perf_counter()
        loss = 0.0
        for lo in range(0, N, args.batch):
            model.solver_mode = step >= args.warmup
            loss += step_fn(model, opt, sched, d, perm[lo:lo + args.batch]).item()
            step += 1
        sync(device)
        train_s += time.perf_counter() - t0
        epochs_done = e
        te = evaluate(model, d, args.batch) if (e % args.eval_every == 0 or e == args.epochs) \
            else float("nan")
        extra = ""
        if kind == "deq" and model.last_residual is not None and model.solver_mode:
            extra = f"  residual {model.last_residual.item():.1e}"
        print(f"  epoch {e:4d}  train rel-L2 {loss / N:.4f}  test rel-L2 {te:.4f}  "
              f"{train_s:.1f} s{extra}", flush=True)
        if args.seconds and train_s >= args.seconds:
            break
    te = evaluate(model, d, args.batch)
    print(f"TRAIN model={kind} epochs={epochs_done} steps={step} train_s={train_s:.1f} "
          f"test_rel_l2={te:.5f} params={nparams(model)}", flush=True)
    return te


def self_test():
    """Checks the pieces against references computed another way; exits non-zero on failure."""
    torch.manual_seed(0)
    # Anderson on a slow linear contraction z = A z + b (per-sample symmetric A, eigenvalues in [0, 0.95))
    # reaches (I - A)^-1 b far faster than Picard. A tiny lambda here: the reference's absolute
    # 1e-4 dominates G G^T once residuals fall below 1e-2 and then stalls Anderson by design.
    B, n, iters = 3, 40, 30
    Q = torch.linalg.qr(torch.randn(B, n, n, dtype=torch.float64))[0]
    A = Q @ torch.diag_embed(0.95 * torch.rand(B, n, dtype=torch.float64)) @ Q.transpose(1, 2)
    b = torch.randn(B, n, 1, dtype=torch.float64)
    z, rel = anderson(lambda z: A @ z + b, torch.zeros_like(b), iters=iters, lam=1e-12)
    exact = torch.linalg.solve(torch.eye(n, dtype=torch.float64) - A, b)
    err_and = ((z - exact).norm() / exact.norm()).item()
    zp = torch.zeros_like(b)
    for _ in range(iters):
        zp = A @ zp + b
    err_pic = ((zp - exact).norm() / exact.norm()).item()
    # The legacy spectral convolution (float, as the FNO code has it) against a direct
    # synthesis of the kept modes in double.
    conv = SpectralConv2d(2, 3, 2, 3)
    x = torch.randn(2, 2, 8, 6, dtype=torch.float64)
    H, W = 8, 6
    j = torch.arange(H, dtype=torch.float64)
    k = torch.arange(W, dtype=torch.float64)
    y_ref = torch.zeros(2, 3, H, W, dtype=torch.float64)
    X = torch.fft.rfft2(x)
    for rows, w in ((range(0, 2), conv.weights1), (range(H - 2, H), conv.weights2)):
        for r, kr in enumerate(rows):
            for c in range(3):
                mode = torch.einsum("bi,io->bo", X[:, :, kr, c],
                                    w.detach()[:, :, r, c].to(torch.complex128))
                weight = 1.0 if c == 0 else 2.0  # Hermitian pair (W = 6: columns 1, 2 interior)
                phase = torch.exp(2j * math.pi * (kr * j[:, None] / H + c * k[None, :] / W))
                y_ref += weight * (mode[:, :, None, None] * phase).real / (H * W)
    with torch.no_grad():
        err_conv = ((conv(x.float()).double() - y_ref).norm() / y_ref.norm()).item()
    ok = err_and < 1e-2 * err_pic and err_conv < 1e-5
    print(f"SELFTEST anderson_rel_err={err_and:.2e} picard_rel_err={err_pic:.2e} "
          f"spectral_conv_rel_err={err_conv:.2e} {'ok' if ok else 'FAILED'}")
    sys.exit(0 if ok else 1)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--self-test", action="store_true",
                   help="check Anderson and the spectral convolution against references, exit")
    p.add_argument("--data", help="folder with a_train.npy ... u_test.npy")
    p.add_argument("--models", default="fno,deq")
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--modes", type=int, default=12)
    p.add_argument("--pad", type=int, default=9)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--epochs", type=int, default=500)
    p.add_argument("--seconds", type=float, default=0, help="stop training after this long")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--ntrain", type=int, default=0, help="use the first N (0: all)")
    p.add_argument("--ntest", type=int, default=0)
    p.add_argument("--solver-iters", type=int, default=24)
    p.add_argument("--wt-unroll", type=int, default=12)
    p.add_argument("--warmup", type=int, default=300, help="DEQ steps unrolled x8 first")
    p.add_argument("--warmup-unroll", type=int, default=8)
    p.add_argument("--phantom-tau", type=float, default=0.5)
    p.add_argument("--phantom-steps", type=int, default=1)
    p.add_argument("--eval-every", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-steps", type=int, default=0)
    p.add_argument("--time-warmup", type=int, default=10)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's default)")
    p.add_argument("--tf32", choices=("default", "on", "off"), default="default",
                   help="TF32 for matmul and cuDNN (default: PyTorch's own defaults)")
    args = p.parse_args()
    if args.self_test:
        self_test()
    if not args.data:
        p.error("--data is required")

    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu")
                          if args.device == "auto" else args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.tf32 != "default":
        torch.backends.cuda.matmul.allow_tf32 = args.tf32 == "on"
        torch.backends.cudnn.allow_tf32 = args.tf32 == "on"
    info = dict(torch=torch.__version__, device=str(device), threads=torch.get_num_threads(),
                matmul_tf32=torch.backends.cuda.matmul.allow_tf32,
                cudnn_tf32=torch.backends.cudnn.allow_tf32)
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    print("INFO " + " ".join(f"{k}={json.dumps(v) if isinstance(v, str) and ' ' in v else v}"
                             for k, v in info.items()), flush=True)
    d = load(args, device)
    print(f"INFO data train={tuple(d['x_tr'].shape)} test={tuple(d['x_te'].shape)}", flush=True)
    for kind in args.models.split(","):
        if kind not in ("fno", "fno++", "fno2", "fno++2", "fno4", "fno++4", "wt", "deq"):
            sys.exit(f"fno_torch.py: unknown model {kind}")
        if args.time_steps:
            time_model(kind, args, d, device)
        else:
            train_model(kind, args, d, device)


if __name__ == "__main__":
    main()
