"""Chapter 1 analyses: the hand-set nets, the "more draws" prediction, where kernels end up.

Source: rom1mouret/exploration (README, ``eval_cnn.py``, ``eval_bool.py``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import integrate
from scipy.stats import norm

from ...config import generator
from ...data import PATTERN_1101, make_and_task
from ...models import conv_max, handset_and_net
from .sweeps import SweepResult, macro_f1, validation_1101

# --------------------------------------------------------------------------- hand-set nets


def handset_and_f1(repeats: int, n_test: int = 5000, seed: int = 0, device="cpu") -> np.ndarray:
    """Macro-F1 of the hand-set width-2 AND net on ``repeats`` fresh test sets.

    Introduced in: Chapter 1
    """
    X, y = make_and_task(n_test, generator=generator(seed, "hand-set AND test", device),
                         device=device, batch_shape=(repeats,))
    return macro_f1(handset_and_net(X) > 0, y).cpu().numpy()


def handset_and_margin() -> float:
    """The hand-set AND net's margin t: it says "positive" iff relu(-x1) + relu(-x2) < t.

    Read off the net itself: its logit at (0, 1) is the bias b and falls by s per unit
    of -x1, so t = b / s (10 / 100 for the source's net).
    """
    logit = lambda x1: float(handset_and_net(torch.tensor([[x1, 1.0]], dtype=torch.float64))[0])
    bias, slope = logit(0.0), logit(0.0) - logit(-1.0)
    return bias / slope


def handset_and_f1_exact() -> float:
    """Macro-F1 of the hand-set AND net on x ~ N(0, I_2), in closed form (infinite test set).

    The net says "positive" iff relu(-x1) + relu(-x2) < t (:func:`handset_and_margin`), so
    it finds every positive (x1, x2 > 0) and errs on negatives near the quadrant's border:
    P(FP) = 2 * P(-t < x1 < 0) * P(x2 > 0) + P(u, v > 0, u + v < t) with u = -x1, v = -x2.
    Then F1(pos) = 2 TP / (2 TP + FP), F1(neg) = 2 TN / (2 TN + FP), TP = 1/4, TN = 3/4 - FP.

    Introduced in: Chapter 1
    """
    t = handset_and_margin()
    band = norm.cdf(0) - norm.cdf(-t)
    corner, _ = integrate.quad(lambda u: norm.pdf(u) * (norm.cdf(t - u) - norm.cdf(0)), 0, t)
    fp = 2 * band * 0.5 + corner
    tp, tn = 0.25, 0.75 - fp
    return float((2 * tp / (2 * tp + fp) + 2 * tn / (2 * tn + fp)) / 2)


def handset_1101_accuracy(n_pairs: int, seed: int = 0, device="cpu") -> float:
    """Accuracy of the hand-set kernel [1, 1, 0, 1] with decision 1 * max - 2 (5 parameters)."""
    X, y = validation_1101(n_pairs, seed, device)
    k = torch.tensor(PATTERN_1101, device=device).reshape(1, 1, 4)
    logits = conv_max(X, k)[0, :, 0] - 2.0
    return float(((logits > 0).float() == y).float().mean())

# --------------------------------------------------------------------------- analyses


def draws_estimate(s1: np.ndarray, sn: np.ndarray, n: int, level: float = 0.95):
    """Measured - predicted success at n filters, with a normal (delta-method) interval.

    The prediction of "n filters = n independent draws" is 1 - (1 - p1)^n from the
    1-filter success rate p1. Rates enter the variance with half a success added on
    each side, so an interval never has zero width.
    Returns ``(measured, predicted, diff, low, high)``.
    """
    s1, sn = np.asarray(s1, float), np.asarray(sn, float)
    p1, pn = s1.mean(), sn.mean()
    pred = 1 - (1 - p1) ** n
    q1 = (s1.sum() + 0.5) / (len(s1) + 1)
    qn = (sn.sum() + 0.5) / (len(sn) + 1)
    var = qn * (1 - qn) / len(sn) + (n * (1 - q1) ** (n - 1)) ** 2 * q1 * (1 - q1) / len(s1)
    half = norm.ppf(0.5 + level / 2) * np.sqrt(var)
    d = pn - pred
    return pn, pred, d, d - half, d + half


def more_draws(result: SweepResult, p1_result: SweepResult | None = None) -> list[dict]:
    """Compare the success rate at n filters with 1 - (1 - p1)^n from the 1-filter rate p1.

    If over-parameterization only buys independent draws from the initialization
    lottery, a net with n filters succeeds when any of n one-filter nets would.
    ``p1`` comes from ``p1_result`` (a separate, larger set of 1-filter trainings) when
    given, else from the 1-filter members of ``result``.
    Returns per size: measured rate, predicted rate, measured - predicted and its 95 %
    interval (:func:`draws_estimate`).
    Introduced in: Chapter 1
    """
    by = result.by_size("success")
    s1 = (p1_result or result).by_size("success")[1]
    rows = []
    for n, sn in by.items():
        m, p, d, lo, hi = draws_estimate(s1, sn, n)
        rows.append(dict(size=n, measured=m, predicted=p, diff=d, diff_low=lo, diff_high=hi))
    return rows


@dataclass
class KernelAnalysis:
    """Where the trained kernels of a Naive sweep end up, per member."""

    sizes: np.ndarray      # n_filters
    best_cos: np.ndarray   # best cosine of a live kernel to [1, 1, 0, 1]
    n_useful: np.ndarray   # filters that alone separate the validation classes
    success: np.ndarray    # bool: 100 % validation accuracy


@torch.no_grad()
def kernel_analysis(result: SweepResult, n_val_pairs: int = 1000, seed: int = 0) -> KernelAnalysis:
    """Where trained kernels end up: cosine to [1, 1, 0, 1] and how many filters are useful.

    A filter is *useful* when its max-pooled response alone separates the validation
    classes perfectly (every positive scores above every negative, in the direction of
    its decision weight). Introduced in: Chapter 1
    """
    model = result.model
    dev = model.params["kernels"].device
    Xv, yv = validation_1101(n_val_pairs, seed, dev)
    K = model.params["kernels"]  # (M, F, 4)
    target = torch.tensor(PATTERN_1101, device=dev)
    cos = F.cosine_similarity(K, target.expand_as(K), dim=-1)  # (M, F); zero rows -> 0
    live = torch.arange(K.shape[1], device=dev)[None] < model.sizes.to(dev)[:, None]
    useful = torch.zeros_like(live)
    for s in range(0, model.n_models, 64):
        h = conv_max(Xv, K[s:s + 64]) * torch.sign(model.params["w"][s:s + 64])[:, None]
        pos, neg = h[:, yv == 1], h[:, yv == 0]
        useful[s:s + 64] = pos.amin(1) > neg.amax(1)
    useful &= live
    best_cos = torch.where(live, cos, torch.full_like(cos, -2)).amax(1)
    return KernelAnalysis(result.sizes, best_cos.cpu().numpy(), useful.sum(1).cpu().numpy(),
                          result.success)
