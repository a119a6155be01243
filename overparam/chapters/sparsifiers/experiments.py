"""Chapter 6's experiments: the lambda sweep (easy/hard MNIST-1D), starting sizes, compress vs
static training for the same wall-clock time, growth by blocks on Add10, CNN memory."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ... import data as _data
from ... import gates
from ...data import tabular
from ...config import check_choice, generator, log, seed_stream, threads
from ...models import Arch, forward
from .profiles import COMPRESS_SETS, SparsifierConfig

MNIST1D = {"easy": "easy", "hard": "hard"}


def member_seeds(seed: int, n: int, purpose: str = "members") -> list[int]:
    """``n`` initialisation seeds derived from the run's seed (independent streams)."""
    return [seed_stream(seed, f"sparsifiers/{purpose}/{i}") % 2**31 for i in range(n)]


def load_set(name: str, seed: int = 0, device="cpu", n_train: int | None = None) -> tuple[dict, str, int]:
    """A data set of the chapter as tensors: (data dict, task, n_classes).

    ``"easy"``/``"hard"`` MNIST-1D and ``"digits"`` come from :mod:`overparam.data`; the rest
    from :mod:`overparam.data.tabular`.

    Introduced in: Chapter 6
    """
    check_choice("dataset", name, COMPRESS_SETS)
    if name in MNIST1D:
        ds, task, C = _data.load_mnist1d_task(name), "classification", 10
    elif name == "digits":
        ds, task, C = _data.load_digits_split(), "classification", 10
    else:
        ds = tabular.load_tabular(name, seed=seed, n_train=n_train)
        task, C = ds["task"], ds["n_classes"]
    out = {k: torch.as_tensor(np.asarray(ds[k])).to(device) for k in ("x", "y", "x_test", "y_test")}
    return out, task, C


# --------------------------------------------------------------------------- the lambda sweep


@dataclass
class SweepResult:
    """Gated networks (lambdas x seeds) and static networks (seeds) of one start size on one task.

    Arrays are indexed (epoch 0..E, lambda k, seed s); ``first_removal`` is the step of each
    member's first removal (-1: none); ``epoch_time`` is the gated stack's training time
    per epoch, ``static_time`` the static stack's.
    """

    task: str
    lambdas: np.ndarray
    gate_scale: float
    start_width: int
    steps_per_epoch: int
    size: np.ndarray            # (E + 1, K, S)
    score: np.ndarray           # (E + 1, K, S) test accuracy
    train_loss: np.ndarray      # (E + 1, K, S)
    step_loss: np.ndarray       # (T, K, S)
    first_removal: np.ndarray   # (K, S)
    epoch_time: np.ndarray      # (E,)
    static_score: np.ndarray | None = None   # (E + 1, S)
    static_time: np.ndarray | None = None    # (E,)
    static_step_loss: np.ndarray | None = None   # (T, S): the same batches as the gated nets

    @property
    def final_size(self) -> np.ndarray:
        return self.size[-1]


