"""One figure style for the book: seaborn theme, white background, mean-with-band curves."""
from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from .stats import mean_ci


def set_theme() -> None:
    """Apply the book's figure style (white background, readable fonts, PNG at 110 dpi).

    Called by every chapter's setup cell.
    """
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    mpl.rcParams.update({
        "figure.facecolor": "white",
        "axes.facecolor": "white",
        "savefig.facecolor": "white",
        "figure.dpi": 110,
        "figure.figsize": (6.4, 4.0),
        "axes.titlesize": "medium",
    })
    try:  # inline PNGs with a white background in notebooks
        from matplotlib_inline.backend_inline import set_matplotlib_formats
        set_matplotlib_formats("png")
    except ImportError:  # pragma: no cover - outside IPython
        pass


def plot_band(ax: plt.Axes, x, samples, label: str | None = None, level: float = 0.95,
              **kwargs) -> None:
    """Plot the mean of ``samples`` (shape (n_seeds, len(x))) with its confidence band."""
    samples = np.asarray(samples, dtype=float)
    if samples.ndim == 1:
        samples = samples[None]
    m, lo, hi = mean_ci(samples, level=level, axis=0)
    line, = ax.plot(x, m, label=label, **kwargs)
    ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)


def plot_interval(ax: plt.Axes, x, mean, low, high, label: str | None = None, **kwargs) -> None:
    """Plot a curve with a precomputed interval band (e.g. Wilson intervals of rates)."""
    line, = ax.plot(x, mean, label=label, **kwargs)
    ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
