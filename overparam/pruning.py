"""Pruning inside stacked networks: masks, IMP with rewinding, criteria, supermasks, SNIP/GraSP.

Many networks (seeds x tickets x sparsities x criteria) are stacked along a leading
member dimension ``M`` and trained as one batched computation, the way
:mod:`overparam.train` stacks a sweep. A network is a list of parameter tensors in the
layout of :func:`overparam.train.init_params` (MLP ``[W (d, w), b (w), ..., W (w, C),
b (C)]`` with ``x @ W``; CNN ``[K (w, c_in, 5), b (w), ..., W (w * L, C), b (C)]``), each
with the extra leading dimension ``M``. A *mask* is a list with one 0/1 tensor per
weight tensor (biases are never pruned), same shapes.

Masks live in the computation, not in ``torch.nn.utils.prune`` hooks: a masked network
starts with its masked weights at zero and every gradient is multiplied by the mask
before the optimizer step. With a zero gradient and a zero weight, SGD (with momentum
and weight decay) and Adam leave the weight at exactly zero, so masked weights stay
exactly zero for the whole run (tested) at the cost of one elementwise product per
weight tensor and step (``benchmarks/pruning.py`` measures it).

Public pieces:

- :class:`Net` (architecture), :func:`init_stack`, :func:`forward`, :class:`SplitData`,
  :class:`StepConfig`, :func:`train_stack` (the masked batched trainer, snapshots at
  given iterations for rewinding), :func:`rewind`.
- :data:`CRITERIA` and :func:`criterion_scores` (Zhou et al. 2019), :func:`prune`
  (layer-wise or global), :func:`random_masks_like`, :func:`density`.
- :func:`imp` (iterative magnitude pruning with rewinding to iteration 0 or j).
- :func:`signed_constant`, :func:`train_supermask` (straight-through or
  sigmoid-Bernoulli scores over frozen weights).
- :func:`snip_scores`, :func:`grasp_scores`, :func:`prune_at_init`.
- :func:`instability` (error barrier between two copies trained from one rewind point
  with different data orders; Frankle et al. 2020).

Introduced in: Chapter 7
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .config import check_choice, check_positive
from .engine.sweep import Member, init_params

ARCHS = ("mlp", "cnn")
SCOPES = ("layer", "global")
CRITERIA = ("large_final", "small_final", "large_init", "small_init", "magnitude_increase",
            "movement", "large_final_same_sign", "random")
ESTIMATORS = ("straight_through", "sigmoid_bernoulli")
OPTIMIZERS = ("sgd", "adam")
_KERNEL = 5
_ORDER_OFFSET = 1_000_003  # batch order draws from its own stream, as in overparam.train


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def iterations_to(err_curves: np.ndarray, steps: np.ndarray, threshold: float) -> np.ndarray:
    """First iteration at which each error curve is at or below ``threshold`` (a speed
    measure); ``steps[-1]`` where it never gets there (censored at the end of training).

    Parameters
    ----------
    err_curves : ndarray (M, T);  steps : ndarray (T,)

    Returns
    -------
    ndarray (M,)

    Introduced in: Chapter 7
    """
    hit = np.asarray(err_curves) <= threshold
    first = np.where(hit.any(1), hit.argmax(1), len(steps) - 1)
    return np.asarray(steps)[first]


def check_rate(rate: float, name: str = "rate") -> float:
    """Validate a pruning rate: a number with 0 < rate < 1, else one clear ValueError.

    Introduced in: Chapter 7
    """
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating)) or not 0 < rate < 1:
        raise ValueError(f"{name}={rate!r} is not allowed; expected a fraction pruned per round "
                         f"with 0 < {name} < 1 (e.g. 0.2)")
    return float(rate)


# --------------------------------------------------------------------------- networks


@dataclass(frozen=True)
class Net:
    """Architecture of the stacked networks (all members share it).

    Parameters
    ----------
    arch : "mlp" or "cnn"
    widths : hidden widths (MLP: one per hidden layer, e.g. (300, 100) for LeNet-300-100)
        or channels of each conv layer (CNN; all equal, as in :mod:`overparam.train`)
    d : input dimension (sequence length for the CNN)
    n_classes : number of classes

    Introduced in: Chapter 7
    """

    arch: str = "mlp"
    widths: tuple = (300, 100)  # LeNet-300-100, Frankle & Carbin's fully connected net
    d: int = 64
    n_classes: int = 10

    def __post_init__(self):
        check_choice("arch", self.arch, ARCHS)
        if not isinstance(self.widths, tuple) or not self.widths:
            raise ValueError(f"widths={self.widths!r} is not allowed; expected a tuple of integers > 0")
        check_positive("widths", list(self.widths), integer=True)
        if self.arch == "cnn" and len(set(self.widths)) != 1:
            raise ValueError(f"widths={self.widths!r} is not allowed for arch='cnn'; use equal channels")
        check_positive("d", self.d, integer=True)
        check_positive("n_classes", self.n_classes, integer=True)

    @property
    def depth(self) -> int:
        return len(self.widths)

    def n_weights(self) -> int:
        """Number of prunable weights (biases excluded) of one network."""
        return sum(math.prod(s) for s in self.shapes()[0::2])

    def shapes(self) -> list[tuple]:
        """Shapes of one network's parameters, in layout order."""
        if self.arch == "mlp":
            dims = [self.d, *self.widths, self.n_classes]
            out = []
            for a, b in zip(dims[:-1], dims[1:]):
                out += [(a, b), (b,)]
            return out
        w, out, c_in, L = self.widths[0], [], 1, self.d
        for _ in self.widths:
            out += [(w, c_in, _KERNEL), (w,)]
            c_in, L = w, (L + 4 - _KERNEL) // 2 + 1
        return out + [(w * L, self.n_classes), (self.n_classes,)]


