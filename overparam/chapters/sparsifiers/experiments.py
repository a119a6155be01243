"""Chapter 6's experiments: the lambda sweep (easy/hard MNIST-1D), starting sizes, compress vs
static training for the same work (multiply-adds), growth by blocks on Add10, CNN memory."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ... import data as _data
from ... import gates
from ...data import tabular
from ...config import check_choice, log, seed_stream, threads
from ...models import Arch
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
    """Gated networks (lambdas x seeds) of one start size on one task, and (``base_*``) the
    same gated networks with no penalty (lambda = 0: the journal's "static network (the one
    with no penalty)"), same initialisations and batches.

    Arrays are indexed (epoch 0..E, lambda k, seed s); ``events`` (N, 3) are the removals
    (step, member k * S + s, units removed); ``first_removal`` is the step of each member's
    first removal (-1: none); ``epoch_time`` is the stack's training time per epoch.
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
    lr: float = 3e-3
    events: np.ndarray | None = None          # (N, 3) step, member, units removed
    base_score: np.ndarray | None = None      # (E + 1, S) lambda = 0
    base_train_loss: np.ndarray | None = None  # (E + 1, S)
    base_size: np.ndarray | None = None       # (E + 1, S)
    base_step_loss: np.ndarray | None = None  # (T, S): the same batches as the gated nets

    @property
    def final_size(self) -> np.ndarray:
        return self.size[-1]

    @property
    def t0(self) -> float:
        """Steps a gate needs to reach 0 from 1 at its learning rate (Adam moves it by at most
        about ``lr x gate_scale`` per step): the time unit of removals."""
        return 1.0 / (self.lr * self.gate_scale)

    @property
    def steps(self) -> int:
        return (self.size.shape[0] - 1) * self.steps_per_epoch


@threads(1)
def lambda_sweep(cfg: SparsifierConfig, task: str, seed: int, device="cpu", *, lambdas=None,
                 gate_scale: float | None = None, start_width: int | None = None,
                 base: bool = True) -> SweepResult:
    """Gated 40-w-10 MLPs on ``task`` MNIST-1D for every lambda and seed, and (``base``) the
    same gated nets at lambda = 0 (same initialisations and batches).

    Introduced in: Chapter 6
    """
    lams = tuple(sorted(lambdas if lambdas is not None else cfg.lambdas))
    scale = cfg.gate_scale if gate_scale is None else gate_scale
    width = start_width or cfg.start_width
    S, K = cfg.n_seeds, len(lams)
    ds, kind, C = load_set(task, seed, device)
    arch = Arch("mlp", (width,), ds["x"].shape[1], C)
    seeds = member_seeds(seed, S)
    kw = dict(decay=cfg.decay, check_every=cfg.check_every, epochs=cfg.epochs, batch_size=cfg.batch_size,
              lr=cfg.lr, task=kind, order_seed=seed, device=device)

    def specs(ls):
        return [gates.GateSpec(lam=l, seed=sd, gate_scale=scale, widths=(width,)) for l in ls for sd in seeds]
    # two stacks: a stack runs at its widest member's width, and the unpenalised nets keep
    # every unit; a member's batches depend only on its seed, so both stacks see the same
    run = gates.train_gated(arch, specs(lams), ds, label=f"sparsifiers {task} gated", **kw)
    E1 = run.score.shape[0]
    ev = np.array([(step, m, n) for step, m, _l, n in run.events], int).reshape(-1, 3)
    first = np.full(K * S, -1)
    for step, m, _n in ev[np.argsort(ev[:, 0], kind="stable")]:
        if first[m] < 0:
            first[m] = step
    out = SweepResult(task, np.array(lams), scale, width, run.steps_per_epoch, run.size.reshape(E1, K, S),
                      run.score.reshape(E1, K, S), run.train_loss.reshape(E1, K, S), run.step_loss.reshape(-1, K, S),
                      first.reshape(K, S), run.epoch_time, lr=cfg.lr, events=ev)
    if base:
        b = gates.train_gated(arch, specs((0.0,)), ds, label=f"sparsifiers {task} unpenalised", **kw)
        out.base_score, out.base_train_loss, out.base_size, out.base_step_loss = b.score, b.train_loss, b.size, b.step_loss
        out.epoch_time = out.epoch_time + b.epoch_time
    log.info(f"sparsifiers: {task} sweep done, final sizes {out.final_size.mean(1).round(0).tolist()}")
    return out


