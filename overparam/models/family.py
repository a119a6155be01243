"""The book's classifier family in one stacked functional form: MLPs of any depth and the
1-d CNN, used by the engine, the pruning tools and the Hessian tools alike.

How to use it
-------------
>>> from overparam.models import Arch, init_stack, forward, to_module
>>> arch = Arch("mlp", widths=(64,), d=40, n_classes=10)     # 40-64-10 ReLU MLP
>>> st = init_stack([arch.with_widths((8,)), arch], seeds=[0, 1])  # widths 8 and 64
>>> logits = forward(st.arch, st.params, X)                 # X (B, 40) or (M, B, 40) -> (M, B, 10)
>>> net = to_module(arch, st.member(1))                    # member 1 as a plain nn.Module

- :class:`Arch` – the architecture of one network: ``arch`` ("mlp" or "cnn"), hidden
  ``widths`` (one per hidden layer, or channels per conv layer), input size ``d`` and
  ``n_classes``. The CNN is ``depth`` x [Conv1d(kernel 5, stride 2, padding 2) + ReLU],
  then a linear read-out of the flattened channels.
- Parameter layout (one network; a stack adds a leading member dimension M):
  MLP ``[W1 (d, w1), b1 (w1), ..., Wout (w_last, C), bout (C)]`` with ``h @ W``;
  CNN ``[K1 (w1, 1, 5), b1 (w1), ..., Wout (w_last * L, C), bout (C)]``.
- :func:`init_member` – one network's initial parameters from its seed (PyTorch's default
  uniform fan-in init of ``nn.Linear`` / ``nn.Conv1d``, drawn from
  ``torch.Generator().manual_seed(seed)``).
- :func:`init_stack` – M networks (same kind and depth, any widths) each initialised at
  its true widths from its own seed, zero-padded to the widest, with 0/1 ``masks``
  (None where nothing is padded): a :class:`Stack`. A padded unit has zero incoming
  and outgoing weights and a masked gradient, so it stays zero and each member trains
  exactly as its standalone network (tested).
- :func:`forward` – the one stacked forward pass; ``class_major=True`` returns
  (M, C, B) logits, which makes cross-entropy several times faster on the CPU.
- :func:`flatten` / :func:`unflatten` and :class:`Flat` – the same networks as flat
  parameter vectors (for the Hessian tools and landscape scans): ``Flat(arch)(theta, X)``.
- :func:`to_module` / :func:`from_module` – one member as a standalone ``nn.Module`` and back.

Introduced in: the engine (chapters 2, 3, 4 and 7 build on it)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..config import check_choice, check_positive

ARCHS = ("mlp", "cnn")
CNN_KERNEL, CNN_STRIDE, CNN_PADDING = 5, 2, 2  # mnist1d's ConvBase uses kernel 5, stride 2


@dataclass(frozen=True)
class Arch:
    """Architecture of one network of the family (every member of a stack shares kind and depth).

    Parameters
    ----------
    arch : "mlp" or "cnn"
    widths : tuple of int
        Hidden widths, one per hidden layer (MLP; empty = a linear model), or channels
        of each conv layer (CNN, at least one layer).
    d : input dimension (sequence length for the CNN)
    n_classes : number of outputs

    Introduced in: the engine
    """

    arch: str = "mlp"
    widths: tuple = (64,)
    d: int = 40
    n_classes: int = 10

    def __post_init__(self):
        check_choice("arch", self.arch, ARCHS)
        if isinstance(self.widths, list):
            object.__setattr__(self, "widths", tuple(self.widths))
        if not isinstance(self.widths, tuple) or (self.arch == "cnn" and not self.widths):
            raise ValueError(f"widths={self.widths!r} is not allowed; expected a tuple of integers > 0")
        check_positive("widths", list(self.widths), integer=True)
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        check_positive("d", self.d, integer=True)
        check_positive("n_classes", self.n_classes, integer=True)

    @property
    def depth(self) -> int:
        return len(self.widths)

    def with_widths(self, widths: Sequence[int]) -> "Arch":
        """The same architecture with other hidden widths."""
        return replace(self, widths=tuple(widths))

    def lengths(self) -> list[int]:
        """CNN: sequence length before the first and after each conv layer."""
        out = [self.d]
        for _ in self.widths:
            out.append((out[-1] + 2 * CNN_PADDING - CNN_KERNEL) // CNN_STRIDE + 1)
        return out

    def shapes(self) -> list[tuple]:
        """Shapes of one network's parameters, in layout order."""
        out = []
        if self.arch == "mlp":
            dims = [self.d, *self.widths, self.n_classes]
            for a, b in zip(dims[:-1], dims[1:]):
                out += [(a, b), (b,)]
            return out
        c_in = 1
        for w in self.widths:
            out += [(w, c_in, CNN_KERNEL), (w,)]
            c_in = w
        return out + [(self.widths[-1] * self.lengths()[-1], self.n_classes), (self.n_classes,)]

    @property
    def n_params(self) -> int:
        return sum(math.prod(s) for s in self.shapes())

    def n_weights(self) -> int:
        """Number of weights (biases excluded) of one network."""
        return sum(math.prod(s) for s in self.shapes()[0::2])

    def flops_per_example(self) -> float:
        """Forward multiply-adds x 2 per example."""
        if self.arch == "mlp":
            return 2.0 * sum(math.prod(s) for s in self.shapes()[0::2])
        flops, c_in = 0.0, 1
        for w, L in zip(self.widths, self.lengths()[1:]):
            flops += 2.0 * L * w * c_in * CNN_KERNEL
            c_in = w
        return flops + 2.0 * math.prod(self.shapes()[-2])


