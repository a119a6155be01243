"""Benchmark of the curvature tools (Chapter 2); prints ratios, not timed tests.

1. Time of one Hessian-vector product over one gradient of the full training loss, for
   double-backward and forward-over-reverse HVPs (goal: the faster <= 2.2x a gradient),
   on every device present.
2. Hessian-vector products that Lanczos (full re-orthogonalisation) needs for the top 10
   eigenvalues to 1e-3 relative accuracy, against power iteration with deflation (the
   method PyHessian uses), both checked against the exact spectrum of a small trained net
   (goal: Lanczos <= 0.15x). Also shown: what each method's own stopping rule costs and
   how accurate it really is when it stops.

Run:  .venv/bin/python benchmarks/hessian.py  [--repeats 20]
"""
from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from overparam import data, hessian
from overparam.chapters import hessian_spectra as spectra


def _time(fn, repeats: int, device: torch.device) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def hvp_over_grad(device: torch.device, repeats: int) -> dict:
    """Median time of one HVP / one gradient on an MLP 100-64-64-10, 2000 blob examples."""
    X, y, _, _ = data.make_blobs(2000, 10, 10, 100, seed=0, device=device)
    mlp = hessian.FlatMLP((100, 64, 64, 10))
    theta = mlp.init(torch.Generator().manual_seed(0), device=device)
    v = torch.randn(mlp.n_params, generator=torch.Generator().manual_seed(1)).to(device)
    out = {"n_params": mlp.n_params}
    t_grad = None
    for method in ("double_backward", "fwd_rev"):
        curv = hessian.Curvature(mlp, theta, X, y, chunk_size=2000, hvp_method=method)
        if t_grad is None:
            t_grad = _time(curv.gradient, repeats, device)
            out["grad_ms"] = 1e3 * t_grad
        t = _time(lambda: curv.hvp(v), repeats, device)
        out[method] = t / t_grad
    out["faster"] = min(("double_backward", "fwd_rev"), key=lambda m: out[m])
    return out


def lanczos_vs_power(k: int = 10, rtol: float = 1e-3) -> dict:
    """HVPs for the top-k eigenvalues to ``rtol``, checked against the exact spectrum (CPU, float64)."""
    cfg = spectra.PROFILES["quick"]
    tr = spectra.train_blobs(cfg, n_nets=1, width=12, label="benchmark net")
    curv = tr.curvature(0)
    exact = torch.linalg.eigvalsh(curv.hessian()).numpy()[::-1].copy()
    M = curv.n_params
    res = {"n_params": M, "k": k}
    for seed in range(3):
        g = lambda: torch.Generator().manual_seed(100 + seed)  # noqa: E731
        lz = hessian.top_eigenpairs(curv.hvp, M, k, method="lanczos", exact=exact, rtol_exact=rtol,
                                    max_products=M, generator=g())
        pw = hessian.top_eigenpairs(curv.hvp, M, k, method="power", exact=exact, rtol_exact=rtol,
                                    max_products=200 * M, generator=g())
        # the methods' own stopping rules: Lanczos residual <= rtol; power: Rayleigh
        # quotient changes by < rtol (PyHessian's rule, tol=1e-3, at most 100 per value)
        lz_own = hessian.top_eigenpairs(curv.hvp, M, k, method="lanczos", tol=rtol, generator=g())
        pw_own = hessian.top_eigenpairs(curv.hvp, M, k, method="power", tol=rtol,
                                        max_products=100 * k, generator=g())
        for name, r in (("lanczos_true", lz), ("power_true", pw), ("lanczos_own", lz_own),
                        ("power_own", pw_own)):
            err = float(np.nanmax(np.abs(r.values - exact[:k]) / np.abs(exact[:k])))
            res.setdefault(name, []).append((r.n_products, err))
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    print(f"torch {torch.__version__}, python {platform.python_version()}, "
          f"threads {torch.get_num_threads()}, {platform.processor() or platform.machine()}")
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for dev in devices:
        name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
        r = hvp_over_grad(dev, args.repeats)
        print(f"[{name}] HVP / gradient time, MLP 100-64-64-10 (M={r['n_params']}), N=2000, "
              f"gradient {r['grad_ms']:.2f} ms:")
        for m in ("double_backward", "fwd_rev"):
            print(f"    {m:16s} {r[m]:.2f}x")
        print(f"    faster: {r['faster']} -> {r[r['faster']]:.2f}x (goal <= 2.2x: "
              f"{'met' if r[r['faster']] <= 2.2 else 'NOT met'}); "
              f"hessian.FASTER_HVP[{dev.type!r}] = {hessian.FASTER_HVP[dev.type]!r}")
    r = lanczos_vs_power()
    print(f"Top-{r['k']} eigenvalues to 1e-3 relative accuracy, trained MLP (M={r['n_params']}), "
          f"3 starting vectors; HVPs (max relative error at stop):")
    for name in ("lanczos_true", "power_true", "lanczos_own", "power_own"):
        cells = ", ".join(f"{n} ({e:.1e})" for n, e in r[name])
        print(f"    {name:13s} {cells}")
    lz = np.mean([n for n, _ in r["lanczos_true"]])
    pw = np.mean([n for n, _ in r["power_true"]])
    print(f"    Lanczos / power iteration (HVPs to true 1e-3): {lz / pw:.3f}x "
          f"(goal <= 0.15x: {'met' if lz / pw <= 0.15 else 'NOT met'})")


if __name__ == "__main__":
    main()
