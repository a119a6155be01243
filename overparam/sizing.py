"""Flexible width: a hidden layer that learns how many of its units to use.

The journal's "metric-less resizing" (October 2017) scales hidden unit i (i = 0, 1, ...)
of a one-hidden-layer MLP by

    f_i = 1 - sigmoid(k (i - x0)) = sigmoid(k (x0 - i)),

a soft step that is ~1 left of ``x0`` and ~0 right of it; ``x0`` (the size) is trained
with the weights and a *size penalty* is added to the loss. Units with f_i in
[EPS, 1 - EPS] form the *gray zone*, GRAY / k units wide (10 units at k = 1).

How to use it
-------------
>>> from overparam import sizing
>>> f = sizing.scaler(x0, k, n)                    # (M, n) scales of n units
>>> pen = sizing.size_integral(x0, k, n)           # int_0^n f(t) dt, stable (softplus)
>>> m = sizing.FlexMember(capacity=128, start=64, penalty=1e-3, seed=0)
>>> res = sizing.train_flexible([m, ...], data, steps=800, lr=3e-3, size_lr=0.25)

- :func:`scaler`, :func:`size_sum`, :func:`size_integral`: the scaler and its size
  penalty, the integral in closed form ``(softplus(k x0) - softplus(k (x0 - n))) / k``
  written with a stable softplus, so values and gradients stay finite for any x0 and k.
- :func:`scaler_naive`, :func:`size_integral_naive`: the journal's first formulas,
  ``1 - 1 / (1 + exp(-k (i - x0)))``; their gradients are NaN once ``exp`` overflows
  (|k (i - x0)| > 88 in float32), as the journal found ("the gradient of the parameters k
  and x_0 are Nan").
- :func:`size_penalty`: ``"integral"`` (default), ``"sum"``, or ``"x0"`` (Pr Madden's
  suggestion: the size itself, which is unbounded below, so x0 runs to minus infinity).
- :class:`FlexMember` and :func:`train_flexible`: many flexible (or static) networks
  with their own capacity, start size, penalty, L2, slope, size learning rate and
  pre-training, trained as one stack through :func:`overparam.engine.loop.fit` (the size
  penalty and the L2 term are ``penalties=``). Members are padded to the widest capacity
  with masks, so a padded member trains exactly as it would alone (tested).

Adam moves a parameter by about its learning rate per step at most (Kingma & Ba,
section 2.1: |step| <= lr, or lr (1 - b1) / sqrt(1 - b2) = 3.2 lr in the worst case), so
``size_lr x steps`` bounds how far a size can travel in a run: :func:`adam_bound`.

Introduced in: Chapter 5
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .config import check_choice, check_positive, generator, log
from .engine.loop import fit, per_member_batches
from .engine.optim import make_optimizer
from .models import Arch, forward, init_stack

EPS = 1.0 / (1.0 + math.exp(5.0))   # gray zone: EPS <= f <= 1 - EPS, |k (i - x0)| <= 5
GRAY = 10.0                          # gray-zone width in units at k = 1
PENALTIES = ("integral", "sum", "x0")
SLOPES = ("fixed", "random")
ADAM_WORST = 0.1 / math.sqrt(0.001)  # (1 - b1) / sqrt(1 - b2) for torch's default betas


# --------------------------------------------------------------------------- checks


def check_number(name: str, value) -> float:
    """``value`` as a finite float, else one ValueError naming ``name``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} is not allowed; expected a finite number") from None
    if isinstance(value, bool) or not math.isfinite(v):
        raise ValueError(f"{name}={value!r} is not allowed; expected a finite number")
    return v


def slope_for_gray_zone(units: float) -> float:
    """The slope k whose gray zone is ``units`` wide (k = GRAY / units; 1 for 10 units)."""
    check_positive("gray zone", units)
    return GRAY / float(units)


def adam_bound(size_lr: float, steps: int, worst: bool = False) -> float:
    """How far Adam can move one parameter in ``steps`` steps at rate ``size_lr``: about
    ``size_lr x steps`` (x 3.2 in Adam's worst case, a sudden gradient after a long calm)."""
    return float(size_lr) * int(steps) * (ADAM_WORST if worst else 1.0)


# --------------------------------------------------------------------------- the scaler


def _as(t, like: torch.Tensor) -> torch.Tensor:
    return t if torch.is_tensor(t) else torch.as_tensor(float(t), dtype=like.dtype, device=like.device)


def _units(n: int, x0: torch.Tensor) -> torch.Tensor:
    return torch.arange(int(n), dtype=x0.dtype, device=x0.device)


