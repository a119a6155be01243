"""The one training engine of the book.

- :mod:`overparam.engine.loop` – :func:`fit`, the one optimisation loop (stacked or
  single) with its hooks;
- :mod:`overparam.engine.optim` – optimizers over stacked tensors (per-member skipping);
- :mod:`overparam.engine.sweep` – grids of members bucketed, stacked and trained through
  :func:`fit` (the batched-or-loop probe, divergence guard, resume via the store);
- :mod:`overparam.engine.store` – the result store (one file per grid point, atomic).
"""