@threads(1)
def lambda_sweep(cfg: SparsifierConfig, task: str, seed: int, device="cpu", *, lambdas=None,
                 gate_scale: float | None = None, start_width: int | None = None,
                 static: bool = True) -> SweepResult:
    """Gated 40-w-10 MLPs on ``task`` MNIST-1D for every lambda and seed (one stack), and
    the static network of the same start size (same initialisations, no gates).

    Introduced in: Chapter 6
    """
    lams = tuple(sorted(lambdas if lambdas is not None else cfg.lambdas))
    scale = cfg.gate_scale if gate_scale is None else gate_scale
    width = start_width or cfg.start_width
    S, K = cfg.n_seeds, len(lams)
    ds, kind, C = load_set(task, seed, device)
    arch = Arch("mlp", (width,), ds["x"].shape[1], C)
    seeds = member_seeds(seed, S)
    specs = [gates.GateSpec(lam=l, seed=sd, gate_scale=scale, widths=(width,)) for l in lams for sd in seeds]
    kw = dict(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, task=kind, order_seed=seed,
              device=device)
    run = gates.train_gated(arch, specs, ds, decay=cfg.decay, check_every=cfg.check_every,
                            label=f"sparsifiers {task} gated", **kw)
    E1 = run.score.shape[0]
    first = np.full(K * S, -1)
    for step, m, _l, _n in run.events:
        if first[m] < 0:
            first[m] = step
    out = SweepResult(task, np.array(lams), scale, width, run.steps_per_epoch,
                      run.size.reshape(E1, K, S), run.score.reshape(E1, K, S),
                      run.train_loss.reshape(E1, K, S), run.step_loss.reshape(-1, K, S),
                      first.reshape(K, S), run.epoch_time)
    if static:
        st = gates.train_gated(arch, [gates.GateSpec(seed=sd, widths=(width,)) for sd in seeds], ds,
                               gated=False, label=f"sparsifiers {task} static", **kw)
        out.static_score, out.static_time, out.static_step_loss = st.score, st.epoch_time, st.step_loss
    log.info(f"sparsifiers: {task} sweep done, final sizes {out.final_size.mean(1).round(0).tolist()}")
    return out