def init_stack(net: Net, seeds: Sequence[int], device: torch.device | str = "cpu") -> list[torch.Tensor]:
    """Initial parameters of one network per seed, stacked: list of (M, ...) tensors.

    An MLP with equal widths, or a CNN, is initialised exactly as
    :func:`overparam.train.init_params` does for a :class:`~overparam.train.Member` with
    that seed (PyTorch's default uniform fan-in init); unequal MLP widths draw the same
    distribution layer by layer from the seed's generator.

    Introduced in: Chapter 7
    """
    stacks: list[list[torch.Tensor]] = []
    for s in seeds:
        if net.arch == "cnn" or len(set(net.widths)) == 1:
            m = Member(net.widths[0], net.depth, net.arch, seed=int(s))
            stacks.append(init_params(m, net.d, net.n_classes))
        else:
            gen = torch.Generator().manual_seed(int(s))
            ps = []
            for shape in net.shapes():
                if len(shape) == 2:
                    bound = 1 / math.sqrt(shape[0])
                    ps.append(((torch.rand((shape[1], shape[0]), generator=gen) * 2 - 1) * bound).T.contiguous())
                else:
                    ps.append((torch.rand(shape, generator=gen) * 2 - 1) * bound)
            stacks.append(ps)
    return [torch.stack([p[j] for p in stacks]).to(device) for j in range(len(stacks[0]))]


def forward(net: Net, params: Sequence[torch.Tensor], X: torch.Tensor) -> torch.Tensor:
    """Logits of every stacked network.

    Parameters
    ----------
    params : list of (M, ...) tensors (layout of :func:`init_stack`)
    X : (M, B, d) per-member inputs, or (B, d) shared by all members

    Returns
    -------
    Tensor (M, B, n_classes)

    Introduced in: Chapter 7
    """
    M = params[0].shape[0]
    if X.ndim == 2:
        X = X.expand(M, *X.shape)
    if net.arch == "mlp":
        h = X
        for i in range(net.depth):
            h = torch.relu(torch.baddbmm(params[2 * i + 1][:, None, :], h, params[2 * i]))
        return torch.baddbmm(params[-1][:, None, :], h, params[-2])
    B = X.shape[1]
    h = X.permute(1, 0, 2)  # (B, M, L): member-major channels, grouped convs
    for i in range(net.depth):
        K, b = params[2 * i], params[2 * i + 1]
        h = torch.relu(F.conv1d(h, K.reshape(-1, K.shape[2], K.shape[3]), b.reshape(-1),
                                stride=2, padding=2, groups=M))
    h = h.reshape(B, M, -1).permute(1, 0, 2)
    return torch.baddbmm(params[-1][:, None, :], h, params[-2])


