"""Every chapter's declared rules, collected for the calibration page and the tests.

A chapter's verdicts module declares its claims once, as an
:class:`overparam.claims.RuleBook` exported as ``RULES`` by the chapter's module; this
module reads them through the chapter registry (the base layer never imports a chapter).
"""
from __future__ import annotations

import hashlib
import html
import math
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..calibration import RuleCalibration, calibrate_book
from ..claims import RuleBook
from . import registry

#: Profiles whose calibration the book shows (in this order), when a chapter has them.
CALIBRATED_PROFILES = ("quick", "long", "full")


@dataclass(frozen=True)
class ChapterRules:
    """One chapter's rules and profiles."""

    name: str                      # NN_slug
    book: RuleBook
    profiles: Mapping[str, Any]
    module: str = ""               # the module that declares them (its code keys the cache)


def chapter_rules(table=None) -> list[ChapterRules]:
    """The RuleBook of every registered chapter that declares one, in chapter order."""
    found = []
    for ch in (registry.chapters() if table is None else table):
        mod = ch.load()
        book = getattr(mod, "RULES", None) if mod is not None else None
        if isinstance(book, RuleBook):
            found.append(ChapterRules(ch.name, book, getattr(mod, "PROFILES", {}), mod.__name__))
    return found


def profiles_shown(paths) -> tuple[str, ...]:
    """The profiles the calibration page shows: ``quick`` and ``long`` always, ``full`` when
    its edition is in this checkout (its rules' power then matters to a reader)."""
    from . import edition

    has_full = bool(edition.read_published(paths, edition.edition_dir(paths, "full")))
    return tuple(p for p in CALIBRATED_PROFILES if p != "full" or has_full)


def rules_fingerprint(cr: ChapterRules, draws: int, seed: int) -> str:
    """What a chapter's calibration depends on: the package's shared code and the chapter's
    own (:func:`.cache.package_fingerprint`), every file of the chapter's module (its
    measured ``spread.json`` included), numpy's and scipy's versions, the draws and the seed."""
    import importlib
    import json

    import numpy
    import scipy

    from . import cache

    h = hashlib.sha256(cache.package_fingerprint(chapter=cr.module).encode())
    origin = Path(getattr(importlib.import_module(cr.module), "__file__", "") or "")
    files = ([f for f in sorted(origin.parent.rglob("*")) if f.is_file() and "__pycache__" not in f.parts]
             if origin.name == "__init__.py" else [origin] if origin.is_file() else [])
    for f in files:
        h.update(f.relative_to(origin.parent).as_posix().encode())
        h.update(f.read_bytes())
    h.update(json.dumps([numpy.__version__, scipy.__version__, int(draws), int(seed)]).encode())
    return h.hexdigest()


def calibration_rows(draws: int = 1000, profiles=CALIBRATED_PROFILES, seed: int = 0,
                     cache_dir: Path | None = None) -> list[RuleCalibration]:
    """Calibrate every chapter's rules at each of ``profiles`` it has, in chapter order.

    With ``cache_dir``, a chapter's rows at a profile are read from ``<cache_dir>/<chapter>.json``
    when its :func:`rules_fingerprint` is the one stored there (the same code, spreads,
    libraries, draws and seed give the same rows: the draws come from a fixed seed), and
    computed and stored otherwise; a change to one chapter recomputes only that chapter.
    """
    rows = []
    for cr in chapter_rules():
        names = [p for p in profiles if p in cr.profiles]
        if cache_dir is None:
            rows += calibrate_book(cr.book, cr.profiles, cr.name, names, draws, seed)
            continue
        f = Path(cache_dir) / f"{cr.name}.json"
        fp = rules_fingerprint(cr, draws, seed)
        stored = _read_cache(f, fp)
        missing = [p for p in names if p not in stored]
        if missing:
            fresh = calibrate_book(cr.book, cr.profiles, cr.name, missing, draws, seed)
            stored.update({p: [r for r in fresh if r.profile == p] for p in missing})
            _write_cache(f, fp, stored)
        rows += [r for p in names for r in stored[p]]
    return rows


def _read_cache(f: Path, fingerprint: str) -> dict[str, list[RuleCalibration]]:
    import json

    try:
        data = json.loads(f.read_text())
    except (OSError, ValueError):
        return {}
    if data.get("fingerprint") != fingerprint:
        return {}
    return {p: [RuleCalibration(**r) for r in rs] for p, rs in data.get("profiles", {}).items()}