@threads(1)
def start_sweep(cfg: SparsifierConfig, seed: int, device="cpu", task: str = "easy",
                easy: SweepResult | None = None) -> list[SweepResult]:
    """The journal's open question: one lambda (the middle one), several starting sizes.
    ``easy``: the task's sweep, whose nets of ``start_width`` at that lambda are reused
    (same seeds, same batches) instead of trained again.

    Introduced in: Chapter 6
    """
    lam = cfg.sorted_lambdas[len(cfg.lambdas) // 2]
    out = []
    for w in cfg.starts:
        if easy is not None and easy.task == task and w == easy.start_width:
            k = int(np.flatnonzero(easy.lambdas == lam)[0])
            pick = slice(k, k + 1)
            out.append(SweepResult(task, easy.lambdas[pick], easy.gate_scale, w, easy.steps_per_epoch,
                                   easy.size[:, pick], easy.score[:, pick], easy.train_loss[:, pick],
                                   easy.step_loss[:, pick], easy.first_removal[pick], easy.epoch_time,
                                   lr=easy.lr))
        else:
            out.append(lambda_sweep(cfg, task, seed, device, lambdas=(lam,), start_width=w, base=False))
    return out


# --------------------------------------------------------------------------- compress vs static


@dataclass
class CompressResult:
    """Compress training (gated, start ``width``) vs static nets of each member's converged
    size, both given the same work (multiply-adds of training), per data set (rows) and seed.

    ``compress_macs`` (D, S): multiply-adds each compressing net did (forward and backward,
    at its live width epoch by epoch); ``static_epochs`` (D, S): the epoch at which the
    static net's work first reached that (its score is read there); ``wall`` (D, 2): seconds
    of the compress and the static stack (whole stacks, beside the counted work).
    """

    datasets: list
    tasks: list
    width: int
    epochs: int
    compress_score: np.ndarray    # (D, S) test accuracy or R^2
    static_score: np.ndarray      # (D, S)
    final_size: np.ndarray        # (D, S) live hidden units of the compressed nets
    compress_macs: np.ndarray     # (D, S)
    static_epochs: np.ndarray     # (D, S)
    wall: np.ndarray              # (D, 2)
    capped: np.ndarray            # (D, S) bool: the static net hit the epoch cap (less work)
    size_curves: np.ndarray | None = None   # (D, E + 1, S) live hidden units of the compressing nets
    train_loss: np.ndarray | None = None    # (D, S) their final training loss


#: Multiply-adds of one training example = this x the forward pass's (forward, and the
#: backward pass's two products per layer: gradients of the inputs and of the weights).
TRAIN_MACS = 3
#: The static nets get at most this many times the compress run's epochs.
STATIC_CAP = 40


def train_macs(arch: Arch, widths, gated: bool) -> float:
    """Multiply-adds of one training example through ``arch`` at hidden ``widths`` (the gate
    adds one multiply per unit)."""
    a = arch.with_widths(tuple(int(w) for w in widths))
    return TRAIN_MACS * (a.flops_per_example() / 2 + (sum(a.widths) if gated else 0))


@threads(1)
def compress_vs_static(cfg: SparsifierConfig, seed: int, device="cpu") -> CompressResult:
    """For each data set: compress-train a stack (one member per seed) for ``compress_epochs``,
    count each member's multiply-adds at its live widths, then train static nets of each
    member's converged widths (same initialisation seed) and read each at the epoch where its
    work first reaches its compressing twin's.

    Introduced in: Chapter 6
    """
    seeds = member_seeds(seed, cfg.n_seeds, "compress")
    rows = {k: [] for k in ("cs", "ss", "size", "macs", "se", "wall", "cap", "task", "curves", "loss")}
    for name in cfg.compress_sets:
        ds, kind, C = load_set(name, seed, device)
        arch = Arch("mlp", (cfg.compress_width,), ds["x"].shape[1], C)
        n = len(ds["x"])
        kw = dict(batch_size=min(cfg.batch_size, n), lr=cfg.lr, task=kind, order_seed=seed, device=device)
        comp = gates.train_gated(arch, [gates.GateSpec(lam=cfg.compress_lambda, seed=sd,
                                                       gate_scale=cfg.gate_scale,
                                                       widths=(cfg.compress_width,)) for sd in seeds],
                                 ds, epochs=cfg.compress_epochs, check_every=cfg.check_every,
                                 label=f"compress {name}", **kw)
        live = comp.live                                                   # (E + 1, S, L)
        per = np.array([[train_macs(arch, w, True) for w in ep] for ep in live])       # (E + 1, S)
        macs = n * (per[:-1] + per[1:]).sum(0) / 2
        widths = [tuple(max(1, int(w)) for w in ws) for ws in live[-1]]
        static_epoch = np.array([n * train_macs(arch, w, False) for w in widths])
        need = np.ceil(macs / static_epoch).astype(int)
        cap = cfg.compress_epochs * STATIC_CAP
        stat = gates.train_gated(arch, [gates.GateSpec(seed=sd, widths=w) for sd, w in zip(seeds, widths)],
                                 ds, gated=False, epochs=int(min(need.max(), cap)), label=f"static {name}", **kw)
        at = np.minimum(need, stat.score.shape[0] - 1)
        rows["cs"].append(comp.score[-1])
        rows["ss"].append(stat.score[at, np.arange(len(seeds))])
        rows["size"].append(comp.size[-1])
        rows["macs"].append(macs)
        rows["se"].append(at)
        rows["cap"].append(need > at)
        rows["wall"].append([comp.wall, stat.wall])
        rows["task"].append(kind)
        rows["curves"].append(comp.size)
        rows["loss"].append(comp.train_loss[-1])
    return CompressResult(list(cfg.compress_sets), rows["task"], cfg.compress_width, cfg.compress_epochs,
                          *(np.array(rows[k]) for k in ("cs", "ss", "size", "macs", "se", "wall", "cap", "curves",
                                                        "loss")))


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
    size_curves: np.ndarray | None = None    # (epochs + 1, 2, S) live units fitting target / residual
    size_loss: np.ndarray | None = None      # (2, S) their final training MSE


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
                        block_loss, wide.train_loss, cx.size[-1][:S], cx.size[-1][S:],
                        cx.size.reshape(-1, 2, S), cx.train_loss[-1].reshape(2, S))


