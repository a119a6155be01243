"""The engine on a Ray cluster: the buckets of a grid as Ray tasks (``backend="ray"``).

:func:`~overparam.engine.sweep.train_grid` and :func:`~overparam.engine.sweep.train_ensemble`
take ``backend="local"`` (default: every bucket in this process) or ``backend="ray"`` (or
a :class:`RayBackend` with options): each chunk of grid points the local engine would
train in turn becomes one Ray task, which runs the very same
:func:`~overparam.engine.sweep.train_ensemble` call on a worker. Nothing about a point
changes: its initialisation comes from its member seed, its batch order from
``config.generator(seed, "order")``, its bucket is the same, and the worker trains with
the same number of CPU threads as the task's CPUs, so a point trained on a worker is
byte-for-byte the point trained locally (tested).

Results come back to the driver, which writes them to the same
:class:`~overparam.engine.store.ResultStore` as a local run, each chunk as soon as it
finishes (workers need no shared file system). A worker that dies is re-run by Ray
(``max_retries``); a chunk that still fails (an exception, a worker killed every time)
is reported with its grid points and the error, the other chunks go on and are saved,
and :class:`GridFailed` is raised at the end naming every failed point. Running the
same grid again trains only what is missing.

Ray is an optional extra (``pip install -e ".[ray]"``). Without ``address`` (and without
``$RAY_ADDRESS``) a local Ray instance is started with one task slot per CPU core; on a
cluster started with ``ray start --head`` pass ``address="auto"``. On CUDA each task asks
for a fraction of a GPU (``num_gpus``, default 0.25: four buckets share one GPU).
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from .. import config
from ..config import check_positive
from .grid import EnsembleResult, say
from .plan import BUCKETING, buckets_for

BACKENDS = ("local", "ray")

__all__ = ["BACKENDS", "RayBackend", "GridFailed", "ChunkFailure", "resolve_backend", "ensure_ray",
           "require_ray", "run_chunks", "error_line", "train_ensemble_ray", "replace_engine_log"]


@dataclass(frozen=True)
class RayBackend:
    """Where and how grid buckets run on Ray.

    Parameters
    ----------
    address : str or None
        Ray cluster to join (``"auto"``: the one started by ``ray start`` on this node,
        or ``"ray://host:10001"``); None: ``$RAY_ADDRESS`` if set, else a local instance.
    num_cpus : int
        CPUs per task; the worker limits torch to this many threads (the local engine's
        default is one thread per chapter, so 1 keeps results identical to a local run).
    num_gpus : float or None
        GPUs per task when training on CUDA (a fraction shares a GPU); None: 0.25.
        Ignored on the CPU.
    max_retries : int
        Re-runs of a task whose worker process died (killed, out of memory).
    retry_exceptions : bool
        Also re-run a task that raised an exception (off: training is deterministic, the
        same exception would come back).
    before_chunk : callable or None
        Called on the worker with the chunk's members before it trains; must be
        picklable. Tests use it to kill a worker or raise on purpose.

    Introduced in: the engine
    """

    address: str | None = None
    num_cpus: int = 1
    num_gpus: float | None = None
    max_retries: int = 2
    retry_exceptions: bool = False
    before_chunk: Callable[[list], None] | None = None

    def __post_init__(self):
        check_positive("num_cpus", self.num_cpus, integer=True)
        if self.num_gpus is not None:
            check_positive("num_gpus", self.num_gpus)
        check_positive("max_retries", self.max_retries, integer=True, allow_zero=True)

    def gpus_for(self, device: torch.device) -> float:
        """GPUs one task asks for on ``device`` (0 on the CPU)."""
        if device.type != "cuda":
            return 0.0
        return 0.25 if self.num_gpus is None else float(self.num_gpus)


def resolve_backend(backend: str | RayBackend | None) -> RayBackend | None:
    """None for ``"local"``; a :class:`RayBackend` for ``"ray"`` or an instance.

    Raises ValueError naming ``backend`` for anything else.
    """
    if backend is None or (isinstance(backend, str) and backend == "local"):
        return None
    if isinstance(backend, RayBackend):
        return backend
    if isinstance(backend, str) and backend == "ray":
        return RayBackend()
    raise ValueError(f"backend={backend!r} is not allowed; expected one of {', '.join(BACKENDS)} "
                     f"or an overparam.engine.distributed.RayBackend")


def require_ray():
    """The ``ray`` module, or ImportError saying how to install the extra."""
    try:
        import ray
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("backend='ray' needs Ray: pip install -c constraints.txt -e '.[ray]'") from err
    return ray


def ensure_ray(address: str | None = None, num_cpus: int | None = None):
    """Connect to Ray once per process and return the module.

    An already initialised Ray (e.g. ``ray.init`` by the caller) is used as it is.
    Otherwise ``address`` (or ``$RAY_ADDRESS``) is joined, or a local instance is
    started with ``num_cpus`` task slots (None: every core), without the dashboard.
    """
    ray = require_ray()
    if ray.is_initialized():
        return ray
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True}
    if address is not None:
        kwargs["address"] = address
    elif not os.environ.get("RAY_ADDRESS"):
        kwargs["num_cpus"] = num_cpus
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(**kwargs)
    config.log.info(f"ray: connected ({ray.cluster_resources().get('CPU', 0):.0f} CPUs, "
                    f"{ray.cluster_resources().get('GPU', 0):.2f} GPUs)")
    return ray


def error_line(err: BaseException) -> str:
    """``Type: message`` of what failed on a worker: the task's own exception when Ray wraps
    one (``RayTaskError.cause``), else Ray's error; first line only."""
    cause = getattr(err, "cause", None)
    if isinstance(cause, BaseException):
        err = cause
    text = f"{type(err).__name__}: {err}".strip()
    return next((l for l in text.splitlines() if l.strip()), type(err).__name__)


