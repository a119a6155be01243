"""Models of the book, as ordinary ``nn.Module``s and as stacks of many members.

A *stacked* model holds the parameters of ``n_models`` independent networks along a
leading dimension and runs them as one batched computation (einsum / batched matmul),
so hundreds of trainings per grid point cost about as much as one. Members of
different sizes share one stack by zero-padding: a padded ReLU unit or max-pooled filter
whose incoming and outgoing weights are zero has zero output and zero gradient, so it
stays zero under SGD, momentum and Adam, and the member trains exactly as the smaller
network would (tested in ``tests/test_models.py``).

Chapter 1 models follow the source repository's scripts (rom1mouret/exploration).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn
import torch.nn.functional as F

from ..config import check_positive

# --------------------------------------------------------------------------- helpers


def uniform_init(shape, bound, generator: torch.Generator | None = None, device="cpu") -> torch.Tensor:
    """U(-bound, bound) samples, as nn.Linear / nn.Conv draw their initial values.

    ``bound`` is a number or a tensor broadcasting against ``shape`` (one bound per member).
    Introduced in: Chapter 1
    """
    return (torch.rand(shape, generator=generator, device=device) * 2 - 1) * bound


def _linear_init(n_models, fan_in, fan_out, generator, device):
    """Weights (n_models, fan_out, fan_in) and biases drawn as nn.Linear draws them.

    ``fan_in`` may be a tensor of shape (n_models,) for members of different widths:
    each member gets the bound 1/sqrt(its own fan_in).
    """
    fan_in_t = torch.as_tensor(fan_in, dtype=torch.float32, device=device).reshape(-1, 1, 1)
    bound = fan_in_t.expand(n_models, 1, 1).rsqrt()
    max_in = int(torch.as_tensor(fan_in).max())
    W = uniform_init((n_models, fan_out, max_in), bound, generator, device)
    b = uniform_init((n_models, fan_out), bound[:, :, 0], generator, device)
    return W, b


def _check_sizes(name: str, sizes: Sequence[int]) -> torch.Tensor:
    check_positive(name, list(sizes), integer=True)
    return torch.as_tensor(list(sizes))


class Stacked:
    """Base of stacked models: a dict of parameter tensors with leading dim ``n_models``.

    Subclasses set ``params`` (name -> tensor), ``trainable`` (names that get gradients)
    and implement :meth:`forward`. Introduced in: Chapter 1
    """

    params: dict[str, torch.Tensor]
    trainable: tuple[str, ...]
    sizes: torch.Tensor  # (n_models,) the size knob of each member (filters, width)

    @property
    def n_models(self) -> int:
        return next(iter(self.params.values())).shape[0]

    def trained_parameters(self) -> list[torch.Tensor]:
        """The tensors an optimizer updates (each with leading dim n_models)."""
        return [self.params[k] for k in self.trainable]

    def select(self, start: int, stop: int) -> "Stacked":
        """Members ``start:stop`` as a stacked model of the same class (views, no copies)."""
        sub = object.__new__(type(self))
        sub.__dict__.update(self.__dict__)
        sub.params = {k: v[start:stop] for k, v in self.params.items()}
        sub.sizes = self.sizes[start:stop]
        sub.n_trained = self.n_trained[start:stop]
        return sub

    def requires_grad_(self) -> "Stacked":
        for k in self.trainable:
            self.params[k].requires_grad_(True)
        return self

    def forward(self, X: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, X: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward(X, z)


# --------------------------------------------------------------------------- Chapter 1: CNNs


def conv_max(X: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Max over positions of a valid 1-d convolution, for stacked kernels.

    Parameters
    ----------
    X : Tensor, shape (n_models, batch, length) or (batch, length) shared by all members
    kernels : Tensor, shape (n_models, n_filters, k)

    Returns
    -------
    Tensor, shape (n_models, batch, n_filters)

    Introduced in: Chapter 1
    """
    M, n_f, k = kernels.shape
    windows = X.unfold(-1, k, 1)  # (..., batch, positions, k)
    B, P = windows.shape[-3], windows.shape[-2]
    if X.dim() == 2:  # one matmul against every member's filters: (M*F, k) @ (k, B*P), max over
        # the contiguous last axis (positions)
        conved = kernels.reshape(M * n_f, k) @ windows.reshape(B * P, k).T
        return conved.reshape(M, n_f, B, P).amax(-1).transpose(1, 2)
    conved = torch.bmm(windows.reshape(M, B * P, k), kernels.transpose(1, 2))
    return conved.reshape(M, B, P, n_f).amax(2)