@threads(1)
def start_sweep(cfg: SparsifierConfig, seed: int, device="cpu", task: str = "easy") -> list[SweepResult]:
    """The journal's open question: one lambda (the middle one), several starting sizes.

    Introduced in: Chapter 6
    """
    lam = cfg.sorted_lambdas[len(cfg.lambdas) // 2]
    return [lambda_sweep(cfg, task, seed, device, lambdas=(lam,), start_width=w, static=False)
            for w in cfg.starts]


# --------------------------------------------------------------------------- compress vs static


@dataclass
class CompressResult:
    """Compress training (gated, start ``width``) vs static nets of each member's converged
    size, both trained for the same wall-clock budget, per data set (rows) and seed."""

    datasets: list
    tasks: list
    width: int
    budget_s: float
    compress_score: np.ndarray    # (D, S) test accuracy or R^2
    static_score: np.ndarray      # (D, S)
    final_size: np.ndarray        # (D, S) live hidden units of the compressed nets
    compress_epochs: np.ndarray   # (D,) epochs done in the budget
    static_epochs: np.ndarray     # (D,)


@threads(1)
def compress_vs_static(cfg: SparsifierConfig, seed: int, device="cpu") -> CompressResult:
    """For each data set: compress-train a stack (one member per seed) for ``budget_s``
    seconds, then train static nets of each member's converged widths for the same time.

    Introduced in: Chapter 6
    """
    seeds = member_seeds(seed, cfg.n_seeds, "compress")
    rows = {k: [] for k in ("cs", "ss", "size", "ce", "se", "task")}
    for name in cfg.compress_sets:
        ds, kind, C = load_set(name, seed, device)
        arch = Arch("mlp", (cfg.compress_width,), ds["x"].shape[1], C)
        bs = min(cfg.batch_size, len(ds["x"]))
        kw = dict(epochs=100_000, batch_size=bs, lr=cfg.lr, task=kind, order_seed=seed, device=device,
                  budget_s=cfg.budget_s)
        comp = gates.train_gated(arch, [gates.GateSpec(lam=cfg.compress_lambda, seed=sd,
                                                       gate_scale=cfg.gate_scale,
                                                       widths=(cfg.compress_width,)) for sd in seeds],
                                 ds, check_every=cfg.check_every, label=f"compress {name}", **kw)
        widths = [(max(1, int(w)),) for w in comp.live[-1][:, 0]]
        stat = gates.train_gated(arch, [gates.GateSpec(seed=sd, widths=w) for sd, w in zip(seeds, widths)],
                                 ds, gated=False, label=f"static {name}", **kw)
        rows["cs"].append(comp.score[-1])
        rows["ss"].append(stat.score[-1])
        rows["size"].append(comp.size[-1])
        rows["ce"].append(len(comp.epoch_time))
        rows["se"].append(len(stat.epoch_time))
        rows["task"].append(kind)
    return CompressResult(list(cfg.compress_sets), rows["task"], cfg.compress_width, cfg.budget_s,
                          np.array(rows["cs"]), np.array(rows["ss"]), np.array(rows["size"]),
                          np.array(rows["ce"]), np.array(rows["se"]))


# --------------------------------------------------------------------------- growth by blocks


@dataclass
class GrowthResult:
    """Growth by blocks on Add10 and its controls, per seed (S,).

    ``growth_test`` (B, S): test MSE / variance (1 - R^2) of the sum of the first b + 1
    blocks; ``wide_test`` (the same measure):
    a gated network of ``width`` trained on the target for the same total epochs;
    ``block_loss`` / ``wide_loss`` (epochs + 1, S): training MSE curves of block 1 and of the
    wide net; ``size_target`` / ``size_residual``: live units a gated net of ``width``
    keeps when fitting the target / the residual after block 1 (both scaled to variance 1).
    """

    block: int
    width: int
    growth_test: np.ndarray
    wide_test: np.ndarray
    block_loss: np.ndarray
    wide_loss: np.ndarray
    size_target: np.ndarray
    size_residual: np.ndarray


@threads(1)
def growth_by_blocks(cfg: SparsifierConfig, seed: int, device="cpu") -> GrowthResult:
    """The journal's growth algorithm on Add10 (one fixed penalty per block; see the notebook).

    Block b (m units, gated) fits the residual ``y - sum of blocks < b`` for ``block_epochs``;
    the grown network is the sum of the blocks.

    Introduced in: Chapter 6
    """
    ds, kind, _ = load_set("add10", seed, device, n_train=cfg.add10_train)
    S = cfg.n_seeds
    seeds = member_seeds(seed, S * cfg.n_blocks, "growth")
    y, yt = ds["y"], ds["y_test"]
    base, base_t = torch.zeros(S, len(y), device=device), torch.zeros(S, len(yt), device=device)
    arch = Arch("mlp", (cfg.block,), ds["x"].shape[1], 1)
    kw = dict(batch_size=cfg.batch_size, lr=cfg.lr, task="regression", order_seed=seed, device=device,
              check_every=cfg.check_every)
    growth_test, residual1, block_loss = [], None, None
    for b in range(cfg.n_blocks):
        part = {"x": ds["x"], "y": y - base, "x_test": ds["x_test"], "y_test": yt - base_t}
        specs = [gates.GateSpec(lam=cfg.growth_lambda, seed=seeds[b * S + s], gate_scale=cfg.gate_scale,
                                widths=(cfg.block,)) for s in range(S)]
        run = gates.train_gated(arch, specs, part, epochs=cfg.block_epochs, label=f"growth block {b + 1}", **kw)
        with torch.no_grad():
            net = run.net
            base = base + gates.gated_forward(net.arch, net.params, ds["x"], net.gscale)[..., 0]
            base_t = base_t + gates.gated_forward(net.arch, net.params, ds["x_test"], net.gscale)[..., 0]
        growth_test.append((((base_t - yt) ** 2).mean(1) / yt.var(unbiased=False)).cpu().numpy())
        if b == 0:
            residual1 = y - base
            block_loss = run.train_loss
    wide_arch = arch.with_widths((cfg.compress_width,))
    wseeds = member_seeds(seed, S, "growth/wide")
    wspecs = [gates.GateSpec(lam=cfg.growth_lambda, seed=sd, gate_scale=cfg.gate_scale,
                             widths=(cfg.compress_width,)) for sd in wseeds]
    wide = gates.train_gated(wide_arch, wspecs, ds, epochs=cfg.n_blocks * cfg.block_epochs,
                             label="growth: wide control", **kw)
    # complexity: the same gated net fitting the target and the residual (variance 1 each)
    res = residual1 / residual1.std(1, keepdim=True)
    both = {"x": ds["x"], "y": torch.cat([y.expand(S, -1), res]),
            "x_test": ds["x_test"], "y_test": torch.cat([yt.expand(S, -1), yt.expand(S, -1)])}
    cx = gates.train_gated(wide_arch, wspecs + wspecs, both, epochs=cfg.block_epochs,
                           label="growth: residual complexity", **kw)
    return GrowthResult(cfg.block, cfg.compress_width, np.array(growth_test), 1 - wide.score[-1],
                        block_loss, wide.train_loss, cx.size[-1][:S], cx.size[-1][S:])


# --------------------------------------------------------------------------- CNN memory


@dataclass
class MemoryResult:
    """Bytes a 1-d CNN keeps for its backward pass, per seed (a random batch each).

    ``plain`` / ``naive`` / ``hand``: activation bytes (parameters excluded) of the plain
    CNN, the gated CNN with autograd's product, the gated CNN with :class:`~overparam.gates.GateReLU`;
    ``params``: bytes of the parameters; ``method``: "saved tensors" (CPU) or "cuda peak".
    """

    channels: int
    depth: int
    batch: int
    method: str
    plain: np.ndarray
    naive: np.ndarray
    hand: np.ndarray
    params: np.ndarray

    @property
    def share(self) -> np.ndarray:
        """Activations' share of training memory: act / (act + 4 x params) (weights,
        gradients and Adam's two moments)."""
        return self.plain / (self.plain + 4 * self.params)


def _cuda_peak(fn, device) -> int:
    torch.cuda.synchronize(device)
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    out = fn()
    torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device) - base
    del out
    return int(peak)


