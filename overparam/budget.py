"""What a chapter run may ask of this machine: its size limits, its memory, its time.

One check, :func:`check`, called where a notebook resolves its profile
(:func:`overparam.config.resolve_profile`), so a run through ``python -m overparam`` and a
run through papermill directly refuse the same values with the same message:

- **limits**: integer knobs at most the chapter's ``LIMITS`` (its ``limits.py``), else at
  most :data:`FALLBACK_FACTOR` x the largest value any profile uses;
- **memory**: the chapter's ``estimate_cost(cfg)`` (peak bytes) within the device's memory;
- **time**: :func:`estimate_seconds`, refused above a cap (:data:`DEFAULT_MAX_HOURS`,
  ``$OVERPARAM_MAX_HOURS``) unless ``$OVERPARAM_CONFIRM_LONG=1`` (the CLI's ``--yes``).

The time estimate is deliberately simple, and says what it rests on. Each chapter's
``quick`` and ``long`` profiles were timed once on a reference machine (:data:`MEASURED`,
:data:`MEASURED_LONG`: CPU seconds, one thread per chapter). A ``quick`` or ``long`` run on a
CPU, with any ``-p`` values, is estimated as that time, times this machine's speed relative to the reference (:func:`machine_factor`: a
0.1 s timing probe of the stacked matrix products the engine spends its time in, cached
per machine), times the growth of every knob given: its ratio to ``quick`` (the sum of a
list of integers, the length of any other list; floats, strings, flags, batch sizes and
``*_every`` intervals count 1, a float ``*_s`` in seconds counts; a chapter's
``TIME_EXPONENTS`` may say otherwise). Knobs that act on different sections of a chapter
multiply, so several grown together give an upper estimate; for one knob grown (more
epochs, more seeds) it is the proportional time. ``full`` and GPUs have no estimate
(nothing measured to scale from) and no cap. ``benchmarks/book_build.py`` prints measured /
estimated per chapter.
"""
from __future__ import annotations

import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Mapping

#: Integer knobs without a declared limit may be at most this many times the largest
#: value that any profile of the chapter uses.
FALLBACK_FACTOR = 100
DEFAULT_MAX_HOURS = 12.0
CONFIRM_ENV = "OVERPARAM_CONFIRM_LONG"
MAX_HOURS_ENV = "OVERPARAM_MAX_HOURS"
PROBE_CACHE_ENV = "OVERPARAM_PROBE_CACHE"

#: CPU seconds of each chapter's kernel at ``quick`` on the reference machine (the project's
#: shared 2-core CPU, torch 2.13, one thread per chapter, ``book --jobs 2`` from a clean
#: cache, an otherwise idle machine, 2026-12-06; the run record's ``cpu_s``), keyed by the chapter's package name; and
#: the probe's seconds (:func:`probe_seconds`) on that machine at the start of that run.
#: Measure again (``benchmarks/book_build.py``) when a chapter's work changes.
MEASURED = {
    "exploration": 19.0, "hessian_spectra": 31.0, "double_descent": 53.0,
    "variance_metrics": 28.0, "flexible_size": 41.0, "sparsifiers": 14.0,
    "lottery_tickets": 32.0, "connectivity": 29.0,
}
REFERENCE_PROFILE = "quick"
#: CPU seconds of each chapter's kernel at ``long`` (one thread; the run records'
#: ``cpu_s`` of the committed edition ``book/published/long``, 2026-12-06).
MEASURED_LONG = {
    "exploration": 37.0, "hessian_spectra": 162.0, "double_descent": 142.0,
    "variance_metrics": 799.0, "flexible_size": 489.0, "sparsifiers": 283.0,
    "lottery_tickets": 173.0, "connectivity": 333.0,
}
#: Profile -> chapter -> reference CPU seconds: the profiles a run can be estimated from.
REFERENCES = {REFERENCE_PROFILE: MEASURED, "long": MEASURED_LONG}
REFERENCE_PROBE_S = 0.060


# ------------------------------------------------------------------------- the chapter

def _declares(mod: Any) -> bool:
    return hasattr(mod, "LIMITS") or hasattr(mod, "estimate_cost")


def chapter_module(profiles: Mapping[str, Any]) -> Any:
    """The module that declares a profile table's limits (None if none is loaded): the
    outermost of the config class's module and its parent packages holding ``LIMITS`` or
    ``estimate_cost`` (the chapter's package, which gathers what its submodules declare);
    else a loaded module holding them beside this very ``PROFILES`` (a chapter whose config
    class lives in a shared module)."""
    name, found = type(next(iter(profiles.values()))).__module__, None
    while name:
        mod = sys.modules.get(name)
        if mod is not None and _declares(mod):
            found = mod
        name = name.rpartition(".")[0]
    if found is not None:
        return found
    for mod in list(sys.modules.values()):
        if getattr(mod, "PROFILES", None) is profiles and _declares(mod):
            return mod
    return None


