#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Python side of benchmarks/compare/lingam_cpu.sh: generates LiNGAM data (brief §4: random DAG
over a random permutation, edge probability 2/(d-1), weights ±U[0.5, 2], noise U(-√3, √3)) and
times the reference lingam package on it.

  lingam_cpu.py generate N D SEED OUT.csv     writes the data (no header, %.17g)
  lingam_cpu.py order FILE.csv                 times DirectLiNGAM's causal ordering only
  lingam_cpu.py fit FILE.csv                   times the whole fit (ordering + adjacency)
Prints "seconds=<s>" (wall), "cpu_seconds=<s>" (process CPU time) and "order=<i j k ...>".
"""
import sys
import time

import numpy as np


def generate(n, d, seed, out):
    rng = np.random.default_rng(seed)
    perm = rng.permutation(d)
    B = np.zeros((d, d))
    for k in range(d):
        for q in range(k):
            if rng.random() < 2.0 / max(d - 1, 1):
                B[perm[k], perm[q]] = rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 2.0)
    e = rng.uniform(-np.sqrt(3.0), np.sqrt(3.0), size=(n, d))
    X = np.zeros((n, d))
    for k in range(d):
        j = perm[k]
        X[:, j] = e[:, j] + X @ B[j, :]
    np.savetxt(out, X, delimiter=",", fmt="%.17g")


def run(path, whole):
    import lingam

    X = np.loadtxt(path, delimiter=",")
    model = lingam.DirectLiNGAM()
    if not whole:
        # Time the causal ordering only: skip the adjacency estimation step.
        model._estimate_adjacency_matrix = lambda X, prior_knowledge=None: model
    t0 = time.perf_counter()
    c0 = time.process_time()
    model.fit(X)
    dt = time.perf_counter() - t0
    dc = time.process_time() - c0
    print("seconds=%.6f" % dt)
    print("cpu_seconds=%.6f" % dc)
    print("order=" + " ".join(str(int(i)) for i in model.causal_order_))


if __name__ == "__main__":
    if sys.argv[1] == "generate":
        generate(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    elif sys.argv[1] == "order":
        run(sys.argv[2], whole=False)
    elif sys.argv[1] == "fit":
        run(sys.argv[2], whole=True)
    else:
        sys.exit("usage: lingam_cpu.py generate|order|fit ...")
