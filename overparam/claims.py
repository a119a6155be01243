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
from dataclasses import asdict, dataclass
from typing import Sequence

from .stats import Estimate

REPRODUCED = "reproduced"
PARTLY = "partly"
NOT_REPRODUCED = "not reproduced"
VERDICTS = (REPRODUCED, PARTLY, NOT_REPRODUCED)
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


def judge_above(est: Estimate, threshold: float) -> str:
    """Verdict for a claim "the quantity exceeds ``threshold``".

    reproduced: the whole interval lies above; not reproduced: the point estimate is at
    or below it; partly: the estimate is above but the interval reaches the threshold.
    """
    if est.low > threshold:
        return REPRODUCED
    if est.mean <= threshold:
        return NOT_REPRODUCED
    return PARTLY


def judge_below(est: Estimate, threshold: float) -> str:
    """Verdict for a claim "the quantity is below ``threshold``" (mirror of judge_above)."""
    flipped = Estimate(-est.mean, -est.high, -est.low, est.n)
    return judge_above(flipped, -threshold)


def judge_near(est: Estimate, target: float, tol: float) -> str:
    """Verdict for a claim "the quantity is about ``target``" (within ``tol``).

    reproduced: the whole interval lies in [target - tol, target + tol]; partly: the point
    estimate does but the interval sticks out, or the interval overlaps the band;
    not reproduced: the interval misses the band.
    """
    lo, hi = target - tol, target + tol
    if lo <= est.low and est.high <= hi:
        return REPRODUCED
    if est.high < lo or est.low > hi:
        return NOT_REPRODUCED
    return PARTLY


def make_claim(claim: str, source: str, est: Estimate, verdict: str, rule: str,
               profile: str = "", seed: int = 0) -> Claim:
    """Build a :class:`Claim` from an estimate and a computed verdict."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict={verdict!r} is not allowed; choose one of: {VERDICTS}")
    return Claim(claim, source, est.mean, est.low, est.high, verdict, rule, profile, int(seed))


_COLOURS = {REPRODUCED: "#1a7f37", PARTLY: "#9a6700", NOT_REPRODUCED: "#cf222e"}


def claims_html(claims: Sequence[Claim]) -> str:
    """Render claims as an HTML table (claim · source · measured [95 % CI] · verdict · rule)."""
    rows = []
    for c in claims:
        colour = _COLOURS[c.verdict]
        rows.append(
            "<tr>"
            f"<td>{html.escape(c.claim)}</td><td>{html.escape(c.source)}</td>"
            f"<td>{c.measured:.3g} [{c.ci_low:.3g}, {c.ci_high:.3g}]</td>"
            f"<td style='color:{colour};font-weight:bold'>{c.verdict}</td>"
            f"<td>{html.escape(c.rule)}</td></tr>"
        )
    head = ("<tr><th>claim</th><th>source</th><th>measured [95 % CI]</th>"
            "<th>verdict</th><th>rule</th></tr>")
    return f"<table class='claims'>{head}{''.join(rows)}</table>"


def claims_json(claims: Sequence[Claim]) -> list[dict]:
    """The claims as a list of plain dicts (the ``<chapter>.claims.json`` format)."""
    return [asdict(c) for c in claims]


class ClaimsTable:
    """Notebook display of a claims table: HTML for readers, JSON for the book tooling."""

    def __init__(self, claims: Sequence[Claim]):
        self.claims = list(claims)

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {
            "text/html": claims_html(self.claims),
            "text/plain": "\n".join(f"{c.verdict:>15} | {c.claim}" for c in self.claims),
            CLAIMS_MIME: claims_json(self.claims),
        }

    def to_json(self) -> str:
        """Serialise as the ``claims.json`` text."""
        return json.dumps(claims_json(self.claims), indent=1)
