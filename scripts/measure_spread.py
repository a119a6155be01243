#!/usr/bin/env python
"""Measure the seed spread of a chapter's rules and write ``spread.json`` beside its rules.

    python scripts/measure_spread.py CHAPTER [--seeds 0 1 ...] [--profile quick] [-p NAME VALUE ...]
    python scripts/measure_spread.py CHAPTER --keys KEY ... [--from-claims FILE ...] [...]

Runs the chapter once per seed through the book's runner (``python -m overparam run``),
reads each run's claims file, and writes ``overparam/chapters/<slug>/spread.json``:
the command, the runs, and per rule key the spread of one replicate (``sd``, pooled over
the runs: the root mean square of each run's replicate spread), each run's estimate and
replicate count. The chapter's calibration reads ``sd`` (``overparam.calibration.load_spread``)
instead of typed constants; power planning for the ``long`` profile uses the same numbers.

``--keys`` measures only those rules and merges them into the chapter's existing file (the
other rules keep their spreads; the merge is recorded under ``merged``, and each merged
rule's ``by_rule`` entry names its profile and command): for rules a profile does not run
(e.g. one that runs at ``long`` only) or cannot spread (every seed the same value).
``--from-claims`` reads finished runs' claims files (e.g. a published edition's) instead of
running the chapter; it needs ``--keys``. Choose the keys by hand: a row whose estimate is
a pooled proportion (a Wilson interval over units, as when every seed gives the same share)
has an ``sd`` that is not a seed spread.
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import subprocess
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def pooled(rows_per_run: list[list[dict]], keys=None) -> tuple[dict, dict]:
    """(sd, by_rule) of the rows of several runs: per rule key, each run's estimate and
    replicate sd, and the root mean square of the finite replicate sds (``keys``: only these)."""
    per_key: dict[str, dict] = {}
    for rows in rows_per_run:
        for r in rows:
            if not r.get("key") or r.get("verdict") == "exact" or (keys and r["key"] not in keys):
                continue
            k = per_key.setdefault(r["key"], {"estimate": [], "replicate_sd": [], "n_runs": 0})
            k["estimate"].append(r.get("measured"))
            k["replicate_sd"].append(r.get("sd"))
            k["n_runs"] += 1
    sd = {}
    for key, k in per_key.items():
        good = [v for v in k["replicate_sd"] if isinstance(v, (int, float)) and math.isfinite(v)]
        if good:
            sd[key] = math.sqrt(sum(v * v for v in good) / len(good))
    return sd, per_key


def merge(old: dict, sd: dict, by_rule: dict, record: dict) -> dict:
    """``old`` (a spread.json) with the rules of ``sd``/``by_rule`` replaced or added and the
    merge recorded; the other rules as they were."""
    out = dict(old)
    out["sd"] = {**old.get("sd", {}), **sd}
    out["by_rule"] = {**old.get("by_rule", {}),
                      **{k: {**v, "profile": record["profile"], "command": record["command"]} for k, v in by_rule.items()}}
    out["merged"] = [*old.get("merged", []), record]
    return out


def main(argv=None) -> int:
    from overparam.book import registry

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("chapter")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    ap.add_argument("--keys", nargs="+", default=None, help="only these rules, merged into the existing file")
    ap.add_argument("--from-claims", nargs="+", type=Path, default=None, metavar="FILE",
                    help="claims files of finished runs of the chapter, read instead of running it (needs --keys)")
    a = ap.parse_args(argv)
    if a.from_claims and not a.keys:
        ap.error("--from-claims needs --keys (the rules to take from those runs)")
    ch = registry.resolve([a.chapter], registry.available(ROOT / "notebooks"))[0]
    runs, rows_per_run = [], []
    if a.from_claims:
        for f in a.from_claims:
            rows = json.loads(f.read_text())
            profiles = {r.get("profile") for r in rows} - {None}
            seeds = {r.get("seed") for r in rows} - {None}
            if len(profiles) != 1:
                ap.error(f"{f}: rows of {len(profiles)} profiles; a claims file of one run is needed")
            path = f.resolve()
            runs.append({"claims": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(f),
                         "profile": profiles.pop(), "seed": seeds.pop() if len(seeds) == 1 else None})
            rows_per_run.append(rows)
        profile = "+".join(sorted({r["profile"] for r in runs}))
        command = ["--keys", *a.keys, "--from-claims", *(r["claims"] for r in runs)]
    else:
        for s in a.seeds:
            cmd = [sys.executable, "-m", "overparam", "run", ch.name, "--profile", a.profile, "--seed", str(s)]
            for name, value in a.p:
                cmd += ["-p", name, value]
            print("$", shlex.join(cmd[1:]), flush=True)
            subprocess.run(cmd, cwd=ROOT, check=True)
            rows_per_run.append(json.loads((ROOT / "book" / "chapters" / f"{ch.name}.claims.json").read_text()))
            runs.append({"seed": s, "params": dict(a.p)})
        profile = a.profile
        command = (["--profile", a.profile, "--seeds", *map(str, a.seeds)]
                   + [x for pair in a.p for x in ("-p", *pair)] + (["--keys", *a.keys] if a.keys else []))
    sd, by_rule = pooled(rows_per_run, a.keys)
    if a.keys and set(a.keys) - set(sd):
        ap.error(f"no finite spread for {sorted(set(a.keys) - set(sd))} in these runs")
    record = {"command": "python scripts/measure_spread.py " + shlex.join([ch.name, *command]),
              "date": date.today().isoformat(), "profile": profile, "runs": runs}
    dest = ROOT / "overparam" / "chapters" / ch.slug / "spread.json"
    if a.keys:
        old = json.loads(dest.read_text()) if dest.exists() else {}
        out = merge(old, sd, by_rule, {**record, "keys": sorted(sd)})
    else:
        out = {**record, "sd": sd, "by_rule": by_rule}
    dest.write_text(json.dumps(out, indent=1, allow_nan=False) + "\n")
    print(f"wrote {dest.relative_to(ROOT)}: {len(sd)} rules" + (f" merged ({', '.join(sorted(sd))})" if a.keys else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