def _write_cache(f: Path, fingerprint: str, stored: Mapping[str, list[RuleCalibration]]) -> None:
    import dataclasses
    import json

    from .paths import write_atomic

    f.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(f, json.dumps({"fingerprint": fingerprint, "profiles": {
        p: [dataclasses.asdict(r) for r in rs] for p, rs in stored.items()}}, indent=1) + "\n")


def calibration_markdown(rows: list[RuleCalibration] | None = None, draws: int = 1000) -> str:
    """The page "How the verdicts are made": per chapter (in book order), each rule's
    false-positive rate and power at every profile it has, at that profile's replicates."""
    from ..calibration import MAX_AGAINST_RATE, MAX_NULL_RATE, TARGET_POWER

    rows = calibration_rows(draws) if rows is None else rows
    lines = [
        "# How the verdicts are made", "",
        "Each claim's rule is a function from per-replicate measurements to a verdict, declared once "
        "with its calibration. Below, each rule is run on "
        f"{draws} simulated data sets of three kinds at each profile's number of replicates: with **no "
        "effect** (the rule's estimate centred on its threshold; the rule may say *reproduced* in at most "
        f"{MAX_NULL_RATE:.0%} of them: the *false* column), with an effect of the **size the source claims** "
        "or a stated minimal effect (the share of *reproduced* is the rule's *power*), and with that effect "
        f"**reversed** (it may be called *reproduced* in at most {MAX_AGAINST_RATE:.0%}). Noise is the "
        "chapter's measured spread over seeds. Profiles that publish an edition (`long`, `full`) need "
        f"power ≥ {TARGET_POWER:.0%} for every rule they publish.", "",
        f"Each rate is a share of {draws} draws, so it carries a Monte Carlo standard error of "
        f"√(p(1 − p)/{draws}): {mc_se(MAX_NULL_RATE, draws):.1%} at a rate of {MAX_NULL_RATE:.0%}, "
        f"{mc_se(TARGET_POWER, draws):.1%} at {TARGET_POWER:.0%}, at most {mc_se(0.5, draws):.1%} "
        "(at 50 %).", ""]
    by_chapter: dict[str, list[RuleCalibration]] = {}
    for r in rows:
        by_chapter.setdefault(r.chapter, []).append(r)
    for chapter, rs in by_chapter.items():
        profiles = [p for p in CALIBRATED_PROFILES if any(r.profile == p for r in rs)]
        lines += [f"## {registry.chapter_number(chapter) or ''} · {chapter.split('_', 1)[-1].replace('_', ' ')}", ""]
        head = "".join(f"<th>{p}: n · false · power</th>" for p in profiles)
        body = []
        keys = list(dict.fromkeys(r.key for r in rs))
        for key in keys:
            per = {r.profile: r for r in rs if r.key == key}
            any_r = next(iter(per.values()))
            cells = "".join(
                (f"<td>{per[p].n} · {per[p].null_rate:.1%} · <b>{per[p].power:.0%}</b></td>" if p in per else "<td>-</td>")
                for p in profiles)
            note = html.escape(any_r.note)
            body.append(f"<tr><td><code>{key}</code> {html.escape(template_text(any_r.claim))}"
                        f"<br><span class='cal-note'>{note}</span></td>{cells}</tr>")
        lines += ['<table class="calibration">',
                  f"<thead><tr><th>rule · claim · noise and effect</th>{head}</tr></thead>",
                  f"<tbody>{''.join(body)}</tbody></table>", ""]
    if not by_chapter:
        lines += ["No chapter declares its rules yet.", ""]
    return "\n".join(lines) + "\n"


def template_text(text: str) -> str:
    """A claim's text as declared, for a page that has no run to fill it: each ``{field}``
    that a run's measurements fill in (a width, a count) is shown as ``⟨field⟩``, and the
    format's escaped braces as plain braces."""
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError:  # not a format string: show it as it is
        return text
    return "".join(lit + (f"⟨{field}⟩" if field is not None else "") for lit, field, _, _ in parts)


def mc_se(rate: float, draws: int) -> float:
    """Monte Carlo standard error of a rate measured as a share of ``draws`` draws."""
    return math.sqrt(rate * (1 - rate) / draws)


def calibration_json(rows: list[RuleCalibration]) -> str:
    """The rows as JSON (chapter, key, profile, n, null_rate, power, against_rate)."""
    import json

    return json.dumps([{"chapter": r.chapter, "key": r.key, "profile": r.profile, "n": r.n,
                        "null_rate": r.null_rate, "power": r.power, "against_rate": r.against_rate}
                       for r in rows], indent=1)
