"""Claims under test: measured estimates turned into computed verdicts.

Every chapter ends with a table ``claim · source · measured · verdict``. The verdict is
computed here from a confidence interval and a stated rule; nothing is typed by hand.
The table is shown in the notebook as HTML and carried in the same output as JSON
(mime type :data:`CLAIMS_MIME`), from which ``overparam.book`` writes
``book/chapters/<chapter>.claims.json`` for the scorecard page and the tests.
"""
from __future__ import annotations

import html
import json
import math
from dataclasses import asdict, dataclass
from typing import Sequence

from .stats import Estimate

REPRODUCED = "reproduced"          # the interval lies on the claim's side
NOT_REPRODUCED = "not reproduced"  # the interval lies on the other side: evidence against
INCONCLUSIVE = "inconclusive"      # the interval straddles the threshold (or too few seeds)
PARTLY = "partly"                  # compound claims only: the parts' verdicts differ
EXACT = "exact"                    # a closed-form quantity: computed, not estimated
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, PARTLY, EXACT)
CLAIMS_MIME = "application/vnd.overparam.claims+json"


@dataclass(frozen=True)
class Claim:
    """One row of a chapter's claims table."""

    claim: str       # the claim, in the source's words or close to them
    source: str      # where it comes from (source file, paper)
    measured: float  # our point estimate
    ci_low: float    # 95 % interval of the estimate
    ci_high: float
    verdict: str     # one of VERDICTS, computed by a judge_* function
    rule: str        # the rule that produced the verdict, in words
    profile: str = ""
    seed: int = 0


def _usable(est: Estimate) -> bool:
    """An interval a verdict can rest on: finite ends, at least two samples behind it."""
    return est.n >= 2 and all(math.isfinite(v) for v in (est.mean, est.low, est.high))


def judge_above(est: Estimate, threshold: float) -> str:
    """Verdict for a claim "the quantity exceeds ``threshold``".

    reproduced: the whole interval lies above; not reproduced: the whole interval lies
    at or below it; inconclusive: the interval straddles it, or the estimate rests on
    fewer than two samples or is not finite.
    """
    if not _usable(est):
        return INCONCLUSIVE
    if est.low > threshold:
        return REPRODUCED
    if est.high <= threshold:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def judge_below(est: Estimate, threshold: float) -> str:
    """Verdict for a claim "the quantity is below ``threshold``" (mirror of judge_above)."""
    flipped = Estimate(-est.mean, -est.high, -est.low, est.n)
    return judge_above(flipped, -threshold)


def judge_near(est: Estimate, target: float, tol: float) -> str:
    """Verdict for a claim "the quantity is about ``target``" (within ``tol``).

    reproduced: the whole interval lies in [target - tol, target + tol] (an equivalence
    test); not reproduced: the interval misses the band; inconclusive: it overlaps the
    band's edge (or too few samples).
    """
    if not _usable(est):
        return INCONCLUSIVE
    lo, hi = target - tol, target + tol
    if lo <= est.low and est.high <= hi:
        return REPRODUCED
    if est.high < lo or est.low > hi:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def judge_all(verdicts: Sequence[str]) -> str:
    """Verdict of a compound claim "A and B and ..." from its parts' verdicts.

    All parts agree: their verdict. A part not reproduced and none reproduced: not
    reproduced. Some parts reproduced, others not (or inconclusive): partly. Otherwise
    inconclusive.
    """
    parts = set(verdicts)
    if not parts or not parts <= {REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, EXACT}:
        raise ValueError(f"judge_all needs part verdicts among reproduced / not reproduced / "
                         f"inconclusive / exact, got {sorted(parts)}")
    parts = {REPRODUCED if v == EXACT else v for v in parts}
    if len(parts) == 1:
        return parts.pop()
    if REPRODUCED in parts:
        return PARTLY
    return NOT_REPRODUCED if NOT_REPRODUCED in parts else INCONCLUSIVE