def _fan_in(shape: tuple) -> int:
    """Fan-in of a weight in the layout (MLP/read-out (fan_in, fan_out); conv (w, c_in, k))."""
    return shape[0] if len(shape) == 2 else shape[1] * shape[2]


def init_member(arch: Arch, seed: int | torch.Generator, dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    """Initial parameters of one network at its true shapes (CPU), drawn from ``seed``.

    Each layer draws its weight, then its bias, from U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
    PyTorch's default for ``nn.Linear`` / ``nn.Conv1d``; linear weights are drawn as
    ``nn.Linear`` stores them, (fan_out, fan_in), and transposed into the ``h @ W`` layout,
    so :func:`to_module` of the result equals a module initialised with that generator.

    Introduced in: the engine
    """
    out = [torch.empty(s, dtype=dtype) for s in arch.shapes()]
    _init_into(out, arch, seed)
    return out


def _init_into(dests: Sequence[torch.Tensor], arch: Arch, seed: int | torch.Generator) -> None:
    """Write one network's initial parameters (:func:`init_member`) into ``dests`` (tensors
    or views at ``arch``'s shapes, any dtype), with no full-size temporary."""
    gen = seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(int(seed))
    shapes = arch.shapes()
    for j in range(0, len(shapes), 2):
        bound = 1 / math.sqrt(_fan_in(shapes[j]))
        if len(shapes[j]) == 2 and dests[j].T.is_contiguous():  # nn.Linear's memory order
            _draw_into(dests[j].T, bound, gen)
        else:
            _draw_into(dests[j], bound, gen, transposed=len(shapes[j]) == 2)
        _draw_into(dests[j + 1], bound, gen)


#: Floats of the buffer a transposed weight is drawn through, a block of rows at a time.
_DRAW_BLOCK = 1 << 16


def _draw_into(dest: torch.Tensor, bound: float, gen: torch.Generator, transposed: bool = False) -> None:
    """Fill ``dest`` with :func:`~overparam.models.stacked.uniform_init`'s values, bit for
    bit: ``rand * 2 - 1`` is ``uniform_(-1, 1)`` exactly (both exact in float32), then the
    same float32 product with ``bound``. ``transposed``: a weight (fan_in, fan_out) drawn in
    (fan_out, fan_in) order, through a cache-sized buffer of rows (the generator yields one
    number per element in order, so drawing by blocks gives the same values)."""
    if not transposed:
        if dest.dtype == torch.float32 and dest.is_contiguous():
            dest.uniform_(-1, 1, generator=gen).mul_(bound)
        else:
            dest.copy_(torch.empty(dest.shape).uniform_(-1, 1, generator=gen).mul_(bound))
        return
    fan_in, fan_out = dest.shape
    rows = max(1, min(fan_out, _DRAW_BLOCK // fan_in))
    buf = torch.empty(rows, fan_in)
    for r in range(0, fan_out, rows):
        blk = buf[:min(rows, fan_out - r)]
        blk.uniform_(-1, 1, generator=gen).mul_(bound)
        dest[:, r:r + len(blk)].copy_(blk.T)


def pad_to(t: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """``t`` zero-padded at the end of every dimension to ``shape``."""
    out = torch.zeros(tuple(shape), dtype=t.dtype, device=t.device)
    out[tuple(slice(0, s) for s in t.shape)] = t
    return out


def widest(archs: Sequence[Arch]) -> Arch:
    """The architecture every member of ``archs`` fits in (per-layer maximum widths)."""
    a0 = archs[0]
    for a in archs:
        if (a.arch, a.depth, a.d, a.n_classes) != (a0.arch, a0.depth, a0.d, a0.n_classes):
            raise ValueError(f"archs must share kind, depth, d and n_classes to be stacked; got {a0} and {a}")
    return a0.with_widths([max(a.widths[i] for a in archs) for i in range(a0.depth)])


@dataclass
class Stack:
    """M networks of one kind and depth, padded to the widest.

    Attributes
    ----------
    arch : Arch – the padded (widest) architecture; ``forward(stack.arch, stack.params, X)``
    archs : list of Arch – each member's true architecture
    params : list of Tensor (M, ...) in the layout of ``arch``
    masks : list (one per tensor) of 0/1 Tensors (M, ...) or None where nothing is padded
    """

    arch: Arch
    archs: list
    params: list
    masks: list

    @property
    def n_members(self) -> int:
        return self.params[0].shape[0]

    def member(self, i: int) -> list[torch.Tensor]:
        """Member ``i``'s parameters at its true shapes (detached copies)."""
        return member_params(self.params, i, self.archs[i])


def init_stack(archs: Arch | Sequence[Arch], seeds: Sequence[int], device: torch.device | str = "cpu",
               *, random_values: bool = False, requires_grad: bool = False,
               dtype: torch.dtype = torch.float32, linear_layout: bool = False) -> Stack:
    """Initialise one network per seed at its true widths, zero-padded to the widest, stacked.

    Parameters
    ----------
    archs : one Arch for every member, or one per member (same kind, depth, d, n_classes)
    seeds : one seed per member (see :func:`init_member`)
    random_values : throw-away N(0, 0.01) values instead (timing probes; no seed is used)
    requires_grad : make the stacked tensors leaves that require gradients
    linear_layout : a stack of one keeps each linear weight (1, fan_in, fan_out) in
        ``nn.Linear``'s memory order, (fan_out, fan_in) row by row (a transposed, non-contiguous
        tensor): drawn straight into place, with no transposing copy, and multiplied as
        ``nn.Linear`` multiplies. Same values; ignored for several members.

    Returns
    -------
    Stack

    Introduced in: the engine
    """
    seeds = list(seeds)
    archs = [archs] * len(seeds) if isinstance(archs, Arch) else list(archs)
    if len(archs) != len(seeds) or not seeds:
        raise ValueError(f"seeds must be non-empty with one per arch; got {len(seeds)} seeds, {len(archs)} archs")
    top = widest(archs)
    shapes = top.shapes()
    M = len(archs)
    # tensors some member does not fill are zero-padded (and masked); the others are written
    # member by member straight into the stack: no per-member tensors, pads or stacking copies
    short = [any(tuple(s) != tuple(a.shapes()[j]) for a in archs) for j, s in enumerate(shapes)]
    params = [(torch.zeros if pad else torch.empty)((M, *s), dtype=dtype) for s, pad in zip(shapes, short)]
    if linear_layout and M == 1:
        params = [torch.empty_strided(p.shape, (p.numel(), 1, p.shape[1]), dtype=dtype)
                  if top.arch == "mlp" and j % 2 == 0 and p.ndim == 3 else p for j, p in enumerate(params)]
    masks = [torch.zeros((M, *s), dtype=dtype) if pad else None for s, pad in zip(shapes, short)]
    for i, (a, seed) in enumerate(zip(archs, seeds)):
        cuts = [tuple(slice(0, n) for n in s) for s in a.shapes()]
        slots = [p[i][c] for p, c in zip(params, cuts)]
        if random_values:
            for slot, s in zip(slots, a.shapes()):
                slot.copy_(torch.randn(s, dtype=dtype) * 0.1)
        else:
            _init_into(slots, a, seed)
        for m, c in zip(masks, cuts):
            if m is not None:
                m[i][c] = 1
    params = [p.to(device) for p in params]
    if requires_grad:
        params = [p.requires_grad_(True) for p in params]
    masks = [None if m is None else m.to(device) for m in masks]
    return Stack(top, archs, params, masks)


def member_params(params: Sequence[torch.Tensor], i: int, arch: Arch) -> list[torch.Tensor]:
    """Member ``i`` of stacked ``params`` cut to its true architecture ``arch`` (copies)."""
    return [p[i][tuple(slice(0, s) for s in shape)].detach().clone(memory_format=torch.contiguous_format)
            for p, shape in zip(params, arch.shapes())]


def forward(arch: Arch, params: Sequence[torch.Tensor], X: torch.Tensor, *,
            class_major: bool = False, inplace: bool = False) -> torch.Tensor:
    """Logits of every network of a stack: the family's one forward pass.

    Parameters
    ----------
    arch : Arch (the stack's padded architecture; only kind and depth are read)
    params : list of (M, ...) tensors in the layout of ``arch``
    X : (M, B, d) per-member inputs, or (B, d) shared by all members
    class_major : return (M, C, B) (contiguous) instead of (M, B, C)
    inplace : ReLU in place on each GEMM's output (no second activation tensor: ~3-6 % of a
        wide net's step measured); for the engine's training and evaluation, not for code
        under ``torch.func`` transforms

    Introduced in: the engine
    """
    M = params[0].shape[0]
    if X.ndim == 2:
        X = X.expand(M, *X.shape)
    relu = torch.relu_ if inplace else torch.relu
    if arch.arch == "mlp" and arch.depth == 1:
        # One hidden layer: activations feature-major, (M, width, B), each layer W^T @ h^T.
        # The backward then forms the weight gradients as GEMMs with the batch as inner
        # dimension and a wide output, instead of h^T @ g with a narrow output (10
        # classes), which CPU BLAS runs several times slower (measured per training step:
        # 2.8x at width 1024, 1.5x at 64, equal at 8). The weight gradients come out
        # transposed; :func:`overparam.engine.loop.fit` makes them contiguous. For deeper
        # nets (LeNet-300-100 at batch 60) the batch-major form below measured faster.
        h = relu(torch.baddbmm(params[1][:, :, None], params[0].transpose(1, 2), X.transpose(1, 2)))
        out = torch.baddbmm(params[-1][:, :, None], params[-2].transpose(1, 2), h)  # (M, C, B)
        return out if class_major else out.transpose(1, 2)
    if arch.arch == "mlp":
        h = X
        for i in range(arch.depth):
            h = relu(torch.baddbmm(params[2 * i + 1][:, None, :], h, params[2 * i]))
    else:
        B = X.shape[1]
        h = X.permute(1, 0, 2)  # (B, M, L): member-major channels, grouped convolutions
        for i in range(arch.depth):
            K, b = params[2 * i], params[2 * i + 1]
            h = torch.relu(F.conv1d(h, K.reshape(-1, K.shape[2], K.shape[3]), b.reshape(-1),
                                    stride=CNN_STRIDE, padding=CNN_PADDING, groups=M))
        h = h.reshape(B, M, -1).permute(1, 0, 2)
    out = torch.baddbmm(params[-1][:, None, :], h, params[-2])
    # class-major: a small contiguous copy keeps the gradient of h contiguous (fast ReLU backward)
    return out.transpose(1, 2).contiguous() if class_major else out


def forward_one(arch: Arch, params: Sequence[torch.Tensor], X: torch.Tensor) -> torch.Tensor:
    """Logits (B, C) of ONE network (parameters without the member dimension); works
    under ``torch.func.vmap`` and for any floating dtype."""
    if arch.arch == "mlp":
        h = X
        for i in range(arch.depth):
            h = torch.relu(h @ params[2 * i] + params[2 * i + 1])
        return h @ params[-2] + params[-1]
    h = X[..., None, :]
    for i in range(arch.depth):
        h = torch.relu(F.conv1d(h, params[2 * i], params[2 * i + 1], stride=CNN_STRIDE, padding=CNN_PADDING))
    return h.flatten(-2) @ params[-2] + params[-1]


# --------------------------------------------------------------------------- flat vectors


def flatten(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """Stacked parameters (list of (M, ...)) as one (M, P) matrix of flat vectors."""
    return torch.cat([p.reshape(p.shape[0], -1) for p in params], 1)


def unflatten(arch: Arch, theta: torch.Tensor) -> list[torch.Tensor]:
    """Flat vectors (..., P) as parameter tensors (..., *shape) in the layout of ``arch`` (views)."""
    shapes = arch.shapes()
    sizes = [math.prod(s) for s in shapes]
    if theta.shape[-1] != sum(sizes):
        raise ValueError(f"theta has {theta.shape[-1]} entries per network; {arch} has {sum(sizes)}")
    batch = theta.shape[:-1]
    return [t.reshape(*batch, *s) for t, s in zip(torch.split(theta, sizes, -1), shapes)]


class Flat:
    """A network of the family as a function of one flat parameter vector.

    ``Flat(arch)(theta, X)``: ``theta`` (P,) and ``X`` (n, d) give logits (n, C); ``theta``
    (R, P) gives (R, n, C) (X shared or (R, n, d)). Works under ``torch.func`` transforms
    (the Hessian tools use it) and in any floating dtype.

    Introduced in: the engine (replaces the Hessian tools' own flat MLP)
    """

    def __init__(self, arch: Arch):
        self.arch = arch
        self.n_params = arch.n_params

    def __call__(self, theta: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
        ps = unflatten(self.arch, theta)
        if theta.ndim == 1:
            return forward_one(self.arch, ps, X)
        return forward(self.arch, ps, X)

    def init(self, generator: torch.Generator | None = None, device: torch.device | str = "cpu",
             batch_shape: tuple[int, ...] = (), dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """He-normal weights ``N(0, 2/fan_in)`` and zero biases, shape (*batch_shape, P).

        Linear weights are drawn in ``nn.Linear``'s (fan_out, fan_in) order, then transposed.
        """
        parts = []
        for s in self.arch.shapes():
            n = math.prod(s)
            if len(s) == 1:
                parts.append(torch.zeros(*batch_shape, n, dtype=dtype))
                continue
            draw = (s[1], s[0]) if len(s) == 2 else s
            w = torch.randn(*batch_shape, n, generator=generator, dtype=dtype) * math.sqrt(2.0 / _fan_in(s))
            if len(s) == 2:
                w = w.reshape(*batch_shape, *draw).transpose(-1, -2).reshape(*batch_shape, n)
            parts.append(w)
        return torch.cat(parts, -1).to(device)

    def __repr__(self) -> str:
        return f"Flat({self.arch}, n_params={self.n_params})"


# --------------------------------------------------------------------------- nn.Module export


class ConvNet(nn.Module):
    """The family's 1-d CNN as an ``nn.Module``: (B, d) -> (B, C) logits."""

    def __init__(self, arch: Arch):
        super().__init__()
        convs, c_in = [], 1
        for w in arch.widths:
            convs.append(nn.Conv1d(c_in, w, CNN_KERNEL, stride=CNN_STRIDE, padding=CNN_PADDING))
            c_in = w
        self.convs = nn.ModuleList(convs)
        self.out = nn.Linear(arch.widths[-1] * arch.lengths()[-1], arch.n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x[:, None, :]
        for conv in self.convs:
            h = F.relu(conv(h))
        return self.out(h.flatten(1))


def to_module(arch: Arch, params: Sequence[torch.Tensor], device: torch.device | str | None = None) -> nn.Module:
    """One network (parameters at ``arch``'s shapes, no member dimension) as an ``nn.Module``.

    MLP: ``nn.Sequential(Linear, ReLU, ..., Linear)``; CNN: :class:`ConvNet`. The values
    are copied; ``from_module`` gives them back in the family's layout.

    Introduced in: the engine
    """
    params = [p.detach() for p in params]
    if [tuple(p.shape) for p in params] != arch.shapes():
        raise ValueError(f"params have shapes {[tuple(p.shape) for p in params]}; {arch} needs {arch.shapes()}")
    if arch.arch == "mlp":
        dims = [arch.d, *arch.widths, arch.n_classes]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(dims) - 2:
                layers.append(nn.ReLU())
        model = nn.Sequential(*layers)
        linears = [m for m in model if isinstance(m, nn.Linear)]
    else:
        model = ConvNet(arch)
        linears = [*model.convs, model.out]
    with torch.no_grad():
        for i, lin in enumerate(linears):
            W = params[2 * i]
            lin.weight.copy_(W.T if isinstance(lin, nn.Linear) else W)
            lin.bias.copy_(params[2 * i + 1])
    model = model.to(dtype=params[0].dtype)
    return model.to(device) if device is not None else model.to(params[0].device)


def from_module(arch: Arch, model: nn.Module) -> list[torch.Tensor]:
    """Parameters of a :func:`to_module` network in the family's layout (detached CPU copies)."""
    linears = ([m for m in model if isinstance(m, nn.Linear)] if arch.arch == "mlp"
               else [*model.convs, model.out])
    out = []
    for lin in linears:
        W = lin.weight.detach()
        out += [(W.T if isinstance(lin, nn.Linear) else W).contiguous().cpu().clone(),
                lin.bias.detach().cpu().clone()]
    return out
