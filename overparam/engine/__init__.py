"""The one training engine of the book.

- :mod:`overparam.engine.loop` – :func:`fit`, the one optimisation loop (stacked or
  single) with its hooks;
- :mod:`overparam.engine.optim` – optimizers over stacked tensors (per-member skipping);
- :mod:`overparam.engine.sweep` – grids of members (Member, TrainConfig, TrainData,
  train_ensemble, train_grid): bucketed, stacked and trained through :func:`fit`;
- :mod:`overparam.engine.plan` – the cost model, buckets and the batched-or-loop probe;
- :mod:`overparam.engine.stackrun` – one bucket as a stack: data, loss, evaluation,
  training through :func:`fit` (the per-model loop is a stack of one);
- :mod:`overparam.engine.store` – the result store (one file per grid point, atomic,
  corrupt files moved aside, keys tied to the code fingerprint).
"""
