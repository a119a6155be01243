#!/usr/bin/env python
"""Measure the seed spread of a chapter's rules and write ``spread.json`` beside its rules.

    python scripts/measure_spread.py CHAPTER [--seeds 0 1 ...] [--profile quick] [-p NAME VALUE ...]

Runs the chapter once per seed through the book's runner (``python -m overparam run``),
reads each run's claims file, and writes ``overparam/chapters/<slug>/spread.json``:
the command, the runs, and per rule key the spread of one replicate (``sd``, pooled over
the runs: the root mean square of each run's replicate spread), each run's estimate and
replicate count. The chapter's calibration reads ``sd`` (``overparam.calibration.load_spread``)
instead of typed constants; power planning for the ``long`` profile uses the same numbers.
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


def main(argv=None) -> int:
    from overparam.book import registry

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("chapter")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    a = ap.parse_args(argv)
    ch = registry.resolve([a.chapter], registry.available(ROOT / "notebooks"))[0]
    runs, per_key = [], {}
    for s in a.seeds:
        cmd = [sys.executable, "-m", "overparam", "run", ch.name, "--profile", a.profile, "--seed", str(s)]
        for name, value in a.p:
            cmd += ["-p", name, value]
        print("$", shlex.join(cmd[1:]), flush=True)
        subprocess.run(cmd, cwd=ROOT, check=True)
        rows = json.loads((ROOT / "book" / "chapters" / f"{ch.name}.claims.json").read_text())
        runs.append({"seed": s, "params": dict(a.p)})
        for r in rows:
            if not r.get("key") or r.get("verdict") == "exact":
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
    out = {
        "command": "python scripts/measure_spread.py " + shlex.join(
            [ch.name, "--profile", a.profile, "--seeds", *map(str, a.seeds)]
            + [x for pair in a.p for x in ("-p", *pair)]),
        "date": date.today().isoformat(), "profile": a.profile, "runs": runs, "sd": sd, "by_rule": per_key,
    }
    dest = ROOT / "overparam" / "chapters" / ch.slug / "spread.json"
    dest.write_text(json.dumps(out, indent=1, allow_nan=False) + "\n")
    print(f"wrote {dest.relative_to(ROOT)}: {len(sd)} rules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