def chapter_key(module: Any) -> str:
    """``sparsifiers`` for ``overparam.chapters.sparsifiers`` (the key of :data:`MEASURED`)."""
    return module.__name__.rsplit(".", 1)[-1] if module is not None else ""


# ----------------------------------------------------------------------------- limits

def _ints(value: Any) -> list[int] | None:
    """The integers of an int or a list/tuple of ints (None if it is not one)."""
    vals = value if isinstance(value, (list, tuple)) else [value]
    if vals and all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
        return list(vals)
    return None


def check_limits(module: Any, profiles: Mapping[str, Any], overrides: Mapping[str, Any]) -> None:
    """Integer knobs at most their declared ``LIMITS`` or FALLBACK_FACTOR x the profiles' largest."""
    limits = dict(getattr(module, "LIMITS", {}) or {})
    for name, value in overrides.items():
        ints = _ints(value)
        if ints is None:
            continue
        if name in limits:
            bound, why = int(limits[name]), f"the chapter's limit for {name}"
        else:
            seen = [max(v) for cfg in profiles.values()
                    if (v := _ints(getattr(cfg, name, None))) is not None and v]
            if not seen:
                continue
            bound = FALLBACK_FACTOR * max(max(seen), 1)
            why = f"{FALLBACK_FACTOR} x the largest value of any profile ({max(seen)})"
        if max(ints) > bound:
            raise ValueError(f"{name}={value!r} is too large: at most {bound} ({why})")


# ----------------------------------------------------------------------------- memory

def machine_memory(device: Any) -> tuple[int, str]:
    """Bytes of memory a run on ``device`` (a torch.device) can use, and what they are."""
    if getattr(device, "type", "cpu") == "cuda":
        import torch

        return int(torch.cuda.get_device_properties(device).total_memory), "GPU memory"
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")), "memory"
    except (ValueError, OSError, AttributeError):  # not POSIX: no bound from here
        return 2**62, "memory"


def _named(overrides: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in sorted(overrides.items())) or "the profile"


def check_memory(module: Any, cfg: Any, device: Any, overrides: Mapping[str, Any]) -> None:
    """The chapter's ``estimate_cost(cfg)`` (bytes) within the device's memory."""
    estimate = getattr(module, "estimate_cost", None)
    if estimate is None:
        return
    need = float(estimate(cfg))
    have, what = machine_memory(device)
    if need > have:
        raise ValueError(f"{_named(overrides)} would need about {need / 1e9:.1f} GB, more than "
                         f"this machine's {have / 1e9:.1f} GB of {what}; choose smaller values")


# ------------------------------------------------------------------------------- time

def _probe_cache() -> Path:
    env = os.environ.get(PROBE_CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "overparam" / "probe.json"


def probe_seconds(device: Any = None, repeats: int = 3) -> float:
    """Seconds (best of ``repeats``) of a fixed workload like the engine's: forward passes of
    16 stacked MLPs (40-64-10, batches of 100), 200 times. CPU time on a CPU (so another
    program's load does not count), wall time on a GPU. No training here: the engine owns that.
    """
    import torch

    device = torch.device("cpu") if device is None else device
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 100, 40, generator=g).to(device)
    w1 = torch.randn(16, 40, 64, generator=g).to(device)
    w2 = torch.randn(16, 64, 10, generator=g).to(device)
    cpu = device.type == "cpu"
    best = float("inf")
    for _ in range(repeats):
        if not cpu:
            torch.cuda.synchronize(device)
        t0 = time.process_time() if cpu else time.perf_counter()
        for _ in range(200):
            h = torch.relu(torch.bmm(x, w1))
            torch.bmm(h, w2).logsumexp(-1).sum()
        if not cpu:
            torch.cuda.synchronize(device)
        best = min(best, (time.process_time() if cpu else time.perf_counter()) - t0)
    return best


def machine_factor(device: Any = None) -> float:
    """This machine's probe time over the reference machine's (2.0: half as fast).

    Measured once per machine, device and torch version, and cached in
    ``~/.cache/overparam/probe.json`` (``$OVERPARAM_PROBE_CACHE``).
    """
    import torch  # noqa: F401 - its version is part of the key

    dev = "cpu" if device is None else str(getattr(device, "type", device))
    key = f"{platform.node()}|{dev}|{torch.__version__}"
    path = _probe_cache()
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        cache = {}
    if key not in cache:
        cache[key] = probe_seconds(device)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}")
            tmp.write_text(json.dumps(cache, indent=1))
            os.replace(tmp, path)
        except OSError:
            pass  # an unwritable home: measure again next time
    return float(cache[key]) / REFERENCE_PROBE_S


