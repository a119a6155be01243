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
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from scipy import stats as _st

from .adequacy import TrainState, check_footing
from .stats import Estimate, mean_of, paired, proportion, replicate_sd, welch  # noqa: F401 (re-exported)

REPRODUCED = "reproduced"          # the interval lies on the claim's side
NOT_REPRODUCED = "not reproduced"  # the interval lies on the other side: evidence against
INCONCLUSIVE = "inconclusive"      # the interval straddles the threshold (or too few seeds)
PARTLY = "partly"                  # compound claims only: the parts' verdicts differ
EXACT = "exact"                    # a closed-form quantity: computed, not estimated
UNDER_TRAINED = "under-trained"    # why-prefix: the arms failed the footing the rule needs
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, PARTLY, EXACT)
CLAIMS_MIME = "application/vnd.overparam.claims+json"


@dataclass(frozen=True)
class Claim:
    """One row of a chapter's claims table (``key`` is the rule's stable key)."""

    claim: str       # the claim, in the source's words or close to them
    source: str      # where it comes from (source file, paper)
    measured: float  # our point estimate
    ci_low: float    # 95 % interval of the estimate
    ci_high: float
    verdict: str     # one of VERDICTS, computed by a judge_* function
    rule: str        # the rule that produced the verdict, in words
    profile: str = ""
    seed: int = 0
    key: str = ""    # the rule's stable key (matches the claim across editions and runs)
    why: str = ""    # why the verdict is inconclusive (under-trained, censored...), if it is
    sd: float = float("nan")  # spread of one replicate behind the estimate (for power planning)


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
            f"<td style='color:{colour};font-weight:bold'>{shown_verdict(c.verdict, c.why)}</td>"
            f"<td>{html.escape(c.rule)}{'<br><i>' + html.escape(c.why) + '</i>' if c.why else ''}</td></tr>"
        )
    head = ("<tr><th>claim</th><th>source</th><th>measured [95 % CI]</th>"
            "<th>verdict</th><th>rule</th></tr>")
    return f"<table class='claims'>{head}{''.join(rows)}</table>"


def _measured(c: Claim) -> str:
    if c.verdict == EXACT:
        return f"{c.measured:.4g} (exact)"
    if not math.isfinite(c.ci_low) or not math.isfinite(c.ci_high):
        return f"{c.measured:.3g} [no interval]"
    return f"{c.measured:.3g} [{c.ci_low:.3g}, {c.ci_high:.3g}]"


def shown_verdict(verdict: str, why: str = "") -> str:
    """The verdict as readers see it: "inconclusive: under-trained" when that is why."""
    if verdict == INCONCLUSIVE and why.startswith(UNDER_TRAINED):
        return f"{INCONCLUSIVE}: {UNDER_TRAINED}"
    return verdict


def _finite_or_none(v):
    return v if not isinstance(v, float) or math.isfinite(v) else None


def claims_json(claims: Sequence[Claim]) -> list[dict]:
    """The claims as a list of plain dicts (the ``<chapter>.claims.json`` format).

    Strict JSON: an undefined number is ``null``, and the row's ``why`` says why.
    """
    out = []
    for c in claims:
        d = asdict(c)
        row = {"key": d.pop("key")} | {k: _finite_or_none(v) for k, v in d.items()}
        if any(row[k] is None for k in ("measured", "ci_low", "ci_high")) and not row["why"]:
            row["why"] = "no interval: fewer than two finite replicates behind the estimate"
        out.append(row)
    return out


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
        text = [f"{shown_verdict(c.verdict, c.why):>15} | {c.claim}" for c in self.claims]
        text += [f"{'not tested':>15} | {c} ({r})" for c, r in self.not_tested]
        return {
            "text/html": claims_html(self.claims) + self._not_tested_html(),
            "text/plain": "\n".join(text),
            CLAIMS_MIME: claims_json(self.claims),
        }

    def to_json(self) -> str:
        """Serialise as the ``claims.json`` text."""
        return json.dumps(claims_json(self.claims), indent=1, allow_nan=False)


# =========================================================================== the rule form
#
# Every claim of every chapter is one :class:`Rule`: a stable key, the claim's text, its
# source document, the rule in words, a judge (a pure function from the claim's
# measurements to a :class:`Judgement`), and a calibration :class:`Sim` (simulated
# measurements with no effect, the claimed effect and the reversed effect). A chapter's
# verdicts module declares its rules in one :class:`RuleBook` and writes one function that
# turns its results into the measurements, by rule key; ``RuleBook.table`` judges them.
# Adding a claim is one entry plus one measurement. The calibration
# (:mod:`overparam.calibration`) reads the same declarations.


@dataclass(frozen=True)
class Judgement:
    """What a judge returns: the verdict, the estimate it rests on, a picked point, why."""

    verdict: str
    estimate: Estimate
    picked: object = None   # a point picked from the data (on other seeds), if any
    why: str = ""           # why inconclusive, when it is for a reason beyond the interval


