"""scripts/measure_spread.py: pooling replicate spreads over runs, and merging named rules
into a chapter's existing spread file without touching the others."""
import importlib.util
import math
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "measure_spread", Path(__file__).resolve().parents[1] / "scripts" / "measure_spread.py")
ms = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ms)


def _row(key, sd, measured=0.1, verdict="reproduced"):
    return {"key": key, "sd": sd, "measured": measured, "verdict": verdict}


def test_pooled_is_the_root_mean_square_of_finite_spreads_and_skips_exact_rows():
    runs = [[_row("a", 3.0), _row("b", 1.0), _row("x", 9.0, verdict="exact")],
            [_row("a", 4.0), _row("b", float("nan"))]]
    sd, by_rule = ms.pooled(runs)
    assert sd["a"] == pytest.approx(math.sqrt((9 + 16) / 2)) and sd["b"] == 1.0 and "x" not in sd
    assert by_rule["a"]["n_runs"] == 2 and by_rule["a"]["replicate_sd"] == [3.0, 4.0]
    assert set(ms.pooled(runs, keys=["b"])[0]) == {"b"}


def test_merge_replaces_only_the_named_rules_and_records_where_they_came_from():
    old = {"command": "quick run", "sd": {"a": 1.0, "b": 2.0}, "by_rule": {"a": {"n_runs": 2}, "b": {"n_runs": 2}}}
    rec = {"command": "from long", "profile": "long", "runs": [{"seed": 0}], "keys": ["b", "c"]}
    out = ms.merge(old, {"b": 0.5, "c": 0.7}, {"b": {"n_runs": 1}, "c": {"n_runs": 1}}, rec)
    assert out["sd"] == {"a": 1.0, "b": 0.5, "c": 0.7} and out["command"] == "quick run"
    assert out["by_rule"]["a"] == {"n_runs": 2}
    assert out["by_rule"]["c"] == {"n_runs": 1, "profile": "long", "command": "from long"}
    assert out["merged"] == [rec] and ms.merge(out, {}, {}, rec)["merged"] == [rec, rec]
    assert old["sd"] == {"a": 1.0, "b": 2.0}   # the input is not changed