@threads(1)
def memory_compare(cfg: SparsifierConfig, seed: int, device="cpu") -> MemoryResult:
    """Plain CNN vs naive gated CNN vs hand-written gate on MNIST-1D-shaped inputs (d = 40).

    Introduced in: Chapter 6
    """
    dev = torch.device(device)
    arch = Arch("cnn", (cfg.mem_channels,) * cfg.mem_depth, 40, 10)
    rows = {k: [] for k in ("plain", "naive", "hand", "params")}
    for s, sd in enumerate(member_seeds(seed, cfg.n_seeds, "memory")):
        net = gates.init_gated(arch, [sd], dev)
        L = 2 * arch.depth + 2
        plain_p = [p.detach().clone().requires_grad_(True) for p in net.params[:L]]
        X = torch.randn(cfg.mem_batch, 40, generator=generator(sd, "memory/x"), device="cpu").to(dev)
        fns = {"plain": lambda: forward(arch, plain_p, X).square().mean(),
               "naive": lambda: gates.gated_forward(arch, net.params, X, net.gscale, "naive").square().mean(),
               "hand": lambda: gates.gated_forward(arch, net.params, X, net.gscale, "hand").square().mean()}
        for k, fn in fns.items():
            if dev.type == "cuda":
                rows[k].append(_cuda_peak(fn, dev))
            else:
                rows[k].append(gates.saved_bytes(fn, exclude=net.params + plain_p))
        rows["params"].append(sum(p.numel() * p.element_size() for p in plain_p))
    return MemoryResult(cfg.mem_channels, cfg.mem_depth, cfg.mem_batch,
                        "cuda peak" if dev.type == "cuda" else "saved tensors",
                        *(np.array(rows[k], float) for k in ("plain", "naive", "hand", "params")))


@threads(1)
def slow_gates(cfg: SparsifierConfig, seed: int, device="cpu") -> SweepResult:
    """The easy sweep's middle penalty again with slower gates (``slow_gate_scale``): when a
    gate can reach 0 depends on its learning rate, so claim 5 is judged at both.

    Introduced in: Chapter 6
    """
    lam = cfg.sorted_lambdas[len(cfg.lambdas) // 2]
    return lambda_sweep(cfg, "easy", seed, device, lambdas=(lam,), gate_scale=cfg.slow_gate_scale,
                        static=False)
