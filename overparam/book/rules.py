"""Every chapter's declared rules, collected for the calibration page and the tests.

A chapter's verdicts module declares its claims once, as an
:class:`overparam.claims.RuleBook` exported as ``RULES`` by the chapter's module; this
module reads them through the chapter registry (the base layer never imports a chapter).
"""
from __future__ import annotations

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


def calibration_rows(draws: int = 1000, profiles=CALIBRATED_PROFILES, seed: int = 0) -> list[RuleCalibration]:
    """Calibrate every chapter's rules at each of ``profiles`` it has, in chapter order."""
    return [row for cr in chapter_rules()
            for row in calibrate_book(cr.book, cr.profiles, cr.name, profiles, draws, seed)]