@dataclass
class ChunkFailure:
    """A chunk that failed on Ray after its retries: its grid points and the error."""

    points: list[str]
    error: str

    def describe(self) -> str:
        return f"{len(self.points)} point(s) [{'; '.join(self.points)}]: {self.error}"


class GridFailed(RuntimeError):
    """Some chunks of a grid failed on workers; every other point was trained (and saved).

    Attributes: ``failures`` (list of :class:`ChunkFailure`).
    """

    def __init__(self, failures: Sequence[ChunkFailure], saved: bool):
        self.failures = list(failures)
        n = sum(len(f.points) for f in self.failures)
        then = (" The other points are saved; run again to train only the missing ones."
                if saved else "")
        super().__init__(f"{n} grid point(s) failed on Ray workers:\n"
                         + "\n".join("  " + f.describe() for f in self.failures) + then)


# --------------------------------------------------------------------------- worker side


def _train_chunk(train: Callable, members: list, datas: list, cfg, device: str, threads: int, gpus: float,
                 kwargs: dict, before: Callable | None):
    """Body of one Ray task: ``train`` (the local engine's ``train_ensemble``) on a chunk, as
    the local engine would call it."""
    if before is not None:
        before(members)
    dev = torch.device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda")  # Ray sets CUDA_VISIBLE_DEVICES: the task's GPU is cuda:0
        if kwargs.get("memory_budget") is None and 0 < gpus < 1:
            # a fractional task shares the GPU: budget its share of the free memory
            kwargs = {**kwargs, "memory_budget": 0.5 * gpus * torch.cuda.mem_get_info(dev)[0]}
    with config.threads(threads):
        return train(members, datas, cfg, device=dev, **kwargs)


@functools.lru_cache(maxsize=None)
def _remote_train():
    return require_ray().remote(_train_chunk)


# --------------------------------------------------------------------------- driver side


