"""Every chapter's declared rules, collected for the calibration page and the tests.

A chapter's verdicts module declares its claims once, as an
:class:`overparam.claims.RuleBook` exported as ``RULES`` by the chapter's module; this
module reads them through the chapter registry (the base layer never imports a chapter).
"""
from __future__ import annotations

import html
from dataclasses import dataclass
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


def chapter_rules(table=None) -> list[ChapterRules]:
    """The RuleBook of every registered chapter that declares one, in chapter order."""
    found = []
    for ch in (registry.chapters() if table is None else table):
        mod = ch.load()
        book = getattr(mod, "RULES", None) if mod is not None else None
        if isinstance(book, RuleBook):
            found.append(ChapterRules(ch.name, book, getattr(mod, "PROFILES", {})))
    return found


def profiles_shown(paths) -> tuple[str, ...]:
    """The profiles the calibration page shows: ``quick`` and ``long`` always, ``full`` when
    its edition is in this checkout (its rules' power then matters to a reader)."""
    from . import edition

    has_full = bool(edition.read_published(paths, edition.edition_dir(paths, "full")))
    return tuple(p for p in CALIBRATED_PROFILES if p != "full" or has_full)


def calibration_rows(draws: int = 1000, profiles=CALIBRATED_PROFILES, seed: int = 0) -> list[RuleCalibration]:
    """Calibrate every chapter's rules at each of ``profiles`` it has, in chapter order."""
    return [row for cr in chapter_rules()
            for row in calibrate_book(cr.book, cr.profiles, cr.name, profiles, draws, seed)]


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
        f"power ≥ {TARGET_POWER:.0%} for every rule they publish.", ""]
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
            body.append(f"<tr><td><code>{key}</code> {html.escape(any_r.claim)}"
                        f"<br><span class='cal-note'>{note}</span></td>{cells}</tr>")
        lines += ['<table class="calibration">',
                  f"<thead><tr><th>rule · claim · noise and effect</th>{head}</tr></thead>",
                  f"<tbody>{''.join(body)}</tbody></table>", ""]
    if not by_chapter:
        lines += ["No chapter declares its rules yet.", ""]
    return "\n".join(lines) + "\n"


def calibration_json(rows: list[RuleCalibration]) -> str:
    """The rows as JSON (chapter, key, profile, n, null_rate, power, against_rate)."""
    import json

    return json.dumps([{"chapter": r.chapter, "key": r.key, "profile": r.profile, "n": r.n,
                        "null_rate": r.null_rate, "power": r.power, "against_rate": r.against_rate}
                       for r in rows], indent=1)