def scaler(x0: torch.Tensor, k, n: int) -> torch.Tensor:
    """Scales f_i = 1 - sigmoid(k (i - x0)) = sigmoid(k (x0 - i)) of units i = 0..n-1.

    ``x0`` (M,) or a scalar tensor, ``k`` a number or a tensor broadcasting with ``x0``.
    Returns (..., n). Finite, with finite gradients, for any x0 and k > 0.
    """
    k = _as(k, x0)
    return torch.sigmoid(k[..., None] * (x0[..., None] - _units(n, x0)))


def scaler_naive(x0: torch.Tensor, k, n: int) -> torch.Tensor:
    """The journal's first formula ``1 - 1 / (1 + exp(-k (i - x0)))`` (to show its NaN
    gradients: ``exp`` overflows to inf and its backward multiplies 0 by inf)."""
    k = _as(k, x0)
    return 1 - 1 / (1 + torch.exp(-k[..., None] * (_units(n, x0) - x0[..., None])))


def softplus(z: torch.Tensor) -> torch.Tensor:
    """log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|)): no overflow for any z."""
    return torch.clamp(z, min=0) + torch.log1p(torch.exp(-z.abs()))


def size_integral(x0: torch.Tensor, k, n) -> torch.Tensor:
    """The size in units, int_0^n sigmoid(k (x0 - t)) dt = (softplus(k x0) - softplus(k (x0 - n))) / k.

    Tends to 0 as x0 -> -inf and to n as x0 -> +inf (the journal's integral); ``n`` may be
    a number or a tensor (per-member capacities). Stable for any x0 and k > 0.
    """
    k = _as(k, x0)
    n = _as(n, x0)
    return (softplus(k * x0) - softplus(k * (x0 - n))) / k


def size_integral_naive(x0: torch.Tensor, k, n) -> torch.Tensor:
    """The same integral as ``(log(1 + exp(k x0)) - log(1 + exp(k (x0 - n)))) / k``:
    inf and NaN gradients once k x0 > 88 (float32)."""
    k = _as(k, x0)
    n = _as(n, x0)
    return (torch.log(1 + torch.exp(k * x0)) - torch.log(1 + torch.exp(k * (x0 - n)))) / k


def size_sum(x0: torch.Tensor, k, n: int) -> torch.Tensor:
    """The size as the sum of the scales of units 0..n-1 (the journal's first penalty)."""
    return scaler(x0, k, n).sum(-1)


def size_penalty(kind: str, x0: torch.Tensor, k, n) -> torch.Tensor:
    """The size penalty of ``kind``: "integral" (stable closed form), "sum" (of the
    scales; ``n`` an int) or "x0" (the size parameter itself: unbounded below)."""
    check_choice("penalty kind", kind, PENALTIES)
    if kind == "integral":
        return size_integral(x0, k, n)
    if kind == "sum":
        return size_sum(x0, k, int(n))
    return x0


# --------------------------------------------------------------------------- members


@dataclass(frozen=True)
class FlexMember:
    """One network of a flexible-size stack.

    Parameters
    ----------
    capacity : units the hidden layer has (the scaler decides how many it uses)
    start : initial size x0 (>= 0)
    penalty : weight of the size penalty per unit of size (0: none; any finite number)
    penalty_kind : "integral" | "sum" | "x0"
    l2 : weight of the L2 term on the two weight matrices (0: none)
    slope : "fixed" (k = GRAY / gray) or "random" (each step a gray zone ~ U[gray_low, gray_high])
    gray : gray-zone width in units of the fixed slope (10: k = 1)
    gray_low, gray_high : range of the random slope's gray zone (journal: 1 to 20)
    size_lr : Adam learning rate of x0 (units per step, about)
    pretrain : steps trained as a static net (all units on) before the size is enabled
    static : a plain network of ``capacity`` units (no scaler, no size penalty)
    seed : initialisation seed; the batch order and random slopes use their own streams
    tag : free label (kept in the results)
    """

    capacity: int
    start: float = 0.0
    penalty: float = 0.0
    penalty_kind: str = "integral"
    l2: float = 0.0
    slope: str = "fixed"
    gray: float = GRAY
    gray_low: float = 1.0
    gray_high: float = 20.0
    size_lr: float = 0.25
    pretrain: int = 0
    static: bool = False
    seed: int = 0
    tag: str = ""

    def __post_init__(self):
        check_positive("capacity", self.capacity, integer=True)
        s = check_number("start", self.start)
        if s < 0:
            raise ValueError(f"start={self.start!r} is not allowed; expected a start size >= 0")
        check_number("penalty", self.penalty)
        check_choice("penalty_kind", self.penalty_kind, PENALTIES)
        if check_number("l2", self.l2) < 0:
            raise ValueError(f"l2={self.l2!r} is not allowed; expected a number >= 0")
        check_choice("slope", self.slope, SLOPES)
        for name in ("gray", "gray_low", "gray_high", "size_lr"):
            if check_number(name, getattr(self, name)) <= 0:
                raise ValueError(f"{name}={getattr(self, name)!r} is not allowed; expected a number > 0 "
                                 "(the slope k = 10 / gray must be > 0)")
        if self.gray_low > self.gray_high:
            raise ValueError(f"gray_low={self.gray_low!r} > gray_high={self.gray_high!r} is not allowed")
        check_positive("pretrain", self.pretrain, integer=True, allow_zero=True)
        check_positive("seed", self.seed, integer=True, allow_zero=True)

    @property
    def k(self) -> float:
        """The fixed slope (the random slope's nominal one: gray zone ``gray``)."""
        return GRAY / self.gray


