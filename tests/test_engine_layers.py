"""The engine reads in one direction: optim, loop -> grid -> stack -> plan -> backends -> sweep.

Each engine module imports only modules listed before it (read from the source, function
bodies included, by the package-wide reader of tests/test_imports.py).
"""
from test_imports import import_graph

ORDER = ["optim", "store", "loop", "grid", "stackrun", "plan", "distributed", "sweep"]  # low to high


def test_engine_modules_import_only_lower_layers():
    graph = import_graph()
    names = [f"overparam.engine.{m}" for m in ORDER]
    assert set(names) == {m for m in graph if m.startswith("overparam.engine.")}, "a new engine module: place it in ORDER"
    for i, mod in enumerate(names):
        above = set(names[i + 1:]) & graph[mod]
        assert not above, f"{mod} imports {sorted(above)}, which sit above it"


def test_the_reader_sees_the_engine_edges():
    # the layer test can fail: the reader finds the edges that exist (function-level ones too)
    graph = import_graph()
    assert "overparam.engine.grid" in graph["overparam.engine.distributed"]
    assert "overparam.engine.distributed" in graph["overparam.engine.sweep"]
    assert "overparam.engine.loop" in graph["overparam.engine.stackrun"]
