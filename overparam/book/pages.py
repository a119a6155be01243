"""Pages the book writes about itself: placeholders, status, scorecard, calibration.

- :func:`ensure_pages`: every chapter in ``_toc.yml`` gets a page file (a placeholder if
  its notebook was never run or does not exist yet), so the build never breaks and the
  chapter numbers never move.
- :func:`status_markdown`: ``book/status.md``, which profile/device/versions made each page.
- :func:`scorecard_markdown`: ``book/scorecard.md``, every claim with its verdict as a
  coloured badge in the first column, grouped by chapter with counts per verdict, each
  row linked to its chapter's claims section, sources by name.
- :func:`calibration_page`: ``book/calibration.md``, "How the verdicts are made", the
  table of :func:`overparam.book.rules.calibration_markdown` (re-computed only when the
  package changes).

The scale-agreement and synthesis pages are in :mod:`.scale`.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import html
import json
import platform
import re
from pathlib import Path
from typing import Any, Mapping

from .. import __version__
from ..claims import VERDICTS
from . import cache, registry
from .paths import Paths, chapter_title, message_page, read_meta, write_atomic, write_nb_atomic

#: Anchor of the "Claims under test" section that every chapter has (Sphinx's id).
CLAIMS_ANCHOR = "claims-under-test"


def ensure_pages(paths: Paths) -> list[str]:
    """Give every chapter listed in ``_toc.yml`` a page file; return those written."""
    written = []
    for chapter in registry.toc_chapters(paths.toc):
        page = paths.chapters / f"{chapter}.ipynb"
        if page.exists():
            continue
        src = paths.notebooks / f"{chapter}.ipynb"
        if src.exists():
            body = ("This chapter has not been run yet. Run it with\n\n"
                    f"    python -m overparam run {chapter} --profile quick\n\n"
                    "then rebuild the book (`make book`).")
        else:
            body = ("This chapter is not written yet: there is no "
                    f"`notebooks/{chapter}.ipynb` in this version of the book.")
        paths.chapters.mkdir(parents=True, exist_ok=True)
        write_nb_atomic(message_page(chapter, chapter_title(src, chapter), body,
                                     {"ok": False, "page": "placeholder"}), page)
        written.append(chapter)
    return written


def _md_escape(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _page_chapters(paths: Paths) -> list[str]:
    names = registry.toc_chapters(paths.toc)
    names += [c.name for c in registry.available(paths.notebooks)]
    names += sorted(p.stem for p in paths.chapters.glob("[0-9][0-9]_*.ipynb")
                    if not p.name.endswith(".failed.ipynb"))
    return list(dict.fromkeys(names))


def status_markdown(paths: Paths, published: Mapping[str, Any] | None = None,
                    source: Paths | None = None) -> str:
    """The text of ``book/status.md``: one row per chapter from its run metadata.

    Then the published edition's section (:func:`.edition.status_section`) of ``source``
    (default ``paths``): per published chapter, its run and whether it is stale.
    """
    head = ("| chapter | result | profile | device | seed | parameters | torch | CUDA | GPU "
            "| duration | date (UTC) |\n|---|---|---|---|---|---|---|---|---|---:|---|")
    rows, failures, profiles = [], [], set()
    for chapter in _page_chapters(paths):
        meta = read_meta(paths.chapters / f"{chapter}.ipynb")
        page = meta.get("page")
        if not meta or page == "placeholder":
            rows.append(f"| {chapter} | never run | | | | | | | | | |")
            continue
        if page == "failed":
            result = "**failed** (no good run)"
            failures.append((chapter, meta))
        elif meta.get("latest_failure"):
            result = "ok, but the latest run **failed**"
            failures.append((chapter, meta["latest_failure"]))
        else:
            result = "ok"
        if meta.get("ok"):
            profiles.add(meta.get("profile"))
        params = ", ".join(f"{k}={v!r}" for k, v in (meta.get("parameters") or {}).items()) or "-"
        dev = meta.get("device_resolved") or meta.get("device", "")
        rows.append("| " + " | ".join(_md_escape(x) for x in (
            chapter, result, meta.get("profile", ""), dev, meta.get("seed", ""), params,
            meta.get("torch", ""), meta.get("cuda") or "-", meta.get("gpu") or "-",
            f"{meta.get('duration_s', 0):.1f} s", meta.get("date", ""))) + " |")
    lines = ["# Status of this build", "",
             "Which profile produced each chapter you read, on which device and with which "
             "versions. Written by `python -m overparam status` from the metadata that the "
             "runner stores in every executed notebook (Sphinx executes nothing).", ""]
    if profiles == {"smoke"}:
        lines += ["```{warning}", "Every chapter here ran with the `smoke` profile: it proves "
                  "that the code runs, and its numbers and verdicts mean nothing.", "```", ""]
    lines += [head, *rows, ""]
    if failures:
        lines += ["## Failures", ""]
        for chapter, m in failures:
            lines.append(f"- **{chapter}**: cell {m.get('failed_cell')}, `{_md_escape(m.get('error', ''))}` "
                         f"({m.get('date', '')}, profile `{m.get('profile', '')}`)")
        lines.append("")
    from . import edition

    lines += edition.status_section(source or paths, published)
    lines += [f"Python {platform.python_version()}, overparam {__version__}; "
              f"generated {_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}.", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------ scorecard

def source_names(bib: Path) -> dict[str, str]:
    """``{"001": "Sagun 2017"}`` from ``references.bib`` entries noted "source NNN of this book"."""
    if not bib.exists():
        return {}
    names = {}
    for entry in re.split(r"\n@", "\n" + bib.read_text()):
        m = re.search(r"[Ss]ource (\d{3}) of this book", entry)
        if not m:
            continue
        author = re.search(r"author\s*=\s*\{(.+?)\}\s*,?\s*\n", entry)
        year = re.search(r"year\s*=\s*\{(.+?)\}", entry)
        first = (author.group(1) if author else "").split(" and ")[0].strip("{} ")
        surname = first.split(",")[0].strip() if "," in first else (first.split() or ["?"])[-1]
        yr = year.group(1) if year and year.group(1)[:1].isdigit() else "n.d."
        names[m.group(1)] = f"{surname} {yr}"
    return names


def readable_source(text: str, names: dict[str, str]) -> str:
    """``"Sagun 2017 talk (source 001)"`` -> ``"Sagun 2017 talk"``; a bare id -> its name."""
    ids = re.findall(r"\((?:source\s+)?(\d{3})\)", text)
    rest = re.sub(r"\s*\((?:source\s+)?\d{3}\)", "", text).strip(" ,;")
    if rest:
        return rest
    return ", ".join(names.get(i, f"source {i}") for i in ids) or text


def has_claims_section(page: Path) -> bool:
    """Whether an executed chapter has a "Claims under test" heading (the scorecard's anchor)."""
    try:
        nb = json.loads(page.read_text())
    except (OSError, ValueError):
        return False
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            src = "".join(cell.get("source", ""))
            if re.search(r"^#{1,6}\s+Claims under test\s*$", src, re.M | re.I):
                return True
    return False


def _badge(verdict: str) -> str:
    cls = "verdict-" + re.sub(r"[^a-z]+", "-", verdict.lower()).strip("-")
    return f'<span class="verdict {cls}">{html.escape(verdict)}</span>'


def _num(x: Any, fmt: str) -> str:
    try:
        return format(float(x), fmt)
    except (TypeError, ValueError):
        return "?"


def _measured(c: dict) -> str:
    if c.get("verdict") == "exact":
        return f"{_num(c.get('measured'), '.4g')} (exact)"
    return (f"{_num(c.get('measured'), '.3g')} "
            f"[{_num(c.get('ci_low'), '.3g')}, {_num(c.get('ci_high'), '.3g')}]")


@dataclasses.dataclass
class Beside:
    """The verdicts of another edition of a chapter, shown beside this edition's.

    ``profile`` and ``edition`` label the column (``full`` · ``published``); ``stale``
    lists why that run predates the current code ([] when current).
    """

    claims: list[dict]
    profile: str
    edition: str
    stale: list[str] = dataclasses.field(default_factory=list)


def published_beside(paths: Paths) -> dict[str, dict[str, Beside]]:
    """Every committed edition's verdicts, per edition then chapter (in order of scale)."""
    from . import edition

    return {name: {ch: Beside(pub.claims, pub.profile, name, pub.stale)
                   for ch, pub in eds.items() if pub.claims is not None}
            for name, eds in edition.read_editions(paths).items()}


def _editions(beside) -> dict[str, dict[str, Beside]]:
    """``beside`` as edition -> chapter -> Beside (one edition's chapter -> Beside is wrapped)."""
    beside = dict(beside or {})
    if any(isinstance(v, Beside) for v in beside.values()):
        first = next(v for v in beside.values() if isinstance(v, Beside))
        return {first.edition: beside}
    return {k: dict(v) for k, v in beside.items() if v}


def _label(side: Mapping[str, Beside]) -> str:
    first = next(iter(side.values()))
    return first.profile if first.profile == first.edition else f"{first.profile} · {first.edition}"


def _beside_cell(other: dict | None, mine: dict | None, side: Beside | None) -> str:
    """Another edition's verdict cell: its badge, marked stale or scale-dependent."""
    if side is None or other is None:
        return "<td class='beside'>-</td>"
    cell = _badge(str(other.get("verdict", "?")))
    if side.stale:
        why = html.escape("; ".join(side.stale), quote=True)
        cell += f' <span class="stale-mark" title="{why}">stale</span>'
    if mine is not None and str(mine.get("verdict")) != str(other.get("verdict")):
        cell += ' <span class="scale-mark" title="the verdict differs between profiles">depends on scale</span>'
    return f"<td class='beside'>{cell}</td>"


def claim_id(c: dict) -> str:
    """What matches a claim across editions: its rule's stable key, else its text."""
    return f"key:{c['key']}" if c.get("key") else f"text:{c.get('claim', '')}"


def _pair(claims: list[dict], other: list[dict]) -> list[tuple[dict | None, dict | None]]:
    """Claims of this edition with the other edition's claim of the same key (and the rest)."""
    by_id: dict[str, list[dict]] = {}
    for c in other:
        by_id.setdefault(claim_id(c), []).append(c)
    pairs: list[tuple[dict | None, dict | None]] = []
    for c in claims:
        match = by_id.get(claim_id(c))
        pairs.append((c, match.pop(0) if match else None))
    pairs += [(None, c) for rest in by_id.values() for c in rest]
    return pairs


def align(columns: list[list[dict]]) -> list[list[dict | None]]:
    """Rows of claims matched by :func:`claim_id` across several editions (first column's order)."""
    rows: list[list[dict | None]] = []
    index: dict[str, list[int]] = {}
    for j, claims in enumerate(columns):
        used: dict[str, int] = {}
        for c in claims:
            cid = claim_id(c)
            k = used.get(cid, 0)
            used[cid] = k + 1
            slots = index.setdefault(cid, [])
            if k < len(slots):
                rows[slots[k]][j] = c
            else:
                slots.append(len(rows))
                rows.append([None] * len(columns))
                rows[-1][j] = c
    return rows


def scorecard_markdown(paths: Paths, beside: Mapping[str, Any] | None = None) -> str:
    """The text of ``book/scorecard.md``: counts per chapter, then each chapter's claims.

    Every verdict is a coloured badge in the first column (readable at 1280 px: the
    table has narrow columns and wraps its text); each claim links to its chapter's
    "Claims under test" section when the chapter is in the book.

    ``beside``: other editions' verdicts (edition -> chapter -> :class:`Beside`, or one
    edition's chapter -> Beside), one column each (default: every committed edition of
    ``paths``, in order of scale: long, full), matched by the rules' stable keys and marked
    *stale* where a run predates the current code; a verdict that differs from this
    edition's is marked *depends on scale*.
    """
    in_toc = set(registry.toc_chapters(paths.toc))
    names = source_names(paths.root / "book" / "references.bib")
    eds = _editions(published_beside(paths) if beside is None else beside)
    per_chapter: list[tuple[str, list[dict]]] = []
    for f in sorted(paths.chapters.glob("*.claims.json")):
        try:
            claims = json.loads(f.read_text())
        except ValueError:
            continue
        per_chapter.append((f.name.removesuffix(".claims.json"), list(claims)))
    have = {ch for ch, _ in per_chapter}
    per_chapter += [(ch, []) for ch in sorted({c for side in eds.values() for c in side}) if ch not in have]
    per_chapter.sort(key=lambda item: item[0])
    known = list(VERDICTS)
    extra = sorted({c.get("verdict", "?") for _, cl in per_chapter for c in cl} - set(known))
    columns = known + extra
    lines = ["# Scorecard", "",
             "Every claim under test in the book, with the verdict computed from what we "
             "measured (mean and 95 % interval) by the rule stated in the chapter "
             "(see {doc}`how the verdicts are made </book/calibration>`). Generated from the "
             "chapters' `*.claims.json` by `python -m overparam status`; click a claim to "
             "read its section.", ""]
    if not per_chapter:
        return "\n".join(lines + ["No chapter has produced a claims table yet.", ""])
    labels = {name: _label(side) for name, side in eds.items()}
    mine = next((str(c.get("profile")) for _, cl in per_chapter for c in cl if c.get("profile")), "")
    if eds:
        lines += [f"The first verdict column is this build{f' (`{mine}`)' if mine else ''}; the next "
                  + ("ones are" if len(eds) > 1 else "one is") + " the committed "
                  + ", ".join(f"`{labels[n]}`" for n in eds) + (" editions" if len(eds) > 1 else " edition")
                  + ", matched by each rule's stable key. *depends on scale* marks a verdict that differs "
                  "from this build's (the {doc}`scale-agreement page </book/scale>` says why), *stale* a "
                  "run that predates the chapter's current notebook or code (see the status page).", ""]

    def chapter_label(ch: str) -> str:
        n = registry.chapter_number(ch)
        title = chapter_title(paths.notebooks / f"{ch}.ipynb", ch)
        return f"{n} · {title}" if n is not None else title

    def href(ch: str) -> str | None:
        if ch not in in_toc:
            return None
        anchor = f"#{CLAIMS_ANCHOR}" if has_claims_section(paths.chapters / f"{ch}.ipynb") else ""
        return f"chapters/{ch}.html{anchor}"

    head = "".join(f"<th title='{html.escape(v, quote=True)}'>{_badge(v)}</th>" for v in columns)
    body, totals = [], {v: 0 for v in columns}
    for ch, cl in per_chapter:
        counts = {v: sum(c.get("verdict") == v for c in cl) for v in columns}
        for v in columns:
            totals[v] += counts[v]
        link = href(ch)
        label = html.escape(chapter_label(ch))
        cell = f'<a href="{link}">{label}</a>' if link else label
        side = ""
        for name, ed in eds.items():
            other = ed.get(ch)
            differ = sum(1 for a, b in _pair(cl, other.claims if other else [])
                         if a is not None and b is not None and a.get("verdict") != b.get("verdict"))
            side += f"<td>{differ or ''}{' · stale' if other and other.stale else ''}</td>"
        body.append(f"<tr><td>{cell}</td>" + "".join(f"<td>{counts[v] or ''}</td>" for v in columns)
                    + f"<td>{len(cl)}</td>{side}</tr>")
    body.append("<tr class='total'><td>all chapters</td>" + "".join(f"<td>{totals[v]}</td>" for v in columns)
                + f"<td>{sum(totals.values())}</td>" + "<td></td>" * len(eds) + "</tr>")
    side_head = "".join(f"<th>differ from {html.escape(labels[n])}</th>" for n in eds)
    lines += ['<table class="scorecard-counts">',
              f"<thead><tr><th>chapter</th>{head}<th>claims</th>{side_head}</tr></thead>",
              f"<tbody>{''.join(body)}</tbody></table>", ""]
    for ch, cl in per_chapter:
        lines += [f"## {chapter_label(ch)}", ""]
        link = href(ch)
        sides = [(name, ed.get(ch)) for name, ed in eds.items()]
        rows = []
        for row in align([cl] + [s.claims if s else [] for _, s in sides]):
            c, others = row[0], row[1:]
            shown = c if c is not None else next(o for o in others if o is not None)
            text = html.escape(str(shown.get("claim", "")))
            claim = f'<a href="{link}">{text}</a>' if link else text
            prof = html.escape(str(shown.get("profile", "")))
            first = _badge(str(c.get("verdict", "?"))) if c is not None else "-"
            second = "".join(_beside_cell(o, c, s) for o, (_, s) in zip(others, sides))
            rows.append(f"<tr><td>{first}</td>{second}<td>{claim}</td>"
                        f"<td class='measured'>{_measured(shown)}</td>"
                        f"<td class='source'>{html.escape(readable_source(str(shown.get('source', '')), names)).replace('/', '/<wbr>')}"
                        f"{' · ' + prof if prof else ''}</td></tr>")
        cols = "<col class='c-verdict'>" * (1 + len(sides))
        side_head = "".join(f"<th>{html.escape(labels[n])}</th>" for n, _ in sides)
        lines += [f'<table class="scorecard scorecard-{1 + len(sides)}">',
                  f"<colgroup>{cols}<col class='c-claim'><col class='c-measured'>"
                  "<col class='c-source'></colgroup>",
                  f"<thead><tr><th>{html.escape(mine) if eds and mine else 'verdict'}</th>{side_head}"
                  "<th>claim</th><th>measured [95 % CI]</th>"
                  "<th>source · profile</th></tr></thead>",
                  f"<tbody>{''.join(rows)}</tbody></table>", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------- verdict bars

def _verdict_bar(counts: Mapping[str, int]) -> str:
    total = sum(counts.values()) or 1
    segs = "".join(f'<span class="verdict-{re.sub(r"[^a-z]+", "-", v.lower()).strip("-")}" '
                   f'style="width:{100 * n / total:.1f}%" title="{html.escape(v)}: {n}"></span>'
                   for v, n in counts.items() if n)
    return f'<div class="verdict-bar">{segs}</div>'


# ----------------------------------------------------------------------- calibration

#: Draws per simulated kind on the calibration page; ``OVERPARAM_CALIBRATION_DRAWS`` lowers
#: it where only the page's presence matters (the test suite's smoke book).
CALIBRATION_DRAWS = 1000


def calibration_page(paths: Paths, draws: int | None = None) -> Path:
    """Write ``book/calibration.md`` ("How the verdicts are made") and ``book/calibration.json``
    (the same rows, read by the scale-agreement page); return the page's path.

    The table comes from :func:`overparam.book.rules.calibration_markdown` (every chapter's
    declared rules at each of its profiles). It is re-computed only when the package
    changed: the page carries the package fingerprint in a comment. If it cannot be
    computed, the page says so (with the error) and the build goes on.
    """
    import os

    if draws is None:
        draws = int(os.environ.get("OVERPARAM_CALIBRATION_DRAWS", CALIBRATION_DRAWS))
    page = paths.root / "book" / "calibration.md"
    stamp = f"% overparam package {cache.package_fingerprint()} draws {draws}"
    if page.exists() and page.read_text().startswith(stamp):
        return page
    try:
        from . import rules

        # the book's own draws are cached per chapter (book/published/calibration, committed with the editions:
        # a fresh clone whose rules did not change computes nothing); other draws are not
        cached = paths.root / "book" / "published" / "calibration" if draws == CALIBRATION_DRAWS else None
        rows = rules.calibration_rows(draws, profiles=rules.profiles_shown(paths), cache_dir=cached)
        text = rules.calibration_markdown(rows, draws=draws)
        write_atomic(paths.root / "book" / "calibration.json", rules.calibration_json(rows))
    except Exception as err:  # noqa: BLE001 - the book still builds, and says why
        text = ("# How the verdicts are made\n\nThe calibration table could not be computed "
                f"in this build: `{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}`.\n")
    write_atomic(page, stamp + "\n" + text)
    return page


def write_status(paths: Paths, beside: Mapping[str, Beside] | None = None,
                 published: Mapping[str, Any] | None = None,
                 source: Paths | None = None) -> tuple[Path, Path]:
    """Write ``book/status.md`` and ``book/scorecard.md`` (atomically); return their paths.

    ``beside``, ``published`` and ``source``: see :func:`scorecard_markdown` and
    :func:`status_markdown` (the published edition's build passes its own).
    """
    (paths.root / "book").mkdir(parents=True, exist_ok=True)
    status, score = paths.root / "book" / "status.md", paths.root / "book" / "scorecard.md"
    write_atomic(status, status_markdown(paths, published, source))
    write_atomic(score, scorecard_markdown(paths, beside))
    return status, score