def make_claim(claim: str, source: str, est: Estimate, verdict: str, rule: str,
               profile: str = "", seed: int = 0) -> Claim:
    """Build a :class:`Claim` from an estimate and a computed verdict.

    A verdict other than ``exact`` needs an interval from at least two samples (or it
    must say ``inconclusive``); ``exact`` needs a zero-width interval (a closed form).
    """
    if verdict not in VERDICTS:
        raise ValueError(f"verdict={verdict!r} is not allowed; choose one of: {VERDICTS}")
    if verdict == EXACT and not (est.low == est.mean == est.high):
        raise ValueError("verdict 'exact' is for closed-form quantities (zero-width interval)")
    if verdict in (REPRODUCED, NOT_REPRODUCED) and not _usable(est):
        raise ValueError(f"verdict {verdict!r} needs an interval from >= 2 finite samples, got {est}")
    return Claim(claim, source, est.mean, est.low, est.high, verdict, rule, profile, int(seed))


def exact_claim(claim: str, source: str, value: float, rule: str, profile: str = "",
                seed: int = 0) -> Claim:
    """A row for a closed-form quantity: verdict ``exact``, the value as its own interval."""
    v = float(value)
    return make_claim(claim, source, Estimate(v, v, v, 1), EXACT, rule, profile, seed)


_COLOURS = {REPRODUCED: "#1a7f37", PARTLY: "#9a6700", NOT_REPRODUCED: "#cf222e",
            INCONCLUSIVE: "#57606a", EXACT: "#0969da"}


def claims_html(claims: Sequence[Claim]) -> str:
    """Render claims as an HTML table (claim · source · measured [95 % CI] · verdict · rule)."""
    rows = []
    for c in claims:
        colour = _COLOURS[c.verdict]
        rows.append(
            "<tr>"
            f"<td>{html.escape(c.claim)}</td><td>{html.escape(c.source)}</td>"
            f"<td>{_measured(c)}</td>"
            f"<td style='color:{colour};font-weight:bold'>{c.verdict}</td>"
            f"<td>{html.escape(c.rule)}</td></tr>"
        )
    head = ("<tr><th>claim</th><th>source</th><th>measured [95 % CI]</th>"
            "<th>verdict</th><th>rule</th></tr>")
    return f"<table class='claims'>{head}{''.join(rows)}</table>"


def _measured(c: Claim) -> str:
    if c.verdict == EXACT:
        return f"{c.measured:.4g} (exact)"
    return f"{c.measured:.3g} [{c.ci_low:.3g}, {c.ci_high:.3g}]"


def claims_json(claims: Sequence[Claim]) -> list[dict]:
    """The claims as a list of plain dicts (the ``<chapter>.claims.json`` format)."""
    return [asdict(c) for c in claims]


class ClaimsTable:
    """Notebook display of a claims table: HTML for readers, JSON for the book tooling.

    ``not_tested`` lists the source's remaining claims as ``(claim, reason)`` pairs; they
    are shown under "From the source, not tested here" and carry no verdict.
    """

    def __init__(self, claims: Sequence[Claim], not_tested: Sequence[tuple[str, str]] = ()):
        self.claims = list(claims)
        self.not_tested = [(str(c), str(r)) for c, r in not_tested]

    def _not_tested_html(self) -> str:
        if not self.not_tested:
            return ""
        rows = "".join(f"<tr><td>{html.escape(c)}</td><td>{html.escape(r)}</td></tr>"
                       for c, r in self.not_tested)
        return ("<p><b>From the source, not tested here</b></p><table class='claims-untested'>"
                f"<tr><th>claim</th><th>why not</th></tr>{rows}</table>")

    def _repr_mimebundle_(self, include=None, exclude=None):
        text = [f"{c.verdict:>15} | {c.claim}" for c in self.claims]
        text += [f"{'not tested':>15} | {c} ({r})" for c, r in self.not_tested]
        return {
            "text/html": claims_html(self.claims) + self._not_tested_html(),
            "text/plain": "\n".join(text),
            CLAIMS_MIME: claims_json(self.claims),
        }

    def to_json(self) -> str:
        """Serialise as the ``claims.json`` text."""
        return json.dumps(claims_json(self.claims), indent=1)
