"""Profiles, device choice, seeding, threads, logging and parameter validation.

The small helpers every chapter and tool shares live here, once each:
:func:`seed_stream` (independent random streams derived from one seed),
:class:`threads` (CPU thread limit as a context manager or decorator) and
:data:`log` / :class:`Progress` (one logger; progress lines go to stderr).

Each chapter defines its own frozen dataclass of knobs and a dict of three instances,
one per profile (``smoke``, ``quick``, ``full``), next to its experiment code. This module
holds the machinery that turns a notebook's ``parameters`` cell into one validated
config: :func:`resolve_profile` and :func:`setup`.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import random
import sys
import time
from typing import Any, Iterable, Mapping, TypeVar

import numpy as np
import torch

from . import budget

PROFILES = ("smoke", "quick", "long", "full")
DEVICES = ("auto", "cpu", "cuda")

T = TypeVar("T")


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed``, else raise one clear ValueError."""
    allowed = tuple(allowed)
    if value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{name}={value!r} is not allowed; choose one of: {choices}")
    return value


def check_positive(name: str, value: Any, *, integer: bool = False, allow_zero: bool = False) -> Any:
    """Validate a number (or every number of a list/tuple) as positive; return it unchanged.

    Raises a ValueError naming the parameter and the allowed range.
    """
    values = value if isinstance(value, (list, tuple)) else [value]
    kind = "integer" if integer else "number"
    bound = ">= 0" if allow_zero else "> 0"
    for v in values:
        ok_type = isinstance(v, (int, np.integer)) and not isinstance(v, bool)
        if not integer:
            ok_type = ok_type or isinstance(v, (float, np.floating))
        if not ok_type or (v < 0 if allow_zero else v <= 0) or (not integer and not np.isfinite(v)):
            raise ValueError(f"{name}={value!r} is not allowed; expected {kind}(s) {bound}")
    return value


def check_fraction(name: str, value: Any) -> Any:
    """Validate a number (or list of numbers) in [0, 1]; return it unchanged."""
    values = value if isinstance(value, (list, tuple)) else [value]
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not 0 <= v <= 1:
            raise ValueError(f"{name}={value!r} is not allowed; expected number(s) in [0, 1]")
    return value


def resolve_device(device: str = "auto") -> torch.device:
    """Turn ``"auto" | "cpu" | "cuda"`` into a torch.device; ``"auto"`` picks CUDA if present.

    Raises ValueError when ``device="cuda"`` is asked for on a machine without CUDA.
    """
    check_choice("device", device, DEVICES)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' is not available on this machine; choose one of: 'auto', 'cpu'")
    return torch.device(device)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) with ``seed``."""
    check_positive("seed", seed, integer=True, allow_zero=True)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_profile(profiles: Mapping[str, T], profile: str, *, device: Any = None,
                    **overrides: Any) -> T:
    """Pick the profile's config and replace the fields given as non-None ``overrides``.

    ``profiles`` maps each name in :data:`PROFILES` to a frozen dataclass instance.
    A notebook passes its ``parameters``-cell knobs as overrides; ``None`` means "take
    the value from the profile". The dataclass's ``__post_init__`` validates the result,
    so a bad value raises a ValueError naming the parameter.

    This is also where a chapter's size checks run (:mod:`overparam.budget`: its limits,
    its memory and its estimated time against the cap), so that a notebook run by papermill
    directly refuses the same values, with the same message, as ``python -m overparam``.
    ``device``: where the run trains (default: the device of the last :func:`setup`, else
    the CPU).
    """
    check_choice("profile", profile, [p for p in PROFILES if p in profiles])
    base = profiles[profile]
    fields = {f.name for f in dataclasses.fields(base)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown}; allowed: {sorted(fields)}")
    # Lists (from papermill's -y YAML) become tuples so configs stay hashable.
    given = {k: v for k, v in overrides.items() if v is not None}
    changes = {k: (tuple(v) if isinstance(v, list) else v) for k, v in given.items()}
    module = budget.chapter_module(profiles)
    if module is not None:  # before the config is built: a huge value is refused at once
        budget.check_limits(module, profiles, given)
    cfg = dataclasses.replace(base, **changes)
    dev = resolve_device(device) if device is not None else _SETUP_DEVICE.get("device", torch.device("cpu"))
    budget.check(profiles, profile, cfg, given, dev)
    return cfg


#: The device of the last :func:`setup` in this process (what :func:`resolve_profile` checks).
_SETUP_DEVICE: dict[str, torch.device] = {}


@dataclasses.dataclass(frozen=True)
class Run:
    """What a chapter's setup cell returns: validated profile, device and seed."""

    profile: str
    device: torch.device
    seed: int

    def describe(self) -> str:
        """One line for the notebook: profile, device (GPU name), seed, torch version."""
        dev = str(self.device)
        if self.device.type == "cuda":
            dev += f" ({torch.cuda.get_device_name(self.device)})"
        return f"profile={self.profile} device={dev} seed={self.seed} torch={torch.__version__}"