# --- judges: measurements -> Judgement. Each exposes ``edges``: where its null must sit.

@dataclass(frozen=True)
class Above:
    """Claim "the quantity exceeds ``threshold``": :func:`judge_above` on ``estimate(m)``."""

    threshold: float = 0.0
    estimate: Callable[[Any], Estimate] = mean_of

    @property
    def edges(self) -> tuple[float, ...]:
        return (self.threshold,)

    def __call__(self, m) -> Judgement:
        e = self.estimate(m)
        return Judgement(judge_above(e, self.threshold), e)


@dataclass(frozen=True)
class Below(Above):
    """Claim "the quantity is below ``threshold``": :func:`judge_below` on ``estimate(m)``."""

    def __call__(self, m) -> Judgement:
        e = self.estimate(m)
        return Judgement(judge_below(e, self.threshold), e)


@dataclass(frozen=True)
class Near:
    """Claim "the quantity is about ``target``" (within ``tol``): :func:`judge_near`."""

    target: float
    tol: float
    estimate: Callable[[Any], Estimate] = mean_of

    @property
    def edges(self) -> tuple[float, ...]:
        return (self.target - self.tol, self.target + self.tol)

    def __call__(self, m) -> Judgement:
        e = self.estimate(m)
        return Judgement(judge_near(e, self.target, self.tol), e)


@dataclass(frozen=True)
class AllOf:
    """Compound claim "A and B and ...": ``m`` is a tuple, part i judged by ``parts[i]``;
    the verdict is :func:`judge_all` of the parts, the estimate the ``shown`` part's."""

    parts: tuple
    shown: int = 0

    @property
    def edges(self) -> tuple[float, ...]:
        return self.parts[self.shown].edges

    def __call__(self, m) -> Judgement:
        js = [p(x) for p, x in zip(self.parts, m, strict=True)]
        return Judgement(judge_all([j.verdict for j in js]), js[self.shown].estimate,
                         why="; ".join(j.why for j in js if j.why))


@dataclass(frozen=True)
class Custom:
    """A judge written by the chapter: ``fn(m) -> Judgement``; ``edges`` where the null of
    its estimate sits (the threshold(s) its verdict turns on); optional ``many(ms) ->
    (verdicts, means)``, ``fn`` on many at once (:func:`overparam.calibration.judge_many`)."""

    fn: Callable[[Any], Judgement]
    edges: tuple = ()
    many: Callable[[Sequence], tuple] | None = None

    def __call__(self, m) -> Judgement:
        return self.fn(m)


# --- calibration declaration

Sampler = Callable[[np.random.Generator, int, Any], Any]   # (rng, replicates, profile config) -> measurements


@dataclass(frozen=True)
class Sim:
    """Simulated measurements of a rule at a profile's size: each sampler is called as
    ``sampler(rng, n, cfg)`` with ``n`` replicates and ``cfg`` the profile's config.

    ``null``: no effect, the rule's estimate centred on its threshold (``Judge.edges``),
    noise as large as the chapter's measured spread; ``effect``: the source's (or a stated
    minimal) effect; ``against``: that effect reversed. ``note`` says where noise and
    effect come from. ``replicates(cfg)`` overrides the chapter's count of replicates.
    """

    null: Sampler
    effect: Sampler
    against: Sampler
    note: str
    replicates: Callable[[Any], int] | None = None


@dataclass(frozen=True)
class Rule:
    """One claim under test.

    Parameters
    ----------
    key : str
        Stable key, unique in the chapter (``[a-z0-9_]+``); carried in the claims files,
        matched across editions.
    claim, source, text : str
        The claim (may hold ``{name}`` fields filled from the measurement's ``fmt``), its
        source document, the rule in words (also formatted).
    judge : callable
        ``judge(measurements) -> Judgement``; one of :class:`Above`, :class:`Below`,
        :class:`Near`, :class:`AllOf`, :class:`Custom`.
    sim : Sim or None
        Its calibration; ``None`` only for ``exact`` rows (closed forms, deterministic by
        design: ``exact_because`` says why the value cannot vary).
    footing : str, optional
        What the arms must satisfy (:data:`overparam.adequacy.FOOTINGS`); checked on the
        arms' :class:`~overparam.adequacy.TrainState` given with the measurement.
    off_at : tuple of str, optional
        Profiles at which the rule is not published (it cannot reach the power that
        profile needs within its budget); ``off_reason`` says why, in the table's
        "not tested" part. The calibration skips its power check there.
    """

    key: str
    claim: str
    source: str
    text: str
    judge: Callable[[Any], Judgement] | None = None
    sim: Sim | None = None
    footing: str | None = None
    exact_because: str = ""
    off_at: tuple = ()
    off_reason: str = ""

    def __post_init__(self):
        import re
        if self.off_at and not self.off_reason:
            raise ValueError(f"rule {self.key!r}: off_at={self.off_at!r} needs an off_reason")
        if not re.fullmatch(r"[a-z0-9_]+", self.key):
            raise ValueError(f"rule key={self.key!r} is not allowed; expected [a-z0-9_]+")
        if self.exact_because:
            if self.judge is not None or self.sim is not None:
                raise ValueError(f"rule {self.key!r}: an exact row has neither judge nor sim")
        elif self.judge is None or self.sim is None:
            raise ValueError(f"rule {self.key!r} needs a judge and a calibration sim "
                             "(or exact_because for a closed form)")

    @property
    def exact(self) -> bool:
        return bool(self.exact_because)