# --------------------------------------------------------------------------- CNN memory

#: The journal's image shapes (channels, height, width): MNIST / FashionMNIST, CIFAR10.
IMAGES = {"28x28x1": (1, 28, 28), "32x32x3": (3, 32, 32)}
#: Batch sizes the activations' share is reported at.
BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


@dataclass
class MemoryResult:
    """Bytes a 2-d CNN (conv 3x3 + gate + 2x2 max-pool per layer, :func:`overparam.gates.cnn2d_bytes`)
    keeps for its backward pass, per image shape (keys of :data:`IMAGES`).

    ``per_example[shape][mode]`` and ``fixed[shape][mode]`` (modes "plain", "naive",
    "hand"): bytes autograd saves = fixed + batch x per_example (measured at two batch sizes
    and checked at a third); ``params[shape]``: bytes of the parameters.
    """

    channels: int
    depth: int
    batch: int
    per_example: dict
    fixed: dict
    params: dict

    def saved(self, shape: str, mode: str, batch: int | None = None) -> float:
        b = self.batch if batch is None else batch
        return self.fixed[shape][mode] + b * self.per_example[shape][mode]

    def share(self, shape: str, batch: int | None = None) -> float:
        """Activations' share of training memory: act / (act + 4 x params) (weights,
        gradients and Adam's two moments), plain CNN."""
        act = self.saved(shape, "plain", batch)
        return act / (act + 4 * self.params[shape])

    def ratio(self, shape: str, mode: str, batch: int | None = None) -> float:
        return self.saved(shape, mode, batch) / self.saved(shape, "plain", batch)

    def batch_for(self, shape: str, share: float) -> int | None:
        """Smallest batch of :data:`BATCHES` at which the activations' share exceeds ``share``."""
        return next((b for b in BATCHES if self.share(shape, b) > share), None)


@threads(1)
def memory_compare(cfg: SparsifierConfig, seed: int, device="cpu") -> MemoryResult:
    """Plain CNN vs naive gated CNN vs hand-written gate on image-shaped inputs (28x28x1 and
    32x32x3): the bytes autograd keeps for backward, as a function of batch size.

    The bytes are fixed by the shapes, not by the values: one seed's weights and inputs
    serve; they are measured at batch 1 and 2 (linear in the batch) and checked at 3.

    Introduced in: Chapter 6
    """
    per, fixed, params = {}, {}, {}
    for name, shape in IMAGES.items():
        per[name], fixed[name] = {}, {}
        for mode in ("plain", "naive", "hand"):
            b1, b2, b3 = (gates.cnn2d_bytes(shape, cfg.mem_channels, cfg.mem_depth, b, mode, seed, device)[0]
                          for b in (1, 2, 3))
            if b3 - b2 != b2 - b1:
                raise RuntimeError(f"saved bytes are not linear in the batch ({b1}, {b2}, {b3}) for {name} {mode}")
            per[name][mode], fixed[name][mode] = b2 - b1, 2 * b1 - b2
        params[name] = gates.cnn2d_bytes(shape, cfg.mem_channels, cfg.mem_depth, 1, "plain", seed, device)[1]
    return MemoryResult(cfg.mem_channels, cfg.mem_depth, cfg.mem_batch, per, fixed, params)


@threads(1)
def slow_gates(cfg: SparsifierConfig, seed: int, device="cpu") -> SweepResult | None:
    """The easy sweep's middle penalty again with slower gates (``slow_gate_scale``; None
    when it is 0): removal times are read in units of each gate rate's time to zero, so
    the killed-quickly claim is judged at both.

    Introduced in: Chapter 6
    """
    if not cfg.slow_gate_scale:
        return None
    lam = cfg.sorted_lambdas[len(cfg.lambdas) // 2]
    return lambda_sweep(cfg, "easy", seed, device, lambdas=(lam,), gate_scale=cfg.slow_gate_scale, base=False)