def setup(profile: str = "quick", device: str = "auto", seed: int = 0) -> Run:
    """Validate a notebook's common parameters, seed everything and limit CPU threads
    (one thread on the CPU unless ``OMP_NUM_THREADS`` says otherwise).

    Returns a :class:`Run`. Used by every chapter's setup cell.
    """
    check_choice("profile", profile, PROFILES)
    dev = resolve_device(device)
    seed_everything(seed)
    _SETUP_DEVICE["device"] = dev
    if dev.type == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        # one thread per chapter: the stacked engine keeps one core busy, and chapters
        # run side by side (--jobs) or next to JupyterLab; measured fastest on 2 cores
        torch.set_num_threads(1)
    return Run(profile=profile, device=dev, seed=int(seed))


# --------------------------------------------------------------------------- seed streams

def seed_stream(seed: int, purpose: str) -> int:
    """A seed for ``purpose`` derived from ``seed``: independent streams from one seed.

    The value is a stable hash of ``(seed, purpose)`` (63 bits), identical on every
    machine and Python version. ``seed_stream(s, "init")`` and
    ``seed_stream(s, "order")`` never coincide for any s, unlike ``s`` and
    ``s + 1_000_003``, which do for two different seeds.
    """
    check_positive("seed", seed, integer=True, allow_zero=True)
    if not isinstance(purpose, str) or not purpose:
        raise ValueError(f"purpose={purpose!r} is not allowed; expected a non-empty string")
    digest = hashlib.blake2b(f"{int(seed)}/{purpose}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def generator(seed: int, purpose: str, device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with :func:`seed_stream` (seed, purpose)."""
    return torch.Generator(device=device).manual_seed(seed_stream(seed, purpose))


# --------------------------------------------------------------------------- threads

class threads(contextlib.ContextDecorator):
    """Limit torch's CPU threads inside a block (or a decorated function); restore after.

    ``threads(1)``: one thread per chapter is fastest on small machines where chapters
    run side by side (OpenMP threads of several processes contend). ``n=None`` leaves
    the setting unchanged; ``device`` other than the CPU makes it a no-op.
    """

    def __init__(self, n: int | None = 1, device: str | torch.device = "cpu"):
        if n is not None:
            check_positive("threads", n, integer=True)
        self.n = None if torch.device(device).type != "cpu" else n
        self._old: list[int] = []

    def __enter__(self):
        self._old.append(torch.get_num_threads())
        if self.n is not None:
            torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        torch.set_num_threads(self._old.pop())
        return False


# --------------------------------------------------------------------------- memory

#: glibc's ``mallopt`` parameters (malloc.h): M_TRIM_THRESHOLD, M_MMAP_MAX.
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_kept: bool | None = None


def keep_freed_memory() -> bool:
    """Let glibc's malloc keep memory that torch frees, for the next allocation (once per process).

    By default glibc gives a block of more than 32 MB straight back to the kernel (``mmap``
    / ``munmap``) and trims the heap when much of its top is free, so a training step whose
    gradients and activations are that large gets fresh pages every step, and the first
    touch of each page is a page fault: measured here 22,000-37,000 faults and 10-15 % of a
    short run's CPU time for stacks of width 512-2048 (``benchmarks/ensemble.py``), and up
    to 2x the faults of a textbook loop for single width-2048 nets. With mmap off and trimming
    at 2 GB, freed blocks are reused and those faults vanish (0 measured); the cost is that
    the process keeps its peak heap until it exits. Called by :func:`overparam.engine.loop.fit`
    on the CPU; it changes the whole process, any code in it included. No-op (False) where
    the C library is not glibc, or with ``OVERPARAM_MALLOC=default`` in the environment.
    """
    global _kept
    if _kept is None:
        _kept = False
        if os.environ.get("OVERPARAM_MALLOC", "") != "default" and sys.platform.startswith("linux"):
            try:
                import ctypes

                mallopt = ctypes.CDLL(None).mallopt
                _kept = bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, 2 ** 31 - 1))
            except (OSError, AttributeError):  # not glibc (musl, ...): its own policy stands
                _kept = False
    return _kept


# --------------------------------------------------------------------------- logging

#: The book's one logger. Progress and notes go to stderr, which the book's pages leave
#: out (``nb_output_stderr: remove``) and the runner shows on the terminal.
log = logging.getLogger("overparam")
if not log.handlers:
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(_handler)
    log.setLevel(logging.INFO)
    log.propagate = False


class Progress:
    """Progress lines for a long loop: ``label: 40/100, elapsed 12 s, eta 18 s``.

    Prints at most every ``every`` seconds (and never for a loop that ends sooner),
    to the book's logger (stderr). Use ``p.update(done)`` inside the loop.
    """

    def __init__(self, label: str, total: int, every: float = 15.0):
        self.label, self.total, self.every = label, int(total), float(every)
        self.t0 = self.last = time.perf_counter()

    def update(self, done: int) -> None:
        now = time.perf_counter()
        if now - self.last < self.every or done <= 0:
            return
        self.last = now
        el = now - self.t0
        eta = el / done * max(0, self.total - done)
        log.info(f"{self.label}: {done}/{self.total}, elapsed {el:.0f} s, eta {eta:.0f} s")
