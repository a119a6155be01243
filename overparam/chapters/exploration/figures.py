"""Chapter 1 figures and tables, drawn from :class:`ExplorationResults` and its parts."""
from __future__ import annotations

import numpy as np

from ...stats import mean_ci
from .analyses import KernelAnalysis
from .experiments import ExplorationResults, OptimizerStudy

_LABELS = {"naive": "Naive CNN", "random_conv": "RandomConv", "hyper": "HyperNetwork"}


def _err(mean, low, high, scale=1.0):
    return [[scale * (mean - low)], [scale * (high - mean)]]


def plot_cnn_sweep(res: ExplorationResults):
    """Figure: 1101 accuracy and success rate vs trained parameters (mean, 95 % CI).

    Introduced in: Chapter 1
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter
    from ...plotting import plot_interval
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    for kind in ("naive", "random_conv", "hyper"):
        rows = getattr(res, kind).summary()
        x = [r["n_trained"] for r in rows]
        if kind == "hyper":
            r = rows[0]
            a1.errorbar(x, [100 * r["mean"]], _err(r["mean"], r["ci_low"], r["ci_high"], 100),
                        fmt="o", ms=8, capsize=4, label=_LABELS[kind] + " (generated net)")
            a2.errorbar(x, [100 * r["success"]], _err(r["success"], r["success_low"],
                        r["success_high"], 100), fmt="o", ms=8, capsize=4, label=_LABELS[kind])
            continue
        plot_interval(a1, x, [100 * r["mean"] for r in rows], [100 * r["ci_low"] for r in rows],
                      [100 * r["ci_high"] for r in rows], label=_LABELS[kind], marker=".")
        plot_interval(a2, x, [100 * r["success"] for r in rows], [100 * r["success_low"] for r in rows],
                      [100 * r["success_high"] for r in rows], label=_LABELS[kind], marker=".")
    a1.scatter([5], [100 * res.handset_1101], marker="x", s=90, c="red", zorder=5,
               label="hand-set [1,1,0,1] (measured)")
    a1.set(xlabel="trained parameters (generated parameters for HyperNetwork)",
           ylabel="validation accuracy (%)", title="1101 pattern: mean accuracy, 95 % CI")
    a2.set(xlabel="trained parameters", ylabel="trainings reaching 100 % (%)",
           title="Share of trainings that find a perfect solution")
    for ax in (a1, a2):
        ax.set_xscale("log")
        ax.set_xticks([2, 5, 10, 20, 50])
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(plt.NullFormatter())
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_and_sweep(res: ExplorationResults):
    """Figure: AND macro-F1 vs width (mean, 95 % CI), HyperBoolNet and the hand-set net.

    Introduced in: Chapter 1
    """
    import matplotlib.pyplot as plt
    from ...plotting import plot_interval
    fig, ax = plt.subplots(figsize=(7, 4))
    rows = res.and_naive.summary()
    plot_interval(ax, [r["size"] for r in rows], [r["mean"] for r in rows],
                  [r["ci_low"] for r in rows], [r["ci_high"] for r in rows],
                  label="Linear-ReLU-Linear, trained", marker=".")
    h = res.and_hyper.summary()[0]
    ax.errorbar([2.1], [h["mean"]], _err(h["mean"], h["ci_low"], h["ci_high"]),
                fmt="o", capsize=4, label="HyperBoolNet (generated width-2 net)")
    e = mean_ci(res.handset_and)
    ax.errorbar([1.9], [e.mean], _err(e.mean, e.low, e.high) if e.n > 1 else None, fmt="x",
                c="red", ms=9, capsize=4, label="hand-set width-2 net (measured)")
    ax.axhline(res.handset_and_exact, ls="--", c="red", lw=1, label="hand-set net, closed form")
    ax.axhline(0.98, ls=":", c="grey", lw=1, label="source's figure: hand-set at 0.98")
    ax.set(xlabel="hidden width", ylabel="macro-F1 on fresh points",
           title="AND: y = (x1 > 0) and (x2 > 0)")
    ax.legend(fontsize="small", loc="lower right")
    fig.tight_layout()
    return fig


def plot_more_draws(rows: list[dict]):
    """Figure: measured success rate vs the 'independent draws' prediction 1 - (1 - p1)^n.

    Introduced in: Chapter 1
    """
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.5, 4))
    n = [r["size"] for r in rows]
    ax.plot(n, [r["predicted"] for r in rows], "k--", label="predicted: 1 - (1 - p1)^n")
    ax.errorbar(n, [r["measured"] for r in rows],
                [[r["diff"] - r["diff_low"] for r in rows], [r["diff_high"] - r["diff"] for r in rows]],
                fmt="o-", capsize=3, label="measured (bars: 95 % CI of measured - predicted)")
    ax.set(xlabel="n_filters", ylabel="share of trainings reaching 100 %",
           title="Is a wider net just more lottery tickets?")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_kernels(k: KernelAnalysis):
    """Figure: best cosine to [1, 1, 0, 1] (successes vs failures) and useful filters per net.

    Introduced in: Chapter 1
    """
    import matplotlib.pyplot as plt
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    bins = np.linspace(-1, 1, 41)
    for label, sel in (("reached 100 %", k.success), ("did not", ~k.success)):
        if sel.any():
            a1.hist(k.best_cos[sel], bins, alpha=0.6, label=label, density=True)
    a1.set(xlabel="best cosine of a trained kernel to [1, 1, 0, 1]", ylabel="density",
           title="Where the kernels end up (all sizes)")
    a1.legend(fontsize="small")
    sizes = np.unique(k.sizes)
    for label, sel in (("nets reaching 100 %", k.success), ("other nets", ~k.success)):
        m = [k.n_useful[(k.sizes == s) & sel].mean() if ((k.sizes == s) & sel).any() else np.nan
             for s in sizes]
        a2.plot(sizes, m, "o-", label=label)
    a2.plot(sizes, sizes, ":", c="grey", label="all filters")
    a2.set(xlabel="n_filters", ylabel="useful filters per net (mean)",
           title="A filter is useful if it alone separates the classes")
    a2.legend(fontsize="small")
    fig.tight_layout()
    return fig


def _best_lr(study: OptimizerStudy) -> dict[str, float]:
    """Each optimizer's lr with the best mean at the claim's size (picking trainings)."""
    at = {k: v[study.size] for k, v in study.selection.items()}
    best: dict[str, float] = {}
    for (name, lr), x in at.items():
        if name not in best or x.mean() > at[(name, best[name])].mean():
            best[name] = lr
    return best


def optimizer_table(studies: list[OptimizerStudy]):
    """The optimizer studies as a DataFrame: stage, optimizer, lr, size, mean and 95 % CI.

    Stage "pick" rows are every candidate at every lr (and the source's recipe, as
    "baseline") on the picking trainings; stage "test" rows are the chosen candidate and
    the baseline on fresh trainings, which the claims use.
    """
    import pandas as pd
    rows = []
    for st in studies:
        for (name, lr), by in st.selection.items():
            for size, x in by.items():
                e = mean_ci(x)
                rows.append(dict(task=st.task, stage="pick", optimizer=name, lr=lr, size=size,
                                 mean=e.mean, low=e.low, high=e.high, n=e.n))
        for key, x in st.test.items():
            e = mean_ci(x)
            name, lr = (st.chosen if key == "chosen" else ("baseline", st.baseline[1]))
            rows.append(dict(task=st.task, stage="test", optimizer=name, lr=lr, size=st.size,
                             mean=e.mean, low=e.low, high=e.high, n=e.n))
    return pd.DataFrame(rows).round(3)


def plot_optimizers(studies: list[OptimizerStudy]):
    """Figure: each optimizer at its best lr (picking trainings), then the test of the pick.

    Introduced in: Chapter 1
    """
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(studies), figsize=(5.5 * len(studies), 4), squeeze=False)
    for ax, st in zip(axes[0], studies):
        best = _best_lr(st)
        names = list(best)
        w = 0.8 / (len(st.sizes) + 1)
        for j, s in enumerate(st.sizes):
            xs = [st.selection[(n, best[n])][s] for n in names]
            es = [mean_ci(x) for x in xs]
            ax.bar(np.arange(len(names)) + j * w, [e.mean for e in es], w,
                   yerr=[[e.mean - e.low for e in es], [e.high - e.mean for e in es]], capsize=3,
                   label=("n_filters" if st.task == "cnn" else "width") + f" = {s} (picking runs)")
        test = [mean_ci(st.test["chosen"]) if n == st.chosen[0] else
                mean_ci(st.test["baseline"]) if n == "baseline" else None for n in names]
        idx = [i for i, e in enumerate(test) if e is not None]
        ax.bar(np.array(idx) + len(st.sizes) * w, [test[i].mean for i in idx], w, hatch="//",
               yerr=[[test[i].mean - test[i].low for i in idx], [test[i].high - test[i].mean for i in idx]],
               capsize=3, label=f"size {st.size}, fresh runs (the claim)")
        ax.set_xticks(np.arange(len(names)) + 0.4 - w / 2,
                      [f"{n}\n(lr {best[n]:g})" for n in names])
        ax.set(ylabel=st.outcome, title="1101 CNN" if st.task == "cnn" else "AND net")
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def sweep_table(res: ExplorationResults):
    """The 1101 sweeps as a DataFrame: per kind and size, accuracy and success rate."""
    import pandas as pd
    return pd.DataFrame(res.naive.summary() + res.random_conv.summary()
                        + res.hyper.summary()).round(3)


def kernel_summary(k: KernelAnalysis):
    """Per n_filters: success rate, useful filters of successful nets, median best cosine.

    Introduced in: Chapter 1
    """
    import pandas as pd
    rows = []
    for s in np.unique(k.sizes):
        sel = k.sizes == s
        ok, bad = sel & k.success, sel & ~k.success
        rows.append(dict(n_filters=int(s), success=k.success[sel].mean(),
                         useful_filters_if_success=k.n_useful[ok].mean() if ok.any() else np.nan,
                         median_cos_success=np.median(k.best_cos[ok]) if ok.any() else np.nan,
                         median_cos_failure=np.median(k.best_cos[bad]) if bad.any() else np.nan))
    return pd.DataFrame(rows).round(3)


def handset_summary(res: ExplorationResults) -> str:
    """One line: the hand-set AND net's closed-form F1 and its measurement on fresh sets."""
    e = mean_ci(res.handset_and)
    return (f"hand-set width-2 net: macro-F1 = {res.handset_and_exact:.4f} in closed form; "
            f"measured {e} over {e.n} fresh test sets")


