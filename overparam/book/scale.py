"""Reading the editions side by side: the scale-agreement page and the synthesis.

- :func:`scale_markdown`: ``book/scale.md``, "Does the verdict hold at scale?": for every
  claim (matched by its rule's stable key), verdict and measured value in this build
  (``quick``) and in each committed edition (``long``, ``full``); the share of claims
  decided at both scales that agree, the claims first decided at the larger scale, and
  for every claim whose verdict changes, why: under-trained at the smaller scale (its row
  says so), under-powered there (the rule's power at that profile, from the calibration
  page), or an effect of scale that the chapter explains (``RuleBook.scale_notes``).
- :func:`synthesis_markdown`: ``book/synthesis.md``, "What over-parameterization buys":
  per theme, a short reading of what the measurements show at the largest scale present,
  its numbers pulled from the claims files, and one figure of themes x scale coloured by
  verdict.
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..claims import EXACT, INCONCLUSIVE, NOT_REPRODUCED, PARTLY, REPRODUCED, UNDER_TRAINED, VERDICTS
from . import registry
from .pages import _badge, _measured, _verdict_bar, align, published_beside
from .paths import Paths, chapter_title, write_atomic

DECIDED = (REPRODUCED, NOT_REPRODUCED)
#: Power below which an inconclusive or changed verdict is put down to too few replicates.
POWER_OK = 0.8
CALIBRATION_JSON = "calibration.json"


@dataclass
class Edition:
    """One column: a label (the profile), and per chapter its claims."""

    label: str
    chapters: dict[str, list[dict]]
    stale: dict[str, list[str]] = field(default_factory=dict)


def editions(paths: Paths) -> list[Edition]:
    """This build's claims (first), then every committed edition, in order of scale."""
    local = {}
    for f in sorted(paths.chapters.glob("*.claims.json")):
        try:
            local[f.name.removesuffix(".claims.json")] = list(json.loads(f.read_text()))
        except ValueError:
            continue
    prof = next((str(c.get("profile")) for cl in local.values() for c in cl if c.get("profile")), "this build")
    out = [Edition(prof, local)]
    for name, side in published_beside(paths).items():
        first = next(iter(side.values()))
        out.append(Edition(first.profile if first.profile == name else f"{first.profile} · {name}",
                           {ch: b.claims for ch, b in side.items()},
                           {ch: b.stale for ch, b in side.items() if b.stale}))
    return out


def _powers(paths: Paths) -> dict[tuple[str, str, str], float]:
    """(chapter, key, profile) -> power, from the calibration page's ``calibration.json``."""
    f = paths.root / "book" / CALIBRATION_JSON
    try:
        rows = json.loads(f.read_text())
    except (OSError, ValueError):
        return {}
    return {(r["chapter"], r["key"], r["profile"]): float(r["power"]) for r in rows}


def _notes(chapter: str) -> dict[str, str]:
    try:
        mod = registry.by_name(chapter).load()
    except (KeyError, ImportError):
        return {}
    book = getattr(mod, "RULES", None)
    return dict(getattr(book, "scale_notes", {}) or {})


def _short(c: dict | None) -> str:
    if c is None:
        return "-"
    return f"{_badge(str(c.get('verdict', '?')))}<br><span class='measured'>{_measured(c)}</span>"


def change_reason(chapter: str, small: dict, large: dict, small_label: str, large_label: str,
                  powers: dict, notes: dict) -> str:
    """Why a claim's verdict differs between a smaller and a larger scale ("" if it does not)."""
    a, b = str(small.get("verdict")), str(large.get("verdict"))
    if a == b:
        return ""
    key = str(small.get("key") or large.get("key") or "")
    why_a, why_b = str(small.get("why") or ""), str(large.get("why") or "")
    if why_a.startswith(UNDER_TRAINED):
        return f"under-trained at {small_label}: {why_a.split(':', 1)[1].strip()}"
    if why_b.startswith(UNDER_TRAINED):
        return f"under-trained at {large_label}: {why_b.split(':', 1)[1].strip()}"
    p = powers.get((chapter, key, small_label))
    if a == INCONCLUSIVE and p is not None and p < POWER_OK:
        return f"under-powered at {small_label} (power {p:.0%} at its replicates)"
    if key in notes:
        return notes[key]
    if a == INCONCLUSIVE:
        return (f"the interval at {small_label} straddles the threshold (power {p:.0%})" if p is not None
                else f"the interval at {small_label} straddles the threshold")
    if b == INCONCLUSIVE:
        return f"the interval at {large_label} straddles the threshold" + (f" ({why_b})" if why_b else "")
    return "changes with scale; not explained yet"