# --------------------------------------------------------------------------- the stacked model


def member_tensors(members: Sequence[FlexMember], device) -> dict:
    """Per-member constants of a stack as (M,) tensors."""
    def t(vals, dtype=torch.float32):
        return torch.tensor(list(vals), dtype=dtype, device=device)
    return {
        "cap": t(m.capacity for m in members), "k": t(m.k for m in members),
        "penalty": t(m.penalty for m in members), "l2": t(m.l2 for m in members),
        "size_lr": t(m.size_lr for m in members), "pretrain": t(m.pretrain for m in members),
        "static": t((m.static for m in members), torch.bool),
        "random": t((m.slope == "random" for m in members), torch.bool),
        "lo": t(m.gray_low for m in members), "hi": t(m.gray_high for m in members),
    }


def effective_params(params: Sequence[torch.Tensor], f: torch.Tensor) -> list[torch.Tensor]:
    """[W1, b1, Wout, bout] with the hidden units scaled by ``f`` (M, w): scaling unit i's
    output is scaling row i of Wout, so the family's own :func:`overparam.models.forward`
    runs the flexible net."""
    W1, b1, Wout, bout = params[:4]
    return [W1, b1, f[..., None] * Wout, bout]


def scales(u: torch.Tensor, c: dict, width: int, step: int, k: torch.Tensor | None = None) -> torch.Tensor:
    """Every member's unit scales (M, width) at ``step``: static members and members still
    pre-training use all their units (f = 1); the others f = sigmoid(k (x0 - i))."""
    x0 = u * c["size_lr"]
    f = scaler(x0, c["k"] if k is None else k, width)
    on = c["static"] | (c["pretrain"] > step)
    return torch.where(on[:, None], torch.ones_like(f), f)


@dataclass
class FlexResult:
    """What :func:`train_flexible` measured, one row per member (arrays over members M).

    Attributes
    ----------
    members : the FlexMember list
    steps : optimizer steps
    x0 : (T + 1, M) the size parameter at steps 0..T
    size : (T + 1, M) the size in units, int_0^capacity f (nominal slope); the capacity for
        static members and while pre-training
    loss : (T, M) batch data loss of each step
    grad : (T, M) d(total loss) / d x0 at each step (0 before the size is enabled)
    train_acc, test_acc, train_loss, test_loss : (M,) at the end
    w_out0, w_out : lists (M) of row norms |Wout[i]| (capacity,) at the start and at the end
    f_end : list (M) of the scales (capacity,) at the end
    params : final stacked parameters [W1, b1, Wout, bout, u]
    diverged : (M,) bool
    """

    members: list
    steps: int
    x0: np.ndarray
    size: np.ndarray
    loss: np.ndarray
    grad: np.ndarray
    train_acc: np.ndarray
    test_acc: np.ndarray
    train_loss: np.ndarray
    test_loss: np.ndarray
    w_out0: np.ndarray
    w_out: np.ndarray
    f_end: np.ndarray
    params: list = field(repr=False, default_factory=list)
    diverged: np.ndarray | None = None

    def select(self, pred) -> np.ndarray:
        """Indices of the members for which ``pred(member)`` is true."""
        return np.array([i for i, m in enumerate(self.members) if pred(m)], dtype=int)

    def max_step(self) -> np.ndarray:
        """(M,) the largest |x0 change| of one step, in units of the member's size_lr."""
        lr = np.array([m.size_lr for m in self.members])
        return np.abs(np.diff(self.x0, axis=0)).max(0) / lr