def forward_one(net: Net, theta: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """Logits of one network given as a flat vector (vmap-friendly; for landscape scans).

    Parameters
    ----------
    theta : (P,) flat parameters (order of :func:`flatten`)
    X : (B, d)

    Returns
    -------
    Tensor (B, n_classes)

    Introduced in: Chapter 7
    """
    ps, k = [], 0
    for s in net.shapes():
        n = math.prod(s)
        ps.append(theta[k:k + n].reshape(s))
        k += n
    if net.arch == "mlp":
        h = X
        for i in range(net.depth):
            h = torch.relu(h @ ps[2 * i] + ps[2 * i + 1])
        return h @ ps[-2] + ps[-1]
    h = X[:, None, :]
    for i in range(net.depth):
        h = torch.relu(F.conv1d(h, ps[2 * i], ps[2 * i + 1], stride=2, padding=2))
    return h.flatten(1) @ ps[-2] + ps[-1]


def flatten(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """Stacked parameters (list of (M, ...)) as one (M, P) matrix of flat vectors.

    Introduced in: Chapter 7
    """
    return torch.cat([p.reshape(p.shape[0], -1) for p in params], 1)


def weights(params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The prunable tensors (weights and kernels, not biases) of a parameter list.

    Introduced in: Chapter 7
    """
    return list(params[0::2])


def apply_masks(params: Sequence[torch.Tensor], masks: Sequence[torch.Tensor] | None) -> list[torch.Tensor]:
    """Parameters with every weight tensor multiplied by its mask (biases unchanged).

    Introduced in: Chapter 7
    """
    if masks is None:
        return [p.clone() for p in params]
    out = []
    for j, p in enumerate(params):
        out.append(p * masks[j // 2].to(p.dtype) if j % 2 == 0 else p.clone())
    return out


rewind = apply_masks  # rewinding = saved values (iteration 0 or j) times the current mask


def density(masks: Sequence[torch.Tensor]) -> np.ndarray:
    """Fraction of weights remaining per member, shape (M,).

    Introduced in: Chapter 7
    """
    kept = sum(m.reshape(m.shape[0], -1).sum(1).double() for m in masks)
    total = sum(m[0].numel() for m in masks)
    return (kept / total).cpu().numpy()


def ones_masks(params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Masks that keep every weight.

    Introduced in: Chapter 7
    """
    return [torch.ones_like(w) for w in weights(params)]


# --------------------------------------------------------------------------- data, training


@dataclass
class SplitData:
    """Training, validation (for the early-stopping iteration) and test sets.

    Arrays: X_* (n, d) float32, y_* (n,) int64, on the training device.

    Introduced in: Chapter 7
    """

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_val: torch.Tensor
    y_val: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int = 10
    name: str = ""

    @property
    def d(self) -> int:
        return self.X_train.shape[1]

    def to(self, device) -> "SplitData":
        return SplitData(*(t.to(device) for t in (self.X_train, self.y_train, self.X_val, self.y_val,
                                                   self.X_test, self.y_test)), self.n_classes, self.name)


@dataclass(frozen=True)
class StepConfig:
    """How each stacked network is trained (lengths in iterations, Frankle & Carbin's unit).

    Introduced in: Chapter 7
    """

    steps: int = 2000          # training iterations per run
    lr: float = 1.2e-3         # Frankle & Carbin's Adam rate for LeNet-300-100
    optimizer: str = "adam"    # "adam" (the source's Lenet setting) or "sgd" (with momentum)
    momentum: float = 0.9      # used by "sgd" only
    batch_size: int = 60       # Frankle & Carbin's batch size for MNIST
    eval_every: int = 100      # iterations between validation/test evaluations

    def __post_init__(self):
        check_positive("steps", self.steps, integer=True)
        check_positive("lr", self.lr)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_positive("momentum", self.momentum, allow_zero=True)
        check_positive("batch_size", self.batch_size, integer=True)
        check_positive("eval_every", self.eval_every, integer=True)


@dataclass
class TrainRun:
    """Results of one batched training run of M networks.

    Attributes
    ----------
    steps : ndarray (T,) iterations of the evaluations (0 = start)
    val_loss, val_err, test_err : ndarray (M, T)
    train_err : ndarray (M,) final training error
    early_step : ndarray (M,) iteration of the smallest validation loss (Frankle's
        early-stopping iteration)
    test_err_early : ndarray (M,) test error at ``early_step``
    params : list of (M, ...) tensors, final parameters (CPU)
    snapshots : dict iteration -> list of (M, ...) tensors (CPU), for rewinding
    seconds : wall time

    Introduced in: Chapter 7
    """

    steps: np.ndarray
    val_loss: np.ndarray
    val_err: np.ndarray
    test_err: np.ndarray
    train_err: np.ndarray
    early_step: np.ndarray
    test_err_early: np.ndarray
    params: list
    snapshots: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def test_acc(self) -> np.ndarray:
        """Final test accuracy per member, (M,)."""
        return 1 - self.test_err[:, -1]


def _make_opt(params, cfg: StepConfig):
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum)
    return torch.optim.Adam(params, lr=cfg.lr)


@torch.no_grad()
def evaluate(net: Net, params: Sequence[torch.Tensor], X: torch.Tensor, y: torch.Tensor,
             chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Mean cross-entropy and error rate of every stacked network on (X, y).

    Returns
    -------
    loss, err : ndarray (M,) each

    Introduced in: Chapter 7
    """
    M = params[0].shape[0]
    loss = torch.zeros(M, device=X.device)
    err = torch.zeros(M, device=X.device)
    for s in range(0, len(X), chunk):
        out = forward(net, params, X[s:s + chunk])
        yb = y[s:s + chunk].expand(M, -1)
        loss += F.cross_entropy(out.reshape(-1, out.shape[-1]), yb.reshape(-1),
                                reduction="none").reshape(M, -1).sum(1)
        err += (out.argmax(-1) != yb).sum(1)
    return (loss / len(X)).cpu().numpy(), (err / len(X)).cpu().numpy()


def _batches(n: int, B: int, gens: list[torch.Generator], device) -> torch.Tensor:
    """One epoch of per-member batch indices, (n_batches, M, B); a short last batch is dropped."""
    perms = torch.stack([torch.randperm(n, generator=g) for g in gens])
    nb = max(1, n // B)
    return perms[:, :nb * B].reshape(len(gens), nb, min(B, n)).permute(1, 0, 2).to(device)


def _loop(net: Net, trainable: list[torch.Tensor], effective: Callable[[bool], list[torch.Tensor]],
          grad_masks: list | None, data: SplitData, cfg: StepConfig, order_seeds: Sequence[int],
          snapshot_steps: Sequence[int], log, label: str) -> TrainRun:
    """The one masked batched training loop (weights or supermask scores)."""
    device = data.X_train.device
    M = trainable[0].shape[0]
    opt = _make_opt(trainable, cfg)
    gens = [torch.Generator().manual_seed(int(s) + _ORDER_OFFSET) for s in order_seeds]
    n = len(data.X_train)
    evals = sorted({0, cfg.steps, *range(cfg.eval_every, cfg.steps + 1, cfg.eval_every)})
    T = len(evals)
    vl, ve, te = (np.full((M, T), np.nan) for _ in range(3))
    snaps: dict[int, list] = {}
    want = set(int(s) for s in snapshot_steps)

    def record(j):
        with torch.no_grad():
            ps = effective(False)
            vl[:, j], ve[:, j] = evaluate(net, ps, data.X_val, data.y_val)
            te[:, j] = evaluate(net, ps, data.X_test, data.y_test)[1]

    def snap(step):
        if step in want:
            snaps[step] = [p.detach().cpu().clone() for p in trainable]

    t0 = t_last = time.perf_counter()
    record(0)
    snap(0)
    masked_grads, mask_list = [], []
    for j, m in enumerate(grad_masks or []):
        if m is not None:
            masked_grads.append(trainable[j])
            mask_list.append(m)
    step, queue = 0, None
    while step < cfg.steps:
        if queue is None or not len(queue):
            queue = list(_batches(n, cfg.batch_size, gens, device))
        idx = queue.pop(0)
        Xb, yb = data.X_train[idx], data.y_train[idx]
        out = forward(net, effective(True), Xb)
        per = F.cross_entropy(out.reshape(-1, out.shape[-1]), yb.reshape(-1),
                              reduction="none").reshape(M, -1).mean(1)
        opt.zero_grad(set_to_none=False)
        per.sum().backward()
        if masked_grads:
            torch._foreach_mul_([t.grad for t in masked_grads], mask_list)
        opt.step()
        step += 1
        if step == 1 and masked_grads:
            # Adam keeps exp_avg_sq = 0 at masked weights, and sqrt(0) is several times
            # slower than sqrt of a normal number on common CPUs. A positive second moment
            # there changes nothing: the first moment stays 0, so the update stays exactly 0.
            for t, m in zip(masked_grads, mask_list):
                st = opt.state.get(t, {})
                if "exp_avg_sq" in st:
                    st["exp_avg_sq"].add_(1 - m)
        snap(step)
        if step in evals:
            record(evals.index(step))
        if log is not None and time.perf_counter() - t_last > 15:
            t_last = time.perf_counter()
            el = t_last - t0
            log(f"{label}: step {step}/{cfg.steps}, elapsed {el:.0f} s, eta {el / step * (cfg.steps - step):.0f} s")
    with torch.no_grad():
        ps = effective(False)
        train_err = evaluate(net, ps, data.X_train, data.y_train)[1]
    best = np.nanargmin(vl, axis=1)
    steps_arr = np.array(evals)
    return TrainRun(steps_arr, vl, ve, te, train_err, steps_arr[best], te[np.arange(M), best],
                    [p.detach().cpu() for p in ps], snaps, time.perf_counter() - t0)


def train_stack(net: Net, params: Sequence[torch.Tensor], masks: Sequence[torch.Tensor] | None,
                data: SplitData, cfg: StepConfig, *, order_seeds: Sequence[int] | None = None,
                snapshot_steps: Sequence[int] = (), log: Callable[[str], None] | None = _stderr,
                label: str = "train") -> TrainRun:
    """Train M stacked (masked) networks at once; masked weights stay exactly zero.

    Parameters
    ----------
    net : Net
    params : list of (M, ...) starting parameters (copied; masked weights are zeroed)
    masks : list of (M, ...) 0/1 tensors, one per weight tensor, or None (dense)
    data : SplitData on the training device
    cfg : StepConfig
    order_seeds : (M,) seeds of each member's batch order (default 0, 1, ..., M-1);
        two members with the same order seed see the same batches
    snapshot_steps : iterations at which to save the parameters (0 = the start), e.g.
        the rewind iteration j of late resetting
    log : progress lines every ~15 s (None for silence)

    Returns
    -------
    TrainRun

    Introduced in: Chapter 7
    """
    device = data.X_train.device
    M = params[0].shape[0]
    order_seeds = list(range(M)) if order_seeds is None else list(order_seeds)
    if len(order_seeds) != M:
        raise ValueError(f"order_seeds has {len(order_seeds)} entries for {M} members")
    dev_masks = None if masks is None else [m.to(device, torch.float32) for m in masks]
    trainable = [p.detach().to(device).clone().requires_grad_(True) for p in apply_masks(
        [p.to(device) for p in params], dev_masks)]
    grad_masks = None
    if dev_masks is not None:
        grad_masks = [dev_masks[j // 2] if j % 2 == 0 else None for j in range(len(trainable))]
    return _loop(net, trainable, lambda train: trainable, grad_masks, data, cfg, order_seeds,
                 snapshot_steps, log, label)


# --------------------------------------------------------------------------- criteria, pruning


def criterion_scores(criterion: str, w_init: torch.Tensor, w_final: torch.Tensor,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Keep-scores of Zhou et al.'s mask criteria: the highest-scoring weights are kept.

    ``large_final`` |w_f|; ``small_final`` -|w_f|; ``large_init`` |w_i|; ``small_init``
    -|w_i|; ``magnitude_increase`` |w_f| - |w_i|; ``movement`` |w_f - w_i|;
    ``large_final_same_sign`` |w_f| where sign(w_f) = sign(w_i), else below every other
    weight; ``random`` uniform noise.

    Parameters
    ----------
    criterion : one of :data:`CRITERIA`
    w_init, w_final : tensors of one shape (any)

    Returns
    -------
    Tensor of the same shape

    Introduced in: Chapter 7
    """
    check_choice("criterion", criterion, CRITERIA)
    if criterion == "large_final":
        return w_final.abs()
    if criterion == "small_final":
        return -w_final.abs()
    if criterion == "large_init":
        return w_init.abs()
    if criterion == "small_init":
        return -w_init.abs()
    if criterion == "magnitude_increase":
        return w_final.abs() - w_init.abs()
    if criterion == "movement":
        return (w_final - w_init).abs()
    if criterion == "large_final_same_sign":
        same = torch.sign(w_final) == torch.sign(w_init)
        return torch.where(same, w_final.abs(), -1.0 - w_final.abs())
    u = torch.rand(w_final.shape, generator=generator)
    return u.to(w_final.device)


def _keep_top(scores: torch.Tensor, alive: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Per row of (M, N): 1 at the k[m] highest scores among alive entries, else 0."""
    s = torch.where(alive > 0, scores.double(), torch.tensor(-math.inf, dtype=torch.float64, device=scores.device))
    order = torch.argsort(s, dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(s.shape[1], device=s.device).expand_as(order).contiguous())
    return (ranks < k[:, None]).to(alive.dtype)


def prune(scores: Sequence[torch.Tensor], masks: Sequence[torch.Tensor], rate: float,
          scope: str = "layer", output_factor: float = 0.5) -> list[torch.Tensor]:
    """Remove the fraction ``rate`` of the surviving weights with the lowest scores.

    Parameters
    ----------
    scores : list of (M, ...) keep-scores, one per weight tensor
    masks : list of (M, ...) current 0/1 masks
    rate : fraction of survivors removed, 0 < rate < 1
    scope : ``"layer"`` (each tensor loses ``rate`` of its survivors; the output layer
        ``rate * output_factor``, Frankle & Carbin's convention) or ``"global"`` (one
        ranking over all weight tensors of a member)
    output_factor : rate multiplier of the last layer for layer-wise pruning

    Returns
    -------
    list of new masks; a member keeps ``round((1 - rate) * alive)`` weights per tensor
    (layer) or in total (global)

    Introduced in: Chapter 7
    """
    check_rate(rate)
    check_choice("scope", scope, SCOPES)
    if not 0 < output_factor <= 1:
        raise ValueError(f"output_factor={output_factor!r} is not allowed; expected 0 < output_factor <= 1")
    M = masks[0].shape[0]
    if scope == "layer":
        new = []
        for j, (s, m) in enumerate(zip(scores, masks)):
            r = rate * (output_factor if j == len(masks) - 1 else 1.0)
            alive = m.reshape(M, -1)
            k = torch.round(alive.sum(1) * (1 - r)).long()
            new.append(_keep_top(s.reshape(M, -1), alive, k).reshape(m.shape))
        return new
    flat_s = torch.cat([s.reshape(M, -1) for s in scores], 1)
    flat_m = torch.cat([m.reshape(M, -1) for m in masks], 1)
    k = torch.round(flat_m.sum(1) * (1 - rate)).long()
    keep = _keep_top(flat_s, flat_m, k)
    out, c = [], 0
    for m in masks:
        n = m[0].numel()
        out.append(keep[:, c:c + n].reshape(m.shape))
        c += n
    return out


def random_masks_like(masks: Sequence[torch.Tensor], generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """Random masks with exactly the per-layer, per-member number of survivors of ``masks``.

    Introduced in: Chapter 7
    """
    out = []
    for m in masks:
        M = m.shape[0]
        flat = m.reshape(M, -1)
        u = torch.rand(flat.shape, generator=generator).to(m.device)
        out.append(_keep_top(u, torch.ones_like(flat), flat.sum(1).long()).reshape(m.shape))
    return out


def mask_scores(criterion: str | Sequence[str], params0: Sequence[torch.Tensor],
                params_final: Sequence[torch.Tensor], generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """Keep-scores of every weight tensor; ``criterion`` is one name or one per member.

    Introduced in: Chapter 7
    """
    w0, wf = weights(params0), weights(params_final)
    M = w0[0].shape[0]
    crits = [criterion] * M if isinstance(criterion, str) else list(criterion)
    if len(crits) != M:
        raise ValueError(f"criterion has {len(crits)} entries for {M} members")
    for c in crits:
        check_choice("criterion", c, CRITERIA)
    out = []
    for a, b in zip(w0, wf):
        a, b = a.cpu(), b.cpu()
        out.append(torch.stack([criterion_scores(c, a[i], b[i], generator) for i, c in enumerate(crits)]))
    return out


# --------------------------------------------------------------------------- IMP


@dataclass
class ImpResult:
    """Rounds of iterative pruning of M stacked networks (round 0 = dense).

    Attributes
    ----------
    density : ndarray (R + 1, M) fraction of weights remaining after each round
    test_acc, train_acc : ndarray (R + 1, M) at the end of training
    test_acc_early : ndarray (R + 1, M) test accuracy at the early-stopping iteration
    early_step : ndarray (R + 1, M) iteration of the smallest validation loss
    masks : list (R + 1) of mask lists (CPU)
    params0 : list of (M, ...) initial parameters; rewind_params: values at ``rewind_step``
    dense_final : list of (M, ...) dense network after training (round 0)
    curves : list (R + 1) of ndarray (M, T) test error curves; steps: ndarray (T,)
    val_curves : list (R + 1) of ndarray (M, T) validation error curves
    snapshots : dict iteration -> list of (M, ...) values of the dense run
    final_params : list (R + 1) of trained parameters of each round

    Introduced in: Chapter 7
    """

    density: np.ndarray
    test_acc: np.ndarray
    train_acc: np.ndarray
    test_acc_early: np.ndarray
    early_step: np.ndarray
    masks: list
    params0: list
    rewind_params: list
    dense_final: list
    curves: list
    steps: np.ndarray
    seconds: float = 0.0
    snapshots: dict = field(default_factory=dict)
    final_params: list = field(default_factory=list)
    val_curves: list = field(default_factory=list)


def imp(net: Net, seeds: Sequence[int], data: SplitData, cfg: StepConfig, *, rate: float = 0.2,
        rounds: int = 5, rewind_step: int | Sequence[int] = 0, scope: str = "layer",
        criterion: str | Sequence[str] = "large_final", output_factor: float = 0.5,
        snapshot_steps: Sequence[int] = (),
        log: Callable[[str], None] | None = _stderr) -> ImpResult:
    """Iterative magnitude pruning (Frankle & Carbin 2019) of one network per seed, batched.

    Train the dense network (saving its values at iteration ``rewind_step``); then
    ``rounds`` times: prune ``rate`` of the surviving weights by ``criterion`` (scores
    from the values at ``rewind_step`` and at the end of the last training), rewind the
    survivors to their values at ``rewind_step`` (0: the original init; j > 0: late
    resetting) and retrain.

    Parameters
    ----------
    net, data, cfg : architecture, data, training
    seeds : (M,) init seeds (also the batch-order seeds)
    rate : fraction pruned per round, 0 < rate < 1
    rounds : number of prune-rewind-retrain rounds
    rewind_step : iteration j whose values the survivors are reset to (one, or one per member)
    scope : "layer" or "global"
    criterion : a name of :data:`CRITERIA` or one per member (Zhou et al.'s comparison
        runs every criterion in one stack)
    snapshot_steps : further iterations of the dense run to keep (``ImpResult.snapshots``),
        e.g. the rewind points of an instability scan

    Returns
    -------
    ImpResult

    Introduced in: Chapter 7
    """
    check_rate(rate)
    check_positive("rounds", rounds, integer=True, allow_zero=True)
    check_choice("scope", scope, SCOPES)
    M = len(seeds)
    rws = [rewind_step] * M if isinstance(rewind_step, (int, np.integer)) else list(rewind_step)
    if len(rws) != M:
        raise ValueError(f"rewind_step has {len(rws)} entries for {M} members")
    for j in rws:
        check_positive("rewind_step", j, integer=True, allow_zero=True)
        if j > cfg.steps:
            raise ValueError(f"rewind_step={j} is not allowed; expected <= steps={cfg.steps}")
    crits = [criterion] * M if isinstance(criterion, str) else list(criterion)
    if len(crits) != M:
        raise ValueError(f"criterion has {len(crits)} entries for {M} members")
    for c in crits:
        check_choice("criterion", c, CRITERIA)
    t0 = time.perf_counter()
    device = data.X_train.device
    gen = torch.Generator().manual_seed(int(seeds[0]) + 77)
    p0 = init_stack(net, seeds, device)
    masks = [m.cpu() for m in ones_masks(p0)]
    run = train_stack(net, p0, None, data, cfg, order_seeds=seeds,
                      snapshot_steps=sorted(set(rws) | set(snapshot_steps)), log=log, label="imp round 0")
    rew = [torch.stack([run.snapshots[j][t][i] for i, j in enumerate(rws)]) for t in range(len(p0))]
    dense_final = run.params
    runs, all_masks = [run], [masks]
    last = run
    for r in range(1, rounds + 1):
        sc = mask_scores(crits, rew, last.params, gen)
        masks = prune(sc, masks, rate, scope, output_factor)
        last = train_stack(net, rewind(rew, masks), masks, data, cfg, order_seeds=seeds, log=log,
                           label=f"imp round {r}")
        runs.append(last)
        all_masks.append(masks)
        if log is not None:
            log(f"imp: round {r}/{rounds}, density {density(masks).mean():.3f}, "
                f"test acc {last.test_acc.mean():.3f}, elapsed {time.perf_counter() - t0:.0f} s")
    return ImpResult(np.stack([density(m) for m in all_masks]),
                     np.stack([rr.test_acc for rr in runs]), np.stack([1 - rr.train_err for rr in runs]),
                     np.stack([1 - rr.test_err_early for rr in runs]), np.stack([rr.early_step for rr in runs]),
                     all_masks, [p.cpu() for p in p0], [p.cpu() for p in rew], dense_final,
                     [rr.test_err for rr in runs], runs[0].steps, time.perf_counter() - t0,
                     {k: v for k, v in run.snapshots.items()}, [rr.params for rr in runs],
                     [rr.val_err for rr in runs])


def stack_rounds(masks_per_round: Sequence[Sequence[torch.Tensor]]) -> list[torch.Tensor]:
    """Concatenate the masks of several rounds along the member axis: (R * M, ...).

    Introduced in: Chapter 7
    """
    return [torch.cat([mr[j] for mr in masks_per_round]) for j in range(len(masks_per_round[0]))]


def repeat_params(params: Sequence[torch.Tensor], times: int) -> list[torch.Tensor]:
    """Tile stacked parameters ``times`` along the member axis: (times * M, ...).

    Introduced in: Chapter 7
    """
    return [p.repeat(times, *([1] * (p.ndim - 1))) for p in params]


# --------------------------------------------------------------------------- supermasks


HE_GAIN = math.sqrt(6.0)  # std of U(-1/sqrt(n), 1/sqrt(n)) times this = He's sqrt(2/n)


def _fan_in(shape: tuple) -> int:
    return shape[0] if len(shape) == 2 else shape[1] * shape[2]


def signed_constant(net: Net, params: Sequence[torch.Tensor], gain: float = 1.0) -> list[torch.Tensor]:
    """Zhou et al.'s signed constant: each weight set to sign(w_init) times its layer's init std.

    The init is U(-b, b) with b = 1/sqrt(fan_in), whose std is b/sqrt(3); ``gain``
    multiplies it (``HE_GAIN`` gives He's std sqrt(2/fan_in)). Biases unchanged.

    Introduced in: Chapter 7
    """
    out = []
    for j, (p, s) in enumerate(zip(params, net.shapes())):
        if j % 2:
            out.append(p.clone())
            continue
        out.append(torch.sign(p) * gain / math.sqrt(_fan_in(s)) / math.sqrt(3))
    return out


def he_scale(params: Sequence[torch.Tensor], gain: float = HE_GAIN) -> list[torch.Tensor]:
    """Weights multiplied by ``gain`` (default: PyTorch's fan-in uniform init rescaled to
    He's std sqrt(2 / fan_in)); biases unchanged. Frozen-weight (supermask) networks need a
    scale that carries the signal through ReLU layers, since training cannot grow it.

    Introduced in: Chapter 7
    """
    return [p * gain if j % 2 == 0 else p.clone() for j, p in enumerate(params)]


def supermask(scores: torch.Tensor, estimator: str, train: bool,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """The 0/1 mask of a learned-mask score tensor, differentiable in training.

    ``straight_through``: mask = 1[s > 0], gradient passed as if mask = s.
    ``sigmoid_bernoulli``: mask ~ Bernoulli(sigmoid(s)) in training, gradient through
    sigmoid(s) (Zhou et al.); at evaluation the deterministic 1[sigmoid(s) > 0.5].

    Introduced in: Chapter 7
    """
    check_choice("estimator", estimator, ESTIMATORS)
    hard = (scores > 0).to(scores.dtype)
    if not train:
        return hard
    if estimator == "straight_through":
        return hard + scores - scores.detach()
    p = torch.sigmoid(scores)
    u = torch.rand(scores.shape, generator=generator, device=scores.device)
    return (u < p).to(scores.dtype) + p - p.detach()


@dataclass
class SupermaskRun:
    """A learned supermask over frozen weights.

    Attributes
    ----------
    run : TrainRun (``params`` are the masked effective weights)
    masks : list of (M, ...) final 0/1 masks
    density : ndarray (M,)

    Introduced in: Chapter 7
    """

    run: TrainRun
    masks: list
    density: np.ndarray


def train_supermask(net: Net, frozen: Sequence[torch.Tensor], data: SplitData, cfg: StepConfig, *,
                    estimator: str = "sigmoid_bernoulli", score_init: float = 0.0,
                    order_seeds: Sequence[int] | None = None, seed: int = 0,
                    log: Callable[[str], None] | None = _stderr) -> SupermaskRun:
    """Learn a mask over frozen weights (Zhou et al.'s supermask training); weights never change.

    Parameters
    ----------
    frozen : list of (M, ...) weights (e.g. the init or its signed constant); biases frozen too
    estimator : "straight_through" or "sigmoid_bernoulli"
    score_init : initial score of every weight, plus small noise (0: keep probability 1/2)
    seed : seeds the score noise and the Bernoulli samples

    Returns
    -------
    SupermaskRun

    Introduced in: Chapter 7
    """
    check_choice("estimator", estimator, ESTIMATORS)
    device = data.X_train.device
    M = frozen[0].shape[0]
    fz = [p.detach().to(device) for p in frozen]
    g = torch.Generator().manual_seed(seed)
    scores = [(score_init + 0.01 * torch.randn(w.shape, generator=g)).to(device).requires_grad_(True)
              for w in weights(fz)]
    dgen = torch.Generator(device=device).manual_seed(seed + 1)

    def effective(train: bool) -> list[torch.Tensor]:
        out = []
        for j, p in enumerate(fz):
            out.append(p * supermask(scores[j // 2], estimator, train, dgen) if j % 2 == 0 else p)
        return out

    order_seeds = list(range(M)) if order_seeds is None else list(order_seeds)
    run = _loop(net, scores, effective, None, data, cfg, order_seeds, (), log, f"supermask {estimator}")
    masks = [supermask(s.detach(), estimator, False).cpu() for s in scores]
    return SupermaskRun(run, masks, density(masks))


# --------------------------------------------------------------------------- pruning at init


def _batch_loss(net, params, X, y):
    out = forward(net, params, X)
    M = out.shape[0]
    return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.expand(M, -1).reshape(-1),
                           reduction="none").reshape(M, -1).mean(1).sum()


def snip_scores(net: Net, params: Sequence[torch.Tensor], X: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """SNIP connection sensitivity |g * w| of every weight at the given parameters (Lee et al. 2019).

    Parameters
    ----------
    params : list of (M, ...) stacked parameters (usually the init)
    X, y : one batch (B, d), (B,) shared by all members

    Returns
    -------
    list of (M, ...) keep-scores, one per weight tensor

    Introduced in: Chapter 7
    """
    ps = [p.detach().clone().requires_grad_(True) for p in params]
    grads = torch.autograd.grad(_batch_loss(net, ps, X, y), ps)
    return [(g * p).abs().detach() for g, p in zip(weights(grads), weights(ps))]


def grasp_scores(net: Net, params: Sequence[torch.Tensor], X: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """GraSP keep-scores w * (H g) (Wang et al. 2020): pruning removes the lowest, i.e. the
    weights whose removal least reduces the gradient flow g^T g.

    GraSP's score is S = -w * (H g) and it removes the largest S; here the keep-score
    is -S. No logit temperature is used.

    Returns
    -------
    list of (M, ...) keep-scores, one per weight tensor

    Introduced in: Chapter 7
    """
    ps = [p.detach().clone().requires_grad_(True) for p in params]
    g = torch.autograd.grad(_batch_loss(net, ps, X, y), ps, create_graph=True)
    gd = [t.detach() for t in g]
    Hg = torch.autograd.grad(sum((a * b).sum() for a, b in zip(g, gd)), ps)
    return [(p * h).detach() for p, h in zip(weights(ps), weights(Hg))]


def prune_at_init(method: str, net: Net, params: Sequence[torch.Tensor], X: torch.Tensor, y: torch.Tensor,
                  target_density: float, scope: str = "global") -> list[torch.Tensor]:
    """One-shot masks at initialization keeping ``target_density`` of the weights.

    Parameters
    ----------
    method : "snip", "grasp" (one global ranking by default) or "random" (every layer
        pruned at random to ``target_density``)
    target_density : fraction of weights kept, 0 < target_density < 1

    Returns
    -------
    list of (M, ...) masks

    Introduced in: Chapter 7
    """
    check_choice("method", method, ("snip", "grasp", "random"))
    check_rate(target_density, "target_density")
    masks = ones_masks(params)
    if method == "random":
        return prune([torch.rand(m.shape, device=m.device) for m in masks], masks, 1 - target_density,
                     "layer", output_factor=1.0)
    sc = (snip_scores if method == "snip" else grasp_scores)(net, params, X, y)
    return prune(sc, masks, 1 - target_density, scope, output_factor=1.0)


# --------------------------------------------------------------------------- instability


def instability(net: Net, params_a: Sequence[torch.Tensor], params_b: Sequence[torch.Tensor],
                X: torch.Tensor, y: torch.Tensor, n_alphas: int = 11) -> np.ndarray:
    """Error barrier on the straight line between two stacked sets of networks (member i of a
    with member i of b), via :mod:`overparam.landscape`.

    The barrier is max over alpha of err(alpha) minus the chord between the end errors
    (:func:`overparam.landscape.barrier_height`); 0 when the two are linearly connected.

    Parameters
    ----------
    params_a, params_b : list of (M, ...) final parameters of the two copies
    X, y : evaluation set (e.g. the test set)
    n_alphas : points on the line, ends included

    Returns
    -------
    ndarray (M,) error barriers (fractions)

    Introduced in: Chapter 7
    """
    from .landscape import barrier_height, scan_line
    check_positive("n_alphas", n_alphas, integer=True)
    A, B = flatten(params_a).to(X.device), flatten(params_b).to(X.device)
    alphas = np.linspace(0, 1, max(n_alphas, 2))
    out = []
    for i in range(A.shape[0]):
        scan = scan_line(lambda th, Xc: forward_one(net, th, Xc), A[i], B[i], X, y, alphas)
        out.append(barrier_height(alphas, scan.train_error))
    return np.array(out)


@dataclass
class InstabilityResult:
    """Instability of M networks when the two copies start at each rewind iteration.

    Attributes
    ----------
    rewind_steps : ndarray (K,)
    barrier : ndarray (K, M) test-error barriers
    test_acc : ndarray (K, M) mean test accuracy of the two copies

    Introduced in: Chapter 7
    """

    rewind_steps: np.ndarray
    barrier: np.ndarray
    test_acc: np.ndarray


def instability_vs_rewind(net: Net, snapshots: dict, masks: Sequence[torch.Tensor] | None, data: SplitData,
                          cfg: StepConfig, rewind_steps: Sequence[int], seeds: Sequence[int],
                          log: Callable[[str], None] | None = _stderr) -> InstabilityResult:
    """For each rewind iteration k: two copies of (mask times) the values at k, trained for the
    rest of training (steps - k) with different data orders; their error barrier.

    Parameters
    ----------
    snapshots : dict k -> list of (M, ...) parameters at iteration k (from
        :func:`train_stack` with ``snapshot_steps``)
    masks : list of (M, ...) masks (a ticket) or None (the dense network)
    seeds : (M,) order seeds of copy a; copy b uses seed + 500_009

    Returns
    -------
    InstabilityResult

    Introduced in: Chapter 7
    """
    bars, accs = [], []
    for k in rewind_steps:
        if k not in snapshots:
            raise ValueError(f"no snapshot at iteration {k}; train with snapshot_steps including it")
        start = rewind(snapshots[k], masks)
        M = start[0].shape[0]
        both = repeat_params(start, 2)
        mk = None if masks is None else repeat_params(masks, 2)
        rest = StepConfig(max(1, cfg.steps - int(k)), cfg.lr, cfg.optimizer, cfg.momentum,
                          cfg.batch_size, max(1, cfg.steps - int(k)))
        order = list(seeds) + [int(s) + 500_009 for s in seeds]
        run = train_stack(net, both, mk, data, rest, order_seeds=order, log=log, label=f"instability k={k}")
        a = [p[:M] for p in run.params]
        b = [p[M:] for p in run.params]
        bars.append(instability(net, a, b, data.X_test, data.y_test))
        accs.append((run.test_acc[:M] + run.test_acc[M:]) / 2)
    return InstabilityResult(np.array(list(rewind_steps)), np.stack(bars), np.stack(accs))