def _ratio(name: str, new: Any, old: Any) -> float:
    """How much knob ``name`` grew from ``old`` to ``new`` (1 for a knob that does not size
    work: a float, a string, a flag, a batch size (the same examples per epoch in fewer
    steps), an interval ``*_every``; but a float ``*_s`` is seconds, and counts)."""
    if isinstance(new, bool) or isinstance(old, bool):
        return 1.0
    if name.endswith("_every") or name == "batch_size" or name.endswith("_batch"):
        return 1.0
    if name.endswith("_s") and isinstance(new, (int, float)) and isinstance(old, (int, float)):
        return new / old if old > 0 else 1.0
    if isinstance(new, int) and isinstance(old, int):
        return new / old if old > 0 else 1.0
    if isinstance(new, (list, tuple)) and isinstance(old, (list, tuple)):
        n, o = _ints(list(new)), _ints(list(old))
        if n is not None and o is not None and sum(o) > 0:
            return sum(n) / sum(o)
        return len(new) / len(old) if len(old) else 1.0
    return 1.0


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A chapter's estimated seconds on this machine, and from what."""

    chapter: str
    seconds: float
    growth: float          # product of the knobs' ratios to the reference profile
    factor: float          # this machine's speed relative to the reference machine
    device: str

    def describe(self) -> str:
        return f"~ {duration(self.seconds)} on this machine ({self.device})"


def estimate_seconds(module: Any, profiles: Mapping[str, Any], profile: str, cfg: Any,
                     device: Any = None) -> Estimate | None:
    """The estimated seconds of a chapter at profile ``profile`` changed to ``cfg`` on
    ``device``; None where nothing was measured to scale from: a chapter without a
    reference time, another profile than the reference's (``full`` differs from ``quick``
    in too many knobs at once for their product to mean anything), or a GPU."""
    key = chapter_key(module)
    dev_type = "cpu" if device is None else str(getattr(device, "type", device))
    table = REFERENCES.get(profile, {})
    if key not in table or dev_type != "cpu" or profile not in profiles:
        return None
    ref = profiles[profile]
    exponents = dict(getattr(module, "TIME_EXPONENTS", {}) or {})
    growth = 1.0
    for f in dataclasses.fields(cfg):
        new, old = getattr(cfg, f.name), getattr(ref, f.name, None)
        if new == old:
            continue
        if f.name in exponents:
            try:
                growth *= (float(new) / float(old)) ** exponents[f.name] if old else 1.0
            except (TypeError, ValueError):
                growth *= _ratio(f.name, new, old) ** exponents[f.name]
        else:
            growth *= _ratio(f.name, new, old)
    factor = machine_factor(device)
    dev = "cpu" if device is None else str(device)
    return Estimate(key, table[key] * growth * factor, growth, factor, dev)


def duration(seconds: float) -> str:
    """``45 s``, ``3 min 20 s``, ``6 h 15 min``, ``12 days``."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    if s < 3 * 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s / 86400:.0f} days"


def max_hours() -> float:
    """The cap in hours: ``$OVERPARAM_MAX_HOURS`` (the CLI's ``--max-hours``) or 12."""
    text = os.environ.get(MAX_HOURS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_HOURS
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{MAX_HOURS_ENV}={text!r} is not allowed; expected a number of hours > 0") from None
    if not value > 0:
        raise ValueError(f"{MAX_HOURS_ENV}={text!r} is not allowed; expected a number of hours > 0")
    return value


def confirmed() -> bool:
    """``$OVERPARAM_CONFIRM_LONG`` is set to 1/true/yes (the CLI's ``--yes`` sets it)."""
    return os.environ.get(CONFIRM_ENV, "").strip().lower() in ("1", "true", "yes")


def check_time(est: Estimate | None, profile: str, overrides: Mapping[str, Any]) -> None:
    """Refuse an estimate over the cap unless confirmed: one line naming it and how to go on."""
    cap = max_hours()
    if est is None or est.seconds <= cap * 3600 or confirmed():
        return
    raise ValueError(
        f"{est.chapter} at {profile} with {_named(overrides)} would take {est.describe()}, "
        f"over the {cap:g} h cap; to run it anyway add --yes to python -m overparam, or set "
        f"{CONFIRM_ENV}=1 for papermill (or raise the cap: --max-hours / {MAX_HOURS_ENV})")


def check(profiles: Mapping[str, Any], profile: str, cfg: Any, overrides: Mapping[str, Any],
          device: Any = None) -> None:
    """Every size check of a resolved profile (limits are checked by the caller first)."""
    module = chapter_module(profiles)
    if module is None:
        return
    check_memory(module, cfg, device, overrides)
    check_time(estimate_seconds(module, profiles, profile, cfg, device), profile, overrides)