def flow_table(res: ExplorationResults):
    """Where single-candidate SGD stops and what gradient-friendly functions change: the
    1-filter trainings (max pooling and, on the same starts, a smooth max) and the width-2
    AND nets (ReLU and LeakyReLU on the same starts). Rows are skipped when not run.

    Introduced in: Chapter 1
    """
    import pandas as pd
    from .verdicts import initial_angle
    p1, ok = res.p1, res.p1.success.astype(bool)
    rows = [("1-filter trainings", len(ok)), ("success rate, max pooling", ok.mean())]
    if res.smooth is not None:
        rows.append(("success rate, smooth max (same starts)", res.smooth.success.mean()))
    if p1.state is not None:
        rows.append(("share stopped (loss plateaued) short of 100 %", np.mean(p1.state.met & ~ok)))
    if p1.init is not None:
        ang = initial_angle(p1.init)
        rows += [("median initial angle to [1, 1, 0, 1], successful (deg)", np.median(ang[ok]) if ok.any() else np.nan),
                 ("median initial angle to [1, 1, 0, 1], failed (deg)", np.median(ang[~ok]) if (~ok).any() else np.nan)]
    if res.and_relu is not None and res.and_leaky is not None:
        rows += [("width-2 AND macro-F1, ReLU", res.and_relu.score.mean()),
                 ("width-2 AND macro-F1, LeakyReLU (same starts)", res.and_leaky.score.mean())]
    return pd.DataFrame(rows, columns=["measurement", "value"]).round(3)