@dataclass
class Measured:
    """A rule's measurements with what the row needs besides them.

    ``value``: what the judge takes (for exact rows: the number); ``fmt``: fields of the
    claim and rule texts; ``arms``: name -> TrainState of the arms the rule compares.
    """

    value: Any
    fmt: Mapping[str, Any] = field(default_factory=dict)
    arms: Mapping[str, TrainState] = field(default_factory=dict)


@dataclass
class RuleBook:
    """A chapter's rules (in table order), its replicate count and its untested claims."""

    rules: list[Rule]
    replicates: Callable[[Any], int]
    not_tested: list[tuple[str, str]] = field(default_factory=list)
    footing_share: float = 1.0   # share of an arm's members that must meet its criterion
    #: key -> why the rule's verdict changes with scale (shown on the scale-agreement page
    #: when neither under-training nor power explains the change; name the figure)
    scale_notes: dict = field(default_factory=dict)

    def __post_init__(self):
        keys = [r.key for r in self.rules]
        dup = {k for k in keys if keys.count(k) > 1}
        if dup:
            raise ValueError(f"duplicate rule keys: {sorted(dup)}")

    def __iter__(self):
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def __getitem__(self, key: str) -> Rule:
        for r in self.rules:
            if r.key == key:
                return r
        raise KeyError(key)

    @property
    def calibrated(self) -> list[Rule]:
        return [r for r in self.rules if not r.exact]

    def judge(self, rule: Rule, measured) -> Judgement:
        """Judge one rule's measurements, with its footing checked first."""
        m = measured if isinstance(measured, Measured) else Measured(measured)
        j = rule.judge(m.value)
        if rule.footing and m.arms:
            short = check_footing(rule.footing, m.arms, min_share=self.footing_share)
            if short:
                return Judgement(INCONCLUSIVE, j.estimate, j.picked, f"{UNDER_TRAINED}: {short}")
        return j

    def row(self, rule: Rule, measured, profile: str = "", seed: int = 0) -> Claim:
        m = measured if isinstance(measured, Measured) else Measured(measured)
        fmt = dict(m.fmt)
        claim = rule.claim.format(**fmt) if fmt else rule.claim
        text = rule.text.format(**fmt) if fmt else rule.text
        if rule.exact:
            v = float(m.value)
            return Claim(claim, rule.source, v, v, v, EXACT, f"{text} (exact: {rule.exact_because})",
                         profile, int(seed), rule.key)
        j = self.judge(rule, m)
        e = j.estimate
        why = j.why
        if not why and not _usable(e):
            why = "no interval: fewer than two finite replicates behind the estimate"
        if j.verdict in (REPRODUCED, NOT_REPRODUCED) and not _usable(e):
            raise ValueError(f"rule {rule.key!r}: verdict {j.verdict!r} without a usable interval ({e})")
        verdict = j.verdict
        if verdict in (REPRODUCED, NOT_REPRODUCED) and e.low == e.high:
            # every replicate gave the same value: a quantity that cannot vary belongs in an
            # exact row (exact_because); one that should vary has a bug behind it
            verdict, why = INCONCLUSIVE, ("zero-width interval: every replicate gave the same value "
                                          f"{e.mean:.4g}; nothing to judge")
        if j.picked is not None:
            text = f"{text} (picked on other seeds: {j.picked})"
        return Claim(claim, rule.source, e.mean, e.low, e.high, verdict, text, profile,
                     int(seed), rule.key, why, replicate_sd(e))

    def table(self, measurements: Mapping[str, Any], run=None) -> "ClaimsTable":
        """The chapter's claims table: every rule with a measurement judged, in order; the
        rules without one listed as switched off in this profile, then ``not_tested``."""
        unknown = set(measurements) - {r.key for r in self.rules}
        if unknown:
            raise KeyError(f"measurements for undeclared rules: {sorted(unknown)}")
        profile = getattr(run, "profile", "") if run is not None else ""
        seed = getattr(run, "seed", 0) if run is not None else 0
        rows = [self.row(r, measurements[r.key], profile, seed) for r in self.rules
                if r.key in measurements and profile not in r.off_at]
        off = [(r.claim, "switched off in this profile") for r in self.rules if r.key not in measurements]
        off += [(r.claim, f"not published at {profile}: {r.off_reason}") for r in self.rules
                if r.key in measurements and profile in r.off_at]
        return ClaimsTable(rows, not_tested=off + list(self.not_tested))
