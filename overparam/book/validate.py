"""Every input of a run checked once, before anything executes or is written.

:func:`validate_request` is the one place the CLI checks ``--profile``, ``--device``,
``--seed`` and ``-p`` values (through :mod:`overparam.config`'s check functions); a bad
value raises one ValueError naming the parameter and the allowed values, which the CLI
prints as ``error: ...`` with exit code 2.

Beyond types, it resolves each chapter's profile with the values given through
:func:`overparam.config.resolve_profile`, which is where the notebook resolves it too: the
config's own checks, the chapter's size limits, its memory and its estimated time against
the cap (:mod:`overparam.budget`) are the same for ``python -m overparam`` and for papermill.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping, Sequence

from .. import budget, config
from .registry import Chapter

#: Names every chapter's parameters cell holds; they are set with --profile/--device/--seed.
COMMON_PARAMETERS = ("profile", "device", "seed")
#: Largest seed: the kernels derive seed + k for k < a few thousand and torch takes < 2**64.
MAX_SEED = 2**63 - 1


def parse_value(text: str) -> Any:
    """Parse a ``-p NAME VALUE`` value as a YAML literal (``3``, ``0.5``, ``[1, 2]``, ``null``).

    ``""`` and ``null`` give None, which :func:`clean_params` drops (as if no ``-p``).
    """
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def clean_params(pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """``-p`` pairs parsed; a value of None (``""``, ``null``) counts as no ``-p`` at all."""
    params: dict[str, Any] = {}
    for name, text in pairs:
        value = parse_value(text)
        if value is None:
            params.pop(name, None)
        else:
            params[name] = value
    return params


def check_seed(value: Any) -> int:
    """The seed as an int in ``0 .. 2**63 - 1`` (ValueError naming ``seed`` otherwise)."""
    if isinstance(value, str):
        value = parse_value(value)
    config.check_positive("seed", value, integer=True, allow_zero=True)
    if value > MAX_SEED:
        raise ValueError(f"seed={value!r} is not allowed; expected an integer in 0 .. 2**63 - 1")
    return int(value)


def notebook_parameters(nb_path: Path) -> list[str]:
    """Names assigned in a notebook's ``parameters`` cell, in order.

    Read with :mod:`ast` rather than papermill's ``inspect_notebook``, whose line parser
    skips some valid lines (e.g. a trailing comment holding ``..``).
    """
    import ast

    import nbformat

    nb = nbformat.read(str(nb_path), as_version=4)
    names: list[str] = []
    for cell in nb.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            for stmt in ast.parse(cell.source).body:
                if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                    names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def _check_type(name: str, value: Any, example: Any) -> None:
    """The ``-p`` value has the kind of the profile's value (list for a list, ...)."""
    if example is None:
        return
    if isinstance(example, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{name}={value!r} is not allowed; expected a list like "
                             f"{list(example)!r}")
        return
    if isinstance(example, bool):
        ok = isinstance(value, bool)
    elif isinstance(example, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(example, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif isinstance(example, str):
        ok = isinstance(value, str)
    else:
        return
    if not ok:
        kind = {bool: "true or false", int: "an integer", float: "a number",
                str: "a string"}[type(example)]
        raise ValueError(f"{name}={value!r} is not allowed; expected {kind}"
                         + (f" like {example!r}" if example != "" else ""))


def validate_request(chapters: Sequence[Chapter], notebooks: Path, profile: str, device: str,
                     seed: Any, params: Mapping[str, Any],
                     names: Sequence[str] = ()) -> dict[str, budget.Estimate | None]:
    """Check every input of a run before anything executes or is written.

    Parameters
    ----------
    chapters : sequence of Chapter
        The chapters to run (resolved by :func:`registry.resolve`).
    notebooks : Path
        Folder of the chapter sources.
    profile, device : str
        Checked against :data:`config.PROFILES` and :data:`config.DEVICES`; ``cuda`` must
        be present.
    seed : int
        An integer in ``0 .. 2**63 - 1``.
    params : mapping
        ``-p`` values (parsed, None already dropped). Each must be a parameter of every
        chapter's notebook; a profile field is type-checked against the profile's value,
        validated by ``config.resolve_profile`` (the config's ``__post_init__``, the
        chapter's ``LIMITS`` or the fallback, its ``estimate_cost`` and its time estimate).
    names : sequence of str
        Every ``-p`` name given, including those whose empty value was dropped: an empty
        value counts as no ``-p``, but a name that is no parameter is still an error.

    Returns
    -------
    dict
        Per chapter name, its time estimate on this machine (None: no reference time).

    Raises
    ------
    ValueError
        One message naming the parameter and the allowed values.
    """
    config.check_choice("profile", profile, config.PROFILES)
    config.resolve_device(device)
    check_seed(seed)
    estimates: dict[str, budget.Estimate | None] = {}
    asked = list(dict.fromkeys([*params, *names]))  # names given an empty value count too
    for name in asked:
        if name in COMMON_PARAMETERS:
            raise ValueError(f"-p {name}: set it with --{name}, not -p")
    for chapter in chapters:
        names = notebook_parameters(notebooks / chapter.notebook)
        knobs = [n for n in names if n not in COMMON_PARAMETERS]
        for name in asked:
            if name not in names:
                raise ValueError(f"-p {name} is not a parameter of chapter {chapter.name}; "
                                 f"choose one of: {', '.join(knobs) or '(none)'}")
        module = chapter.load()
        table = getattr(module, "PROFILES", None) if module is not None else None
        fields = ({f.name for f in dataclasses.fields(next(iter(table.values())))}
                  if table else set())
        extra_types = dict(getattr(module, "EXTRA_PARAMETERS", {}) or {})
        for name, value in params.items():
            if name in fields:
                continue
            kind = extra_types.get(name, str if name.endswith(("_dir", "_path")) else None)
            if kind is not None and not isinstance(value, kind):
                raise ValueError(f"{name}={value!r} is not allowed for chapter {chapter.name}; "
                                 f"expected a {kind.__name__}")
        if not table:
            estimates[chapter.name] = None
            continue
        overrides = {k: v for k, v in params.items() if k in fields}
        try:
            for k, v in overrides.items():
                _check_type(k, v, getattr(table[profile], k))
            cfg = config.resolve_profile(table, profile, device=device, **overrides)
        except (ValueError, TypeError) as err:
            raise ValueError(f"chapter {chapter.name}: {err}") from None
        estimates[chapter.name] = budget.estimate_seconds(
            budget.chapter_module(table), table, profile, cfg, config.resolve_device(device))
    return estimates