def agreement(eds: list[Edition], small: int = 0, large: int = 1) -> dict:
    """Counts of the claims of two editions matched by key: decided at both, agreeing, etc."""
    out = {"both_decided": 0, "agree": 0, "first_decided_at_large": 0, "undecided_at_large": 0,
           "disagree": [], "matched": 0}
    if len(eds) <= large:
        return out
    for ch in sorted(set(eds[small].chapters) & set(eds[large].chapters)):
        for a, b in align([eds[small].chapters[ch], eds[large].chapters[ch]]):
            if a is None or b is None:
                continue
            out["matched"] += 1
            va, vb = a.get("verdict"), b.get("verdict")
            if va in DECIDED and vb in DECIDED:
                out["both_decided"] += 1
                out["agree"] += va == vb
                if va != vb:
                    out["disagree"].append((ch, a, b))
            elif va not in DECIDED and vb in DECIDED and va != EXACT:
                out["first_decided_at_large"] += 1
            elif va in DECIDED and vb not in DECIDED and vb != EXACT:
                out["undecided_at_large"] += 1
    return out


def scale_markdown(paths: Paths) -> str:
    """The text of ``book/scale.md`` (see the module's docstring)."""
    eds = editions(paths)
    powers = _powers(paths)
    lines = ["# Does the verdict hold at scale?", "",
             "Each claim is judged in every edition of the book by the same rule: this build, and the "
             "committed runs at larger scale (`long`: every arm trained to its stated criterion, seeds "
             "from a power calculation, on a 2-core CPU; `full`: on a GPU, when one was lent). Claims are "
             "matched by their rule's stable key. A verdict that changes with scale is named with its "
             "reason: *under-trained* at the smaller scale (the rule's footing check failed there), "
             "*under-powered* (the rule's power at that profile's replicates, from "
             "{doc}`how the verdicts are made </book/calibration>`, is below 80 %), or an effect of scale "
             "that the chapter explains.", ""]
    if len(eds) < 2:
        return "\n".join(lines + ["No committed edition is in this checkout: nothing to compare yet.", ""])
    for j in range(1, len(eds)):
        ag = agreement(eds, 0, j)
        share = f"{ag['agree'] / ag['both_decided']:.0%}" if ag["both_decided"] else "-"
        lines += [f"**{eds[0].label} vs {eds[j].label}**: {ag['matched']} claims in both; "
                  f"{ag['both_decided']} decided (reproduced or not reproduced) at both, of which "
                  f"**{ag['agree']} agree ({share})**; {ag['first_decided_at_large']} inconclusive at "
                  f"{eds[0].label} and decided at {eds[j].label}; {ag['undecided_at_large']} decided at "
                  f"{eds[0].label} and inconclusive at {eds[j].label}.", ""]
    chapters = [c.name for c in registry.chapters() if any(c.name in e.chapters for e in eds)]
    for ch in chapters:
        n = registry.chapter_number(ch)
        lines += [f"## {n} · {chapter_title(paths.notebooks / f'{ch}.ipynb', ch)}", ""]
        notes = _notes(ch)
        head = "".join(f"<th>{html.escape(e.label)}</th>" for e in eds)
        rows = []
        for row in align([e.chapters.get(ch, []) for e in eds]):
            shown = next(c for c in row if c is not None)
            reasons = []
            for j in range(1, len(row)):
                if row[0] is not None and row[j] is not None:
                    r = change_reason(ch, row[0], row[j], eds[0].label, eds[j].label, powers, notes)
                    if r:
                        reasons.append(f"{eds[0].label} → {eds[j].label}: {r}")
            changed = " class='changed'" if reasons else ""
            rows.append(f"<tr{changed}><td>{html.escape(str(shown.get('claim', '')))}</td>"
                        + "".join(f"<td>{_short(c)}</td>" for c in row)
                        + f"<td>{html.escape('; '.join(reasons))}</td></tr>")
        lines += [f'<table class="scale scale-{len(eds)}">',
                  f"<thead><tr><th>claim</th>{head}<th>why it changes</th></tr></thead>",
                  f"<tbody>{''.join(rows)}</tbody></table>", ""]
    return "\n".join(lines)


def _write_page(paths: Paths, name: str, text: str) -> Path:
    (paths.root / "book").mkdir(parents=True, exist_ok=True)
    page = paths.root / "book" / name
    write_atomic(page, text)
    return page


def scale_page(paths: Paths) -> Path:
    """Write ``book/scale.md`` (:func:`scale_markdown`); return its path."""
    return _write_page(paths, "scale.md", scale_markdown(paths))


# ------------------------------------------------------------------------- synthesis