def _data_loss(arch, params, X, y, idx, width_scales):
    logits = forward(arch, effective_params(params, width_scales), X[idx], class_major=True)
    return F.cross_entropy(logits, y[idx], reduction="none").mean(1)


@torch.no_grad()
def _evaluate(params, X, y, f, chunk: int = 2000):
    M = params[0].shape[0]
    loss, correct = torch.zeros(M, device=X.device), torch.zeros(M, device=X.device)
    ps = effective_params(params, f)
    arch = Arch("mlp", (params[0].shape[-1],), X.shape[1], int(params[3].shape[-1]))
    for a in range(0, len(X), chunk):
        lg = forward(arch, ps, X[a:a + chunk])
        yy = y[a:a + chunk].expand(M, -1)
        loss += F.cross_entropy(lg.transpose(1, 2), yy, reduction="none").sum(1)
        correct += (lg.argmax(-1) == yy).sum(1)
    return (loss / len(X)).cpu().numpy(), (correct / len(X)).cpu().numpy()


def train_flexible(members: Sequence[FlexMember], data, *, steps: int, lr: float = 3e-3,
                   batch_size: int = 100, device: torch.device | str = "cpu",
                   label: str = "flexible") -> FlexResult:
    """Train flexible (and static) one-hidden-layer MLPs as one stack through ``fit``.

    Parameters
    ----------
    members : FlexMember list (any capacities: padded to the widest, masked)
    data : object with X_train, y_train, X_test, y_test tensors (e.g. engine.sweep.TrainData)
    steps : optimizer steps (pre-training steps included)
    lr : Adam learning rate of the weights; x0 has its member's ``size_lr`` (x0 = size_lr x u
        with u trained at rate 1: Adam is invariant to a constant scale of a gradient, so
        this is Adam on x0 at rate size_lr, per member)
    batch_size : each member draws its own shuffled mini-batches

    The data loss is each member's cross-entropy; ``penalties=`` adds penalty x size
    (the member's penalty kind, over its own capacity) and l2 x (|W1|^2 + |Wout|^2).

    Introduced in: Chapter 5
    """
    members = list(members)
    if not members:
        raise ValueError("members must be a non-empty list of FlexMember")
    check_positive("steps", steps, integer=True)
    check_positive("lr", lr)
    check_positive("batch_size", batch_size, integer=True)
    device = torch.device(device)
    X, y = data.X_train.to(device), data.y_train.to(device)
    d, C = X.shape[1], int(max(int(data.y_train.max()), int(data.y_test.max())) + 1)
    st = init_stack([Arch("mlp", (m.capacity,), d, C) for m in members], [m.seed for m in members], device)
    c = member_tensors(members, device)
    width = st.arch.widths[0]
    u = (torch.tensor([m.start for m in members], dtype=torch.float32, device=device) / c["size_lr"])
    params = [p.requires_grad_(True) for p in st.params] + [u.requires_grad_(True)]
    masks = list(st.masks) + [None] if any(m is not None for m in st.masks) else None
    w_out0 = params[2].detach().norm(dim=-1).cpu().numpy()
    gens = [generator(m.seed, "flexible/order") for m in members]
    kgens = [generator(m.seed, "flexible/slope") for m in members]
    it = per_member_batches(len(X), batch_size, gens, device)

    def batches(step):
        k = c["k"]
        if bool(c["random"].any()):
            r = torch.stack([torch.rand((), generator=g) for g in kgens]).to(device)
            gray = c["lo"] + (c["hi"] - c["lo"]) * r
            k = torch.where(c["random"], GRAY / gray, k)
        return next(it), k, step

    def loss(ps, batch):
        idx, k, step = batch
        return _data_loss(st.arch, ps, X, y, idx, scales(ps[4], c, width, step, k))

    state = {"k": c["k"], "step": 0}   # the slope and step of the step being taken

    def batches_tracked(step):
        b = batches(step)
        state["k"], state["step"] = b[1], step
        return b

    kinds = {kind: torch.tensor([m.penalty_kind == kind for m in members], device=device)
             for kind in sorted({m.penalty_kind for m in members})}

    def size_pen(ps):
        x0 = ps[4] * c["size_lr"]
        on = ~c["static"] & (c["pretrain"] <= state["step"])
        pen = torch.zeros_like(x0)
        for kind, sel in kinds.items():
            n = width if kind == "sum" else c["cap"]
            pen = torch.where(sel, size_penalty(kind, x0, state["k"], n), pen)
        return torch.where(on, c["penalty"] * pen, torch.zeros_like(pen))

    def l2_pen(ps):
        return c["l2"] * (ps[0].pow(2).sum((1, 2)) + ps[2].pow(2).sum((1, 2)))

    xs, gs, ls = [u.detach() * c["size_lr"]], [], []

    def record(s):
        if s.step > 0:
            xs.append(s.params[4].detach() * c["size_lr"])
            g = s.params[4].grad
            gs.append(torch.zeros_like(u) if g is None else g.detach() / c["size_lr"])
            ls.append(s.loss)

    opt = make_optimizer([{"params": params[:4], "lr": lr}, {"params": [params[4]], "lr": 1.0}], "adam", lr,
                         impl="foreach")
    res = fit(params, loss, batches_tracked, opt, steps, grad_masks=masks,
              penalties=(size_pen, l2_pen), callbacks=(record,), label=label)
    p = res.params
    exists = torch.arange(width, device=device)[None, :] < c["cap"][:, None]
    f_end = scales(p[4], c, width, steps) * exists  # units beyond a capacity do not exist
    tr_loss, tr_acc = _evaluate(p, X, y, f_end)
    te_loss, te_acc = _evaluate(p, data.X_test.to(device), data.y_test.to(device), f_end)
    x0 = torch.stack(xs)
    size = size_integral(x0, c["k"], c["cap"])
    pre = torch.arange(steps + 1, device=device)[:, None] <= c["pretrain"][None, :]
    size = torch.where(c["static"][None, :] | (pre & (c["pretrain"] > 0)), c["cap"], size)
    if res.diverged.any():
        log.info(f"{label}: {int(res.diverged.sum())} member(s) diverged (frozen by the NaN guard)")
    return FlexResult(members, steps, x0.cpu().numpy(), size.cpu().numpy(),
                      loss=torch.stack(ls).cpu().numpy(), grad=torch.stack(gs).cpu().numpy(),
                      train_acc=tr_acc, test_acc=te_acc, train_loss=tr_loss, test_loss=te_loss,
                      w_out0=_cut(w_out0, members), w_out=_cut(p[2].norm(dim=-1).cpu().numpy(), members),
                      f_end=_cut(f_end.cpu().numpy(), members), params=p, diverged=res.diverged)


