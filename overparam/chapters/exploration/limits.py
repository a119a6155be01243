"""Chapter 1's size bounds for the book's runner: :data:`LIMITS` and
:func:`estimate_cost`.

Every sweep of the chapter is one stack of members trained together and kept (with its
model) until the chapter's results are complete, so the peak memory is the sum of the
stacks: members x padded parameters x (parameter, gradient, optimizer state), plus the
activations of a training step and of an evaluation chunk.

Introduced in: Chapter 1
"""
from __future__ import annotations

from .profiles import ExplorationConfig

#: Largest value the runner accepts for each integer knob (``-p NAME VALUE``).
LIMITS = {
    # trainings per grid point: at 10^5 draws a success rate's 95 % interval is +-0.3 points,
    # narrower than anything the figures or claims can resolve
    "n_runs": 100_000,
    "and_runs": 100_000,
    "optimizer_runs": 100_000,
    "p1_runs": 1_000_000,          # one 1-filter net each: 6 parameters, cheap
    "flow_runs": 1_000_000,        # one width-2 AND net each (twice: ReLU and LeakyReLU): 9 parameters
    # a length-64 sequence has 61 windows of the width-4 kernel: more filters than windows
    # cannot see anything new
    "max_filters": 61,
    # AND nets on 2 inputs: 1,024 hidden units is 50x the source's largest (22)
    "max_width": 1024,
    "cnn_steps": 1_000_000,        # steps of one example pair each (source: 100)
    "and_steps": 1_000_000,        # steps of batch 16 (source: 500)
    # fresh evaluation points: 10^6 puts the accuracy's error below 0.1 percentage point
    "n_val_pairs": 1_000_000,
    "n_test_and": 1_000_000,
    "handset_repeats": 10_000,     # fresh test sets for the hand-set nets
}

F32 = 4        # bytes of a float32
STATE = 4      # a parameter, its gradient and two optimizer moments (Adam/RMSprop)
ACT = 3        # activations kept for backward, their gradients, one temporary
LENGTH = 64    # 1101 sequence length (the source's)
KERNEL = 4     # 1101 kernel width
EVAL_CHUNK = 64 * 250  # members x examples of one evaluation chunk (accuracy_1101)


def _cnn_stack(members: int, filters: int, pairs_eval: int) -> float:
    """Bytes of a stack of 1101 CNNs (padded to ``filters``), trained then scored."""
    params = members * (KERNEL * filters + filters + 1) * STATE
    step = members * 2 * (LENGTH + ACT * filters * (LENGTH - KERNEL + 1))
    evaluate = EVAL_CHUNK * filters * (LENGTH - KERNEL + 1) + 2 * pairs_eval * LENGTH
    return F32 * (params + step + evaluate)


def _and_stack(members: int, width: int, batch: int, n_test: int) -> float:
    """Bytes of a stack of 2-w-1 AND nets, trained on batches then scored on n_test points."""
    params = members * (4 * width + 1) * STATE
    step = members * batch * (2 + ACT * width)
    evaluate = members * n_test * 2 + n_test * (2 + width) * min(members, 64)
    return F32 * (params + step + evaluate)


def estimate_cost(cfg: ExplorationConfig) -> int:
    """Upper estimate of the peak bytes of :func:`run_chapter` at ``cfg`` (every stack kept).

    Introduced in: Chapter 1
    """
    lrs = len(cfg.lrs)
    rc = cfg.random_conv_filters
    pairs = cfg.n_val_pairs
    total = (_cnn_stack(cfg.n_runs * cfg.max_filters, cfg.max_filters, pairs)   # naive
             + _cnn_stack(cfg.n_runs * len(rc), max(rc), pairs)                 # random_conv
             + _cnn_stack(cfg.n_runs, 8, pairs)                                 # hyper
             + 2 * _cnn_stack(cfg.p1_runs, 1, pairs)                            # p1, smooth max
             + 2 * _and_stack(cfg.flow_runs, 2, 16, cfg.n_test_and)              # ReLU, LeakyReLU
             + _and_stack(cfg.and_runs * cfg.max_width, cfg.max_width, 16, cfg.n_test_and)
             + _and_stack(cfg.and_runs, 8, 16, cfg.n_test_and)
             # optimizer study: 3 candidates x lrs x 2 sizes, a baseline, and the test stacks
             + 4 * _cnn_stack(cfg.optimizer_runs * 2 * lrs, 2, pairs)
             + 4 * _and_stack(cfg.optimizer_runs * 2 * lrs, 3, 16, cfg.n_test_and)
             + F32 * cfg.handset_repeats * cfg.n_test_and * 3)
    # per-member result arrays (size, score, success, lr, diverged) in float64
    members = (cfg.n_runs * (cfg.max_filters + len(rc) + 1) + 2 * cfg.p1_runs + 2 * cfg.flow_runs
               + cfg.and_runs * (cfg.max_width + 1) + 8 * cfg.optimizer_runs * 2 * lrs)
    return int(total + 5 * 8 * members)