def _counts(claims) -> dict[str, int]:
    counts = {v: 0 for v in VERDICTS}
    for c in claims:
        v = str(c.get("verdict", "?"))
        counts[v] = counts.get(v, 0) + 1
    return counts


def _sentence(c: dict, chapter: str) -> str:
    n = registry.chapter_number(chapter)
    return (f"{html.escape(str(c.get('claim', '')))} <span class='measured'>({_measured(c)})</span> "
            f"<a href='chapters/{chapter}.html'>ch. {n}</a>")


def synthesis_markdown(paths: Paths) -> str:
    """The text of ``book/synthesis.md`` (see the module's docstring)."""
    eds = editions(paths)
    lines = ["# What over-parameterization buys", "",
             "Each chapter measures one thing that extra parameters are said to buy. Below, per theme, "
             "what the measurements show at the largest scale present in this build, with the numbers "
             "taken from the chapters' claims files (mean [95 % interval]); the figure shows every theme's "
             "verdicts at each scale. The {doc}`scorecard </book/scorecard>` lists every claim with its "
             "source, the {doc}`scale-agreement page </book/scale>` every change of verdict with scale.", ""]
    in_toc = set(registry.toc_chapters(paths.toc))
    themes: dict[str, list[str]] = {}
    for entry in registry.chapters():
        if entry.name in in_toc:
            themes.setdefault(entry.theme or entry.title, []).append(entry.name)
    if not themes:
        return "\n".join(lines + ["No chapter is in this book yet.", ""])
    profiles = sorted({str(c.get("profile")) for e in eds[:1] for cl in e.chapters.values() for c in cl
                       if c.get("profile")})
    if "smoke" in profiles:
        lines += ["This build ran at the `smoke` profile, which only proves that the code runs: its "
                  "verdicts mean nothing.", ""]
    # figure: themes x scale, each cell a bar of verdict counts
    head = "".join(f"<th>{html.escape(e.label)}</th>" for e in eds)
    rows = []
    for theme, chs in themes.items():
        cells = []
        for e in eds:
            cl = [c for ch in chs for c in e.chapters.get(ch, [])]
            counts = _counts(cl)
            label = ", ".join(f"{k} {v}" for v, k in counts.items() if k)
            cells.append(f"<td>{_verdict_bar(counts) if cl else ''}<span class='bar-label'>"
                         f"{html.escape(label) if cl else 'not run'}</span></td>")
        rows.append(f"<tr><td>{html.escape(theme)}</td>{''.join(cells)}</tr>")
    lines += ['<figure class="synthesis-figure">', '<table class="synthesis-grid">',
              f"<thead><tr><th>theme</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>",
              "<figcaption>Verdicts per theme at each scale: "
              + ", ".join(_badge(v) for v in VERDICTS) + ".</figcaption></figure>", ""]
    for theme, chs in themes.items():
        top = next((e for e in reversed(eds) if any(ch in e.chapters for ch in chs)), None)
        lines += [f"## {theme}", ""]
        links = ", ".join(f"<a href='chapters/{ch}.html'>chapter {registry.chapter_number(ch)}</a>" for ch in chs)
        if top is None:
            lines += [f"Not run in this build ({links}).", ""]
            continue
        lines += [f"<p class='theme-chapters'>Measured in {links}.</p>", ""]
        cl = [(ch, c) for ch in chs for c in top.chapters.get(ch, [])]
        counts = _counts([c for _, c in cl])
        holds = [_sentence(c, ch) for ch, c in cl if c.get("verdict") in (REPRODUCED, EXACT)]
        fails = [_sentence(c, ch) for ch, c in cl if c.get("verdict") == NOT_REPRODUCED]
        mixed = [_sentence(c, ch) for ch, c in cl if c.get("verdict") == PARTLY]
        open_ = sum(1 for _, c in cl if c.get("verdict") == INCONCLUSIVE)
        text = (f"At `{top.label}`, the largest scale present, {len(cl)} claims were judged: "
                + ", ".join(f"{k} {v}" for v, k in counts.items() if k) + ".")
        if holds:
            text += " What the measurements support: " + "; ".join(holds) + "."
        if fails:
            text += " What they contradict: " + "; ".join(fails) + "."
        if mixed:
            text += " Holding in part: " + "; ".join(mixed) + "."
        if open_:
            text += (f" {open_} claim{'s' if open_ > 1 else ''} stay undecided at this scale "
                     "(the interval straddles the threshold, or an arm was under-trained).")
        lines += [text, ""]
    return "\n".join(lines)


def synthesis_page(paths: Paths) -> Path:
    """Write ``book/synthesis.md`` (:func:`synthesis_markdown`); return its path."""
    return _write_page(paths, "synthesis.md", synthesis_markdown(paths))
