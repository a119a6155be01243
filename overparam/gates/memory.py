"""The memory a gated 2-d CNN keeps for its backward pass (see :mod:`overparam.gates`).

The journal's CNNs worked on images (28x28 MNIST and FashionMNIST, 32x32 CIFAR10): blocks
of a 3x3 convolution, a gate per channel and a 2x2 max-pool, then a linear read-out.
:func:`cnn2d_bytes` builds one such network and counts, with :func:`~overparam.gates.saved_bytes`,
the bytes autograd keeps for backward during one forward pass, for the plain network and the
two gates (:func:`~overparam.gates.gate`). Only a forward pass runs: no training.

Introduced in: Chapter 6
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..config import generator
from .units import gate, saved_bytes

MODES = ("plain", "naive", "hand")


def cnn2d_bytes(shape: tuple, channels: int, depth: int, batch: int, mode: str, seed: int = 0,
                device="cpu") -> tuple[int, int]:
    """(bytes autograd saves for backward, bytes of the parameters) of a 2-d CNN on a batch of
    ``shape`` = (C, H, W) images: ``depth`` blocks of conv 3x3 (``channels``, padding 1) ->
    ReLU (``mode="plain"``) or gated ReLU (``"naive"``/``"hand"``) -> 2x2 max-pool, then a
    linear read-out to 10 classes. Parameters and gates are left out of the saved bytes
    (they exist anyway).

    Introduced in: Chapter 6
    """
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not allowed; choose one of: {MODES}")
    dev = torch.device(device)
    g = generator(seed, "gates/memory/cnn2d")
    c_in, h, w = shape
    params, kernels, gates_ = [], [], []
    for _ in range(depth):
        K = (torch.randn(channels, c_in, 3, 3, generator=g) / (3 * c_in ** 0.5)).to(dev).requires_grad_(True)
        b = torch.zeros(channels, device=dev, requires_grad=True)
        kernels.append((K, b))
        gates_.append(torch.ones(1, channels, 1, 1, device=dev, requires_grad=True))
        params += [K, b]
        c_in, h, w = channels, h // 2, w // 2
    W = (torch.randn(c_in * h * w, 10, generator=g) / (c_in * h * w) ** 0.5).to(dev).requires_grad_(True)
    bo = torch.zeros(10, device=dev, requires_grad=True)
    params += [W, bo]
    X = torch.randn(batch, *shape, generator=g).to(dev)

    def run():
        x = X
        for (K, b), gt in zip(kernels, gates_):
            z = F.conv2d(x, K, b, padding=1)
            x = F.max_pool2d(torch.relu(z) if mode == "plain" else gate(z, gt, mode), 2)
        return (x.flatten(1) @ W + bo).square().mean()

    kept = saved_bytes(run, exclude=params + gates_)
    return kept, int(sum(p.numel() * p.element_size() for p in params))
