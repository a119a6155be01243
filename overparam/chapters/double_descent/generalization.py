"""Chapter 3's generalization probes of the trained width sweep (the lecture's section 3):
functional smoothness (input sensitivity), a sharpness proxy of basin volume (loss rise
under random weight perturbations), and an explicit-regularization arm (weight decay) at
the peak width chosen on the other seeds.

Introduced in: Chapter 3
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ... import config
from ...engine.store import ResultStore
from ...engine.sweep import Member, train_grid
from ...models.family import to_module
from .experiments import WidthSweep, _kw, mnist1d_sets
from .judges import interior_peak
from .profiles import DoubleDescentConfig

SENS_DIRECTIONS = 8   # random unit directions per test input (finite differences)
SENS_EPS = 1e-4       # finite-difference step along a unit direction (inputs are O(1))
SHARP_DRAWS = 4       # random weight perturbations per network


def input_sensitivity(model: torch.nn.Module, X: torch.Tensor, gen: torch.Generator) -> float:
    """Mean over the inputs ``X`` of the Frobenius norm of the input Jacobian of the softmax
    output (Novak et al. 2018's sensitivity), by central finite differences along
    :data:`SENS_DIRECTIONS` random unit directions u: ||J||_F^2 = d E_u ||J u||^2.

    A smoother learned function has a smaller value. Forward passes only, float64.

    Introduced in: Chapter 3
    """
    m = model.double()
    x = X.double()
    d = x.shape[1]
    acc = torch.zeros(len(x), dtype=torch.float64)
    with torch.no_grad():
        for _ in range(SENS_DIRECTIONS):
            u = torch.randn(x.shape, generator=gen, dtype=torch.float64)
            u = u / u.norm(dim=1, keepdim=True)
            diff = F.softmax(m(x + SENS_EPS * u), 1) - F.softmax(m(x - SENS_EPS * u), 1)
            acc += (diff ** 2).sum(1) / (2 * SENS_EPS) ** 2
    return float(torch.sqrt(d * acc / SENS_DIRECTIONS).mean())


def perturbed_loss_rise(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, rel: float,
                        gen: torch.Generator) -> float:
    """Mean rise of the training loss (cross-entropy on ``X``, ``y``) when every parameter
    tensor P is moved by a random direction of norm ``rel`` x ||P|| (:data:`SHARP_DRAWS`
    draws): a sharpness proxy. A network in a wide, flat basin (large basin volume) barely
    changes its loss; one in a sharp minimum loses much. The weights are restored.

    Introduced in: Chapter 3
    """
    params = list(model.parameters())
    orig = [p.detach().clone() for p in params]
    rises = []
    with torch.no_grad():
        base = float(F.cross_entropy(model(X), y))
        for _ in range(SHARP_DRAWS):
            for p, o in zip(params, orig):
                u = torch.randn(o.shape, generator=gen, dtype=o.dtype)
                p.copy_(o + rel * o.norm() * u / u.norm())
            rises.append(float(F.cross_entropy(model(X), y)) - base)
        for p, o in zip(params, orig):
            p.copy_(o)
    return float(np.mean(rises))


def _probe(mod, dat, seed: int, width: int, rel: float) -> tuple[float, float]:
    sens = input_sensitivity(mod, dat.X_test, config.generator(seed, f"sensitivity w={width}"))
    sharp = perturbed_loss_rise(mod.float(), dat.X_train, dat.y_train, rel,
                                config.generator(seed, f"sharpness w={width}"))
    return sens, sharp


# --------------------------------------------------------------------------- weight decay


@dataclass
class WeightDecayArm:
    """Per seed of the width sweep: the width picked as the peak on the *other* seeds' mean
    test-error curve (highest label noise), and the test error there without weight decay
    (from the sweep) and with it (trained here with the same steps).

    Attributes
    ----------
    widths : ndarray (S,) – picked width per seed
    test_err_plain, test_err_decay : ndarray (S,)
    train_err_curve_plain, train_err_curve_decay : ndarray (S, T)
    train_loss_plain, train_loss_decay : ndarray (S,)
    weight_decay : float
    noise : float

    Introduced in: Chapter 3
    """

    widths: np.ndarray
    test_err_plain: np.ndarray
    test_err_decay: np.ndarray
    train_err_curve_plain: np.ndarray
    train_err_curve_decay: np.ndarray
    train_loss_plain: np.ndarray
    train_loss_decay: np.ndarray
    weight_decay: float
    noise: float


def held_out_peaks(test_err: np.ndarray) -> np.ndarray:
    """Per seed of ``test_err`` (S, W): the index of the peak (:func:`~.judges.interior_peak`)
    of the mean curve of the other seeds.

    Introduced in: Chapter 3
    """
    e = np.asarray(test_err, dtype=float)
    return np.array([interior_peak(np.delete(e, s, axis=0).mean(0)) for s in range(len(e))])


def weight_decay_arm(cfg: DoubleDescentConfig, sw, *, device: torch.device | str = "cpu",
                     store: ResultStore | None = None, log: Callable[[str], None] | None = None,
                     **engine) -> WeightDecayArm:
    """Retrain each seed of the sweep's highest noise level at its held-out peak width
    (:func:`held_out_peaks`) with weight decay ``cfg.weight_decay`` (the optimizer's L2
    term), everything else as in the sweep (same data, labels, initialisation, batch order
    and steps).

    Introduced in: Chapter 3
    """
    k = len(sw.noises) - 1
    noise = float(sw.noises[k])
    picks = held_out_peaks(sw.test_err[k])
    seeds = [int(s) for s in sw.seeds]
    datas, index = mnist1d_sets(sw.n_train, [noise], seeds, device)
    members = [Member(int(sw.widths[p]), depth=cfg.depth, seed=s, data=index[(noise, s)],
                      name=f"decay w={int(sw.widths[p])} noise={noise:g} seed={s}")
               for s, p in zip(seeds, picks)]
    tc = dataclasses.replace(cfg.train_config(), weight_decay=cfg.weight_decay)
    r = train_grid(members, datas, tc, store=store, device=device, **_kw(log), **engine)
    rows = np.arange(len(seeds))
    return WeightDecayArm(sw.widths[picks], sw.test_err[k][rows, picks], r.final("test_err"),
                          sw.train_err_curve[k][rows, picks], r.curves["train_err"],
                          sw.train_loss[k][rows, picks], r.final("train_loss"), cfg.weight_decay, noise)


# --------------------------------------------------------------------------- the probes


@dataclass
class GeneralizationProbes:
    """The probes of a trained width sweep at its highest label noise (where the peak is).

    Attributes
    ----------
    sensitivity : ndarray (S, W) – :func:`input_sensitivity` on the test inputs
    sharpness : ndarray (S, W) – :func:`perturbed_loss_rise` on each member's training set
    rel : float – the perturbation's size relative to each parameter tensor's norm
    decay : WeightDecayArm
    noise : float – the label noise of the probed members

    Introduced in: Chapter 3
    """

    sensitivity: np.ndarray
    sharpness: np.ndarray
    rel: float
    decay: WeightDecayArm
    noise: float


def generalization_probes(cfg: DoubleDescentConfig, sw: WidthSweep, *, device: torch.device | str = "cpu",
                          store: ResultStore | None = None, log: Callable[[str], None] | None = None,
                          **engine) -> GeneralizationProbes:
    """Sensitivity and sharpness of every trained member of the width sweep ``sw`` (its
    ``params``) at the highest label noise, and the weight-decay arm (:func:`weight_decay_arm`).

    Introduced in: Chapter 3
    """
    if sw.params is None:
        raise ValueError("the width sweep kept no parameters; run width_sweep(..., keep_params=True)")
    K, S, W = sw.test_err.shape
    k, noise = K - 1, float(sw.noises[-1])
    seeds = [int(s) for s in sw.seeds]
    datas, index = mnist1d_sets(sw.n_train, [noise], seeds)
    sens, sharp = np.full((S, W), np.nan), np.full((S, W), np.nan)
    with config.threads(1):
        for s, j in np.ndindex(S, W):
            mem = Member(int(sw.widths[j]), depth=cfg.depth, arch=sw.arch)
            mod = to_module(mem.spec(datas[0].d, 10), sw.params[(k * S + s) * W + j])
            sens[s, j], sharp[s, j] = _probe(mod, datas[index[(noise, seeds[s])]], seeds[s], int(sw.widths[j]),
                                             cfg.sharp_rel)
    decay = weight_decay_arm(cfg, sw, device=device, store=store, log=log, **engine)
    return GeneralizationProbes(sens, sharp, cfg.sharp_rel, decay, noise)