class NaiveCNN(nn.Module):
    """Conv1d(1 -> n_filters, kernel 4, no bias), max over positions, Linear(n_filters, 1).

    With ``random_conv=True`` the kernels are frozen (the source's RandomConv).
    Introduced in: Chapter 1
    """

    def __init__(self, n_filters: int, random_conv: bool = False):
        super().__init__()
        check_positive("n_filters", n_filters, integer=True)
        self.conv = nn.Conv1d(1, n_filters, kernel_size=4, bias=False)
        self.conv.weight.requires_grad_(not random_conv)
        self.decision = nn.Linear(n_filters, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, shape (batch,), for x of shape (batch, length)."""
        return self.decision(self.conv(x[:, None]).amax(-1))[:, 0]


class StackedCNN(Stacked):
    """``n_models`` NaiveCNN / RandomConv members, one per entry of ``n_filters``.

    Members with fewer filters than the largest are zero-padded (exact, see module doc).

    Parameters
    ----------
    n_filters : sequence of int, length n_models
    random_conv : bool
        Freeze the kernels (RandomConv): only the decision layer is trained.

    Introduced in: Chapter 1
    """

    def __init__(self, n_filters: Sequence[int], random_conv: bool = False, *,
                 generator: torch.Generator | None = None, device="cpu"):
        self.sizes = _check_sizes("n_filters", n_filters)
        M, F_max = len(self.sizes), int(self.sizes.max())
        # Conv1d default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = 1 * 4.
        kernels = uniform_init((M, F_max, 4), 0.5, generator, device)
        W, b = _linear_init(M, self.sizes, 1, generator, device)
        live = (torch.arange(F_max, device=device)[None] < self.sizes.to(device)[:, None]).float()
        self.params = {"kernels": kernels * live[:, :, None], "w": W[:, 0] * live, "b": b[:, 0]}
        self.random_conv = random_conv
        self.trainable = ("w", "b") if random_conv else ("kernels", "w", "b")
        self.n_trained = (self.sizes + 1 if random_conv else 5 * self.sizes + 1)

    def forward(self, X, z=None):
        """Logits (n_models, batch) for X of shape (n_models, batch, length) or (batch, length)."""
        h = conv_max(X, self.params["kernels"])
        return torch.einsum("mbf,mf->mb", h, self.params["w"]) + self.params["b"][:, None]

    def member(self, i: int) -> NaiveCNN:
        """Member ``i`` as a standalone NaiveCNN (same parameter values)."""
        f = int(self.sizes[i])
        net = NaiveCNN(f, self.random_conv)
        with torch.no_grad():
            net.conv.weight.copy_(self.params["kernels"][i, :f, None].detach().cpu())
            net.decision.weight.copy_(self.params["w"][i, None, :f].detach().cpu())
            net.decision.bias.copy_(self.params["b"][i, None].detach().cpu())
        return net


class HyperCNN(nn.Module):
    """The source's HyperNetwork: an MLP 2 -> 4 -> 4 (LeakyReLU 0.2) maps a 2-d seed to a kernel.

    The generated network is one kernel of 4 weights plus one trained bias (5 parameters):
    logit = max_p (kernel . x[p:p+4]) + bias. Training draws a fresh seed z ~ N(0, I_2)
    each step; evaluation uses z = 0. Introduced in: Chapter 1
    """

    def __init__(self):
        super().__init__()
        self.maker = nn.Sequential(nn.Linear(2, 4), nn.LeakyReLU(0.2), nn.Linear(4, 4))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Logits (batch,) for x (batch, length) and seed z (2,)."""
        kernel = self.maker(z[None])  # (1, 4)
        return F.conv1d(x[:, None], kernel[:, None]).amax(-1)[:, 0] + self.bias


class StackedHyperCNN(Stacked):
    """``n_models`` HyperCNN members trained at once; each member draws its own seeds.

    Introduced in: Chapter 1
    """

    n_generated = 5  # parameters of the generated network: 4 kernel weights + 1 bias

    def __init__(self, n_models: int, *, generator: torch.Generator | None = None, device="cpu"):
        check_positive("n_models", n_models, integer=True)
        self.sizes = torch.ones(n_models, dtype=torch.long)
        W1, b1 = _linear_init(n_models, 2, 4, generator, device)
        W2, b2 = _linear_init(n_models, 4, 4, generator, device)
        self.params = {"W1": W1, "b1": b1, "W2": W2, "b2": b2,
                       "bias": torch.zeros(n_models, device=device)}
        self.trainable = tuple(self.params)
        self.n_trained = torch.full((n_models,), sum(p[0].numel() for p in self.params.values()))

    def kernels(self, z: torch.Tensor) -> torch.Tensor:
        """Generated kernels (n_models, 1, 4) for seeds z of shape (n_models, 2)."""
        p = self.params
        h = F.leaky_relu(torch.einsum("mhi,mi->mh", p["W1"], z) + p["b1"], 0.2)
        return (torch.einsum("moh,mh->mo", p["W2"], h) + p["b2"])[:, None]

    def forward(self, X, z=None):
        """Logits (n_models, batch); ``z`` (n_models, 2) defaults to zeros (evaluation)."""
        if z is None:
            z = torch.zeros(self.n_models, 2, device=self.params["W1"].device)
        return conv_max(X, self.kernels(z))[..., 0] + self.params["bias"][:, None]


# --------------------------------------------------------------------------- Chapter 1: AND nets


class BoolNet(nn.Module):
    """Linear(2, width) -> ReLU -> Linear(width, 1): the source's NaiveBoolNet.

    Introduced in: Chapter 1
    """

    def __init__(self, width: int):
        super().__init__()
        check_positive("width", width, integer=True)
        self.net = nn.Sequential(nn.Linear(2, width), nn.ReLU(), nn.Linear(width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[:, 0]


class StackedMLP1(Stacked):
    """``n_models`` one-hidden-layer ReLU MLPs d -> width_i -> 1, zero-padded to the widest.

    Introduced in: Chapter 1
    """

    def __init__(self, widths: Sequence[int], d_in: int = 2, *,
                 generator: torch.Generator | None = None, device="cpu"):
        self.sizes = _check_sizes("width", widths)
        M, H = len(self.sizes), int(self.sizes.max())
        W1, b1 = _linear_init(M, d_in, H, generator, device)
        W2, b2 = _linear_init(M, self.sizes, 1, generator, device)
        live = (torch.arange(H, device=device)[None] < self.sizes.to(device)[:, None]).float()
        self.params = {"W1": W1 * live[:, :, None], "b1": b1 * live, "w2": W2[:, 0] * live, "b2": b2[:, 0]}
        self.trainable = tuple(self.params)
        self.n_trained = (d_in + 2) * self.sizes + 1

    act = staticmethod(torch.relu)   # the hidden activation (a subclass may swap it)

    def forward(self, X, z=None):
        """Logits (n_models, batch) for X of shape (n_models, batch, d) or (batch, d)."""
        p = self.params
        eq = "bi,mhi->mbh" if X.dim() == 2 else "mbi,mhi->mbh"
        h = self.act(torch.einsum(eq, X, p["W1"]) + p["b1"][:, None])
        return torch.einsum("mbh,mh->mb", h, p["w2"]) + p["b2"][:, None]

    def member(self, i: int) -> BoolNet:
        """Member ``i`` as a standalone BoolNet (same parameter values)."""
        w = int(self.sizes[i])
        net = BoolNet(w)
        p = {k: v.detach().cpu() for k, v in self.params.items()}
        with torch.no_grad():
            net.net[0].weight.copy_(p["W1"][i, :w])
            net.net[0].bias.copy_(p["b1"][i, :w])
            net.net[2].weight.copy_(p["w2"][i, None, :w])
            net.net[2].bias.copy_(p["b2"][i, None])
        return net


class HyperBoolNet(nn.Module):
    """The source's HyperBoolNet: two MLPs 2 -> 3 -> (4 | 2) generate a width-2 AND net.

    Generated net: relu(x @ L1) @ L2 + bias with L1 (2, 2), L2 (2, 1): 7 parameters.
    Introduced in: Chapter 1
    """

    def __init__(self):
        super().__init__()
        self.maker1 = nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(0.2), nn.Linear(3, 4))
        self.maker2 = nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(0.2), nn.Linear(3, 2))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        L1 = self.maker1(z[None]).reshape(2, 2)
        L2 = self.maker2(z[None]).reshape(2, 1)
        return (torch.relu(x @ L1) @ L2)[:, 0] + self.bias


class StackedHyperBoolNet(Stacked):
    """``n_models`` HyperBoolNet members trained at once. Introduced in: Chapter 1"""

    n_generated = 7  # L1 (4) + L2 (2) + bias (1)

    def __init__(self, n_models: int, *, generator: torch.Generator | None = None, device="cpu"):
        check_positive("n_models", n_models, integer=True)
        self.sizes = torch.full((n_models,), 2, dtype=torch.long)
        A1, a1 = _linear_init(n_models, 2, 3, generator, device)
        A2, a2 = _linear_init(n_models, 3, 4, generator, device)
        B1, c1 = _linear_init(n_models, 2, 3, generator, device)
        B2, c2 = _linear_init(n_models, 3, 2, generator, device)
        self.params = {"A1": A1, "a1": a1, "A2": A2, "a2": a2, "B1": B1, "c1": c1,
                       "B2": B2, "c2": c2, "bias": torch.zeros(n_models, device=device)}
        self.trainable = tuple(self.params)
        self.n_trained = torch.full((n_models,), sum(p[0].numel() for p in self.params.values()))

    @staticmethod
    def _mlp(W1, b1, W2, b2, z):
        h = F.leaky_relu(torch.einsum("mhi,mi->mh", W1, z) + b1, 0.2)
        return torch.einsum("moh,mh->mo", W2, h) + b2

    def forward(self, X, z=None):
        p = self.params
        if z is None:
            z = torch.zeros(self.n_models, 2, device=p["A1"].device)
        L1 = self._mlp(p["A1"], p["a1"], p["A2"], p["a2"], z).reshape(-1, 2, 2)
        L2 = self._mlp(p["B1"], p["c1"], p["B2"], p["c2"], z)  # (M, 2)
        eq = "bi,mio->mbo" if X.dim() == 2 else "mbi,mio->mbo"
        h = torch.relu(torch.einsum(eq, X, L1))
        return torch.einsum("mbo,mo->mb", h, L2) + p["bias"][:, None]


def handset_and_net(x: torch.Tensor) -> torch.Tensor:
    """The source's hand-set width-2 AND net: -100 relu(-x1) - 100 relu(-x2) + 10 (logits).

    Introduced in: Chapter 1
    """
    return -100 * torch.relu(-x[..., 0]) - 100 * torch.relu(-x[..., 1]) + 10