def _cut(a: np.ndarray, members) -> list:
    return [a[i, :m.capacity].copy() for i, m in enumerate(members)]


def merge(results: Sequence[FlexResult]) -> FlexResult:
    """Several results of the same number of steps as one (members concatenated in order;
    ``params`` is dropped: the stacks have different widths)."""
    if len({r.steps for r in results}) != 1:
        raise ValueError("merge needs results of the same number of steps")
    cat = lambda name, ax=0: np.concatenate([getattr(r, name) for r in results], ax)
    lst = lambda name: [a for r in results for a in getattr(r, name)]
    return FlexResult(lst("members"), results[0].steps, cat("x0", 1), cat("size", 1), cat("loss", 1),
                      cat("grad", 1), cat("train_acc"), cat("test_acc"), cat("train_loss"),
                      cat("test_loss"), lst("w_out0"), lst("w_out"), lst("f_end"), [],
                      cat("diverged"))


def train_grouped(members: Sequence[FlexMember], data, *, steps: int, ratio: float = 1.3,
                  small: int = 0, **kw) -> FlexResult:
    """:func:`train_flexible` on groups of members of similar capacity (largest / smallest
    <= ``ratio``, so that padding wastes little), merged back in the members' order.
    Members of capacity <= ``small`` share one stack whatever their ratio: a stack's step
    has a fixed cost that outweighs the padding of narrow members."""
    members = list(members)
    order = sorted(range(len(members)), key=lambda i: members[i].capacity)
    groups, cur = [], [order[0]]
    for i in order[1:]:
        if members[i].capacity > max(ratio * members[cur[0]].capacity, small):
            groups.append(cur)
            cur = []
        cur.append(i)
    groups.append(cur)
    label = kw.pop("label", "flexible")
    parts = [train_flexible([members[i] for i in g], data, steps=steps, label=f"{label} ({j + 1}/{len(groups)})", **kw)
             for j, g in enumerate(groups)]
    res = merge(parts)
    inv = np.argsort(np.concatenate(groups))
    return _take(res, inv)


def _take(r: FlexResult, idx) -> FlexResult:
    idx = np.asarray(idx, int)
    pick = lambda a: [a[i] for i in idx]
    return FlexResult(pick(r.members), r.steps, r.x0[:, idx], r.size[:, idx], r.loss[:, idx], r.grad[:, idx],
                      r.train_acc[idx], r.test_acc[idx], r.train_loss[idx], r.test_loss[idx],
                      pick(r.w_out0), pick(r.w_out), pick(r.f_end), [], r.diverged[idx])
