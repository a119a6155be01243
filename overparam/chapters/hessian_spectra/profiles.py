"""Chapter 2's knobs: one frozen :class:`SpectraConfig` per profile in :data:`PROFILES`."""
from __future__ import annotations

from dataclasses import dataclass

from ...config import check_choice, check_positive
from ...data import CLASSIFICATION_SETS

DATASETS = CLASSIFICATION_SETS


@dataclass(frozen=True)
class SpectraConfig:
    """Knobs of Chapter 2; one instance per profile in :data:`PROFILES`.

    Introduced in: Chapter 2
    """

    d: int = 50                  # input dimension (the talk: 100; full uses 100; 50 keeps
    #                              the exact spectra of quick within its CPU budget)
    k: int = 10                  # classes for sections 1 and 3-6 (the talk: 50; full uses 50)
    sigma: float = 1.0           # blob spread; centres ~ N(0, I_d), so blobs are well apart
    n_train: int = 1000          # 100 examples per class at k = 10
    n_test: int = 1000           # test points for the error rates
    width: int = 16              # hidden width: M = 1258 at d = 50, exact spectrum in seconds
    lr: float = 0.05             # constant SGD step, as in the talk ("constant step size")
    steps: int = 300             # SGD steps; training loss ends near 0.02 at k = 10
    batch_size: int = 10         # small batch, the talk's SGD regime
    n_seeds: int = 3             # nets per setting (same data, own init and batches)
    ks: tuple = (2, 5, 10, 20)   # section 2: number of classes
    widths: tuple = (8, 16, 32)  # section 3: hidden widths
    batch_sizes: tuple = (5, 25, 125, 625)  # section 4: batch sizes (same number of steps)
    zero_tol: float = 0.01       # |lambda| <= zero_tol * lambda_max counts as "at zero"
    max_exact: int = 2500        # nets up to this many parameters get the exact spectrum
    slq_probes: int = 8          # SLQ probes for larger nets
    slq_steps: int = 80          # Lanczos steps per SLQ probe
    n_retrain: int = 40          # section 6: retrainings for the top-eigenvalue histogram
    retrain_width: int = 16      # section 6: width of the retrained nets
    lb_batch: int = 500          # section 8: the large batch
    sb_batch: int = 10           # section 8: the small batch it continues with
    sb_steps: int = 300          # section 8: steps of each continuation (small and large batch)
    dataset: str = "mnist1d"     # section 7: "mnist1d" (4000 train) or "digits" (sklearn)
    small_width: int = 32        # section 7: small net (2 hidden layers)
    large_width: int = 128       # section 7: large net, ~8x the parameters of the small one
    epochs: int = 30             # section 7: SGD epochs
    sgd_batch: int = 32          # section 7: SGD batch size
    gd_epochs: int = 200         # section 7: full-batch GD steps at most (one per epoch)
    gd_eval_every: int = 5       # section 7: GD steps between training-error checks
    gd_lr: float = 0.3           # section 7: GD step, larger than SGD's: no gradient noise
    lr7: float = 0.05            # section 7: SGD step
    n_seeds7: int = 3            # section 7: seeds per cell of the 2x2 table

    def __post_init__(self):
        for name in ("d", "k", "n_train", "n_test", "width", "steps", "batch_size", "n_seeds",
                     "max_exact", "slq_probes", "slq_steps", "n_retrain", "retrain_width",
                     "lb_batch", "sb_batch", "sb_steps", "small_width", "large_width",
                     "epochs", "sgd_batch", "gd_epochs", "gd_eval_every", "n_seeds7"):
            check_positive(name, getattr(self, name), integer=True)
        for name in ("sigma", "lr", "zero_tol", "gd_lr", "lr7"):
            check_positive(name, getattr(self, name))
        for name in ("ks", "widths", "batch_sizes"):
            val = getattr(self, name)
            if not isinstance(val, tuple) or len(val) < 2:
                raise ValueError(f"{name}={val!r} is not allowed; expected a list of >= 2 integers")
            check_positive(name, list(val), integer=True)
            if any(b <= a for a, b in zip(val, val[1:])):
                raise ValueError(f"{name}={val!r} is not allowed; expected strictly increasing "
                                 "values (the claims compare the last setting with the first)")
        if min(self.ks) < 2:
            raise ValueError(f"ks={self.ks!r} is not allowed; every k must be >= 2")
        if self.n_retrain < 4:
            raise ValueError(f"n_retrain={self.n_retrain!r} is not allowed; expected >= 4 "
                             "(two halves of >= 2 for the held-out fit comparison)")
        check_choice("dataset", self.dataset, DATASETS)


PROFILES = {
    "smoke": SpectraConfig(d=10, k=3, n_train=60, n_test=60, width=6, steps=30, n_seeds=2,
                           ks=(2, 3), widths=(4, 6), batch_sizes=(5, 30), max_exact=300,
                           slq_probes=2, slq_steps=10, n_retrain=6, retrain_width=6,
                           lb_batch=30, sb_batch=5, sb_steps=20, dataset="digits",
                           small_width=8, large_width=16, epochs=2, gd_epochs=4, gd_eval_every=2,
                           n_seeds7=2),
    "quick": SpectraConfig(),
    # long: the quick geometry with the replicates of the power calculation (80 % power for
    # every rule at its stated effect and the measured spread): 300 retrainings (the Gumbel law
    # against a Gaussian: 78 % at 240), 16 nets per cell of the SGD/GD table (a 1 % gap needs
    # 14-16; the large-vs-small net's 32 %: 10); 20 nets per setting (the outlier count needs
    # 9-10 for power; at 10 its interval, 1.08-1.27, and the sharpness one, -0.064 to 0.003,
    # still straddled their edges); 1200 SGD steps: at 300 the narrowest width misfits 1-6 % of
    # the training set (quick) and at 600 2 of 10 nets still did, short of the "fits the
    # training set" criterion of the width rows
    "long": SpectraConfig(n_seeds=20, n_retrain=300, n_seeds7=16, steps=1200),
    "full": SpectraConfig(d=100, k=50, n_train=10000, n_test=5000, width=32, steps=5000,
                          n_seeds=5, ks=(5, 10, 20, 30, 50), widths=(16, 32, 64, 128),
                          batch_sizes=(10, 50, 250, 1250), max_exact=6000, slq_probes=16,
                          slq_steps=150, n_retrain=200, retrain_width=32, lb_batch=2500,
                          sb_steps=5000, small_width=64, large_width=1024, epochs=100,
                          gd_epochs=3000, gd_eval_every=25, n_seeds7=5),
}