def run_chunks(chunks: Sequence[Sequence[int]], members: Sequence, datas: Sequence, cfg, *,
               train: Callable, device: torch.device | str, backend: RayBackend, engine: dict,
               on_result: Callable[[int, list, Any], None],
               log: Callable[[str], None] | None = None) -> list[ChunkFailure]:
    """Train each chunk of member indices as one Ray task; hand each result to ``on_result``.

    ``train`` is what a task runs: the local engine,
    :func:`~overparam.engine.sweep.train_ensemble` (given by the caller, so that this
    backend never imports the sweep above it).

    ``on_result(c, chunk, result)`` is called on the driver as each task finishes (in
    completion order), with ``result`` the chunk's
    :class:`~overparam.engine.sweep.EnsembleResult`. ``engine`` holds the keyword
    arguments of :func:`~overparam.engine.sweep.train_ensemble` (``keep_probs``, ``mode``,
    ``log`` ...). Returns the chunks that failed after their retries (each also logged);
    an exception in ``on_result`` itself propagates.
    """
    ray = ensure_ray(backend.address)
    say = log or (lambda s: None)
    dev = torch.device(device)
    gpus = backend.gpus_for(dev)
    task = _remote_train().options(num_cpus=backend.num_cpus, num_gpus=gpus,
                                   max_retries=backend.max_retries,
                                   retry_exceptions=backend.retry_exceptions)
    datas_ref = ray.put(list(datas))  # once: shared tensors stay shared, sent once per node
    pending = {}
    for c, chunk in enumerate(chunks):
        ref = task.remote(train, [members[i] for i in chunk], datas_ref, cfg, str(dev), backend.num_cpus,
                          gpus, dict(engine), backend.before_chunk)
        pending[ref] = (c, list(chunk))
    say(f"ray: {len(pending)} task(s) submitted ({backend.num_cpus} CPU"
        + (f", {gpus:g} GPU" if gpus else "") + " each)")
    failures: list[ChunkFailure] = []
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        c, chunk = pending.pop(ready[0])
        try:
            result = ray.get(ready[0])
        except Exception as err:  # noqa: BLE001 - RayTaskError, WorkerCrashedError, ...
            fail = ChunkFailure([members[i].label() for i in chunk], error_line(err))
            failures.append(fail)
            say(f"ray: chunk {c + 1}/{len(chunks)} FAILED after retries: {fail.describe()}; "
                f"the other chunks go on")
            continue
        on_result(c, chunk, result)
    return failures


def train_ensemble_ray(members: list, datas: list, cfg, *, train: Callable, device, backend: RayBackend,
                       engine: dict, log: Callable[[str], None] | None) -> EnsembleResult:
    """``train`` (:func:`~overparam.engine.sweep.train_ensemble`) with each bucket as one Ray task.

    The buckets are the local engine's own (:func:`~overparam.engine.plan.buckets_for`);
    a worker trains its bucket with the same call. Raises :class:`GridFailed` if a bucket
    fails (nothing is stored here: use ``train_grid`` to keep finished points).
    """
    dev = torch.device(device)
    buckets = buckets_for(members, datas, cfg, dev, **{k: engine[k] for k in BUCKETING if k in engine})
    out = EnsembleResult.blank(members, cfg, len(datas[0].X_test), datas[0].n_classes,
                               engine.get("keep_probs", False), engine.get("keep_params", False))

    def absorb(c, chunk, r):
        out.put(chunk, r)
        out.seconds += r.seconds

    failures = run_chunks(buckets, members, datas, cfg, train=train, device=dev, backend=backend,
                          engine={**engine, "log": _worker_log(log)}, on_result=absorb, log=log)
    if failures:
        raise GridFailed(failures, saved=False)
    return out


def _worker_log(log):
    """What a worker logs with: the engine's logger (its stderr reaches the driver through
    Ray) unless the caller asked for silence; a driver-side callable cannot travel."""
    return None if log is None else say


def replace_engine_log(engine: dict, log) -> dict:
    """``engine`` with ``log`` made suitable for a worker (see :func:`_worker_log`)."""
    return {**engine, "log": _worker_log(log)}

