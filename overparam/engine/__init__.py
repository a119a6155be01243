"""The one training engine of the book, read in one direction (each module imports only
those above it in this list):

- :mod:`overparam.engine.optim` – the one optimizer factory (:func:`make_optimizer`) and
  optimizers over stacked tensors (per-member skipping);
- :mod:`overparam.engine.store` – the result store (one file per grid point, atomic,
  corrupt files moved aside, keys tied to the code fingerprint);
- :mod:`overparam.engine.loop` – :func:`fit`, the one optimisation loop (stacked or
  single) with its hooks, stopping criteria and each member's training state;
- :mod:`overparam.engine.grid` – the vocabulary of grids (Member, TrainConfig, TrainData,
  EnsembleResult: the one place where parts of a grid's result are assembled);
- :mod:`overparam.engine.stackrun` – one bucket as a stack: data, loss, evaluation,
  training through :func:`fit` (the per-model loop is a stack of one);
- :mod:`overparam.engine.plan` – the cost model, buckets cut to the cache, and the
  batched-or-loop probe;
- :mod:`overparam.engine.distributed` – the Ray backend (buckets as Ray tasks);
- :mod:`overparam.engine.sweep` – grids of members (train_ensemble, train_grid): bucketed,
  stacked and trained through :func:`fit`, locally or on a backend.
"""
