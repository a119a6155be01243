"""Chapter 6 (sparsifiers): profiles, the measurements behind every claim on hand-made results,
every row of the claims table, the smoke path of every experiment, and the tabular data sets."""
import numpy as np
import pytest

from overparam import claims as C
from overparam.data import tabular
from overparam.chapters import sparsifiers as sp
import importlib
cl = importlib.import_module("overparam.chapters.sparsifiers.verdicts")
from overparam.config import Run


# --------------------------------------------------------------------------- profiles


def test_profiles_validate():
    assert set(sp.PROFILES) == {"smoke", "quick", "full"}
    for bad in ({"lambdas": (1e-3, -1e-3, 1e-2)}, {"lambdas": (1e-3, 1e-3, 1e-2)}, {"n_seeds": 1},
                {"decay": 1.5}, {"compress_sets": ("mnist",)}, {"starts": (100,)}, {"n_blocks": 1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            sp.SparsifierConfig(**bad)


# --------------------------------------------------------------------------- hand-made results


def _sweep(task="easy", sizes=None, E=8, K=3, S=3, spe=8, first=None, loss=None, score=0.8, static=0.8):
    """A SweepResult with final sizes ``sizes`` (K, S), reached linearly over the first 2 epochs."""
    sizes = np.asarray(sizes if sizes is not None else np.full((K, S), 100))
    t = np.minimum(np.arange(E + 1) / 2, 1.0)[:, None, None]
    size = np.rint(500 - (500 - sizes[None]) * t).astype(int)
    T = E * spe
    step_loss = loss if loss is not None else np.ones((T, K, S))
    return sp.SweepResult(task, np.array([1e-4, 1e-3, 1e-2][:K]), 10.0, 500, spe, size,
                          np.full((E + 1, K, S), score), np.ones((E + 1, K, S)), step_loss,
                          np.full((K, S), -1 if first is None else first), np.ones(E),
                          np.full((E + 1, S), static), np.ones(E))


def test_size_slopes_sign_follows_the_sizes():
    dec = _sweep(sizes=[[400] * 3, [200] * 3, [100] * 3])     # lambdas ascending
    assert np.allclose(cl.size_slopes(dec), 1.0)
    inc = _sweep(sizes=[[100] * 3, [200] * 3, [400] * 3])
    assert np.allclose(cl.size_slopes(inc), -1.0)


def test_moderate_gain_uses_the_two_smallest_penalties():
    sw = _sweep(score=0.8, static=0.7)
    sw.score[-1, 2] = 0.0                                       # the largest penalty is left out
    assert np.allclose(cl.moderate_gain(sw), 0.1)


def test_spike_hits_finds_a_spike_at_the_first_removal_and_not_elsewhere():
    spe, E = 8, 8
    loss = np.linspace(2, 1, E * spe)[:, None, None] * np.ones((1, 3, 3))
    at = np.full((3, 3), 3 * spe)
    spiked = loss.copy()
    spiked[3 * spe + 2: 3 * spe + 6] += 1.0                   # a jump right after step 24
    hit = cl.spike_hits(_sweep(first=at, loss=spiked, spe=spe, E=E))
    assert np.all(hit > 0.5)
    far = loss.copy()
    far[7 * spe: 7 * spe + 4] += 1.0                          # the jump 4 epochs later
    miss = cl.spike_hits(_sweep(first=at, loss=far, spe=spe, E=E))
    assert np.all(miss < 0)
    assert np.all(np.isnan(cl.spike_hits(_sweep(loss=spiked))))   # no removal: no verdict


def test_early_share():
    sw = _sweep(sizes=[[100] * 3] * 3)                         # all removals by epoch 2 of 8
    assert np.allclose(cl.early_share(sw), 1.0)
    late = _sweep(sizes=[[100] * 3] * 3)
    late.size = np.concatenate([np.full((7, 3, 3), 500), np.full((2, 3, 3), 100)])
    assert np.allclose(cl.early_share(late), 0.0)
    assert np.all(np.isnan(cl.early_share(_sweep(sizes=[[500] * 3] * 3))))


def test_start_slopes_and_epochs_to_reach():
    a, b = _sweep(sizes=[[50] * 3], K=1), _sweep(sizes=[[100] * 3], K=1)
    a.start_width, b.start_width = 250, 500
    assert np.allclose(cl.start_slopes([a, b]), 1.0)
    b.size[-1] = 50
    assert np.allclose(cl.start_slopes([a, b]), 0.0)
    curve = np.array([[3.0, 3.0], [2.0, 3.0], [1.0, 3.0]])
    assert cl.epochs_to_reach(curve, np.array([1.5, 1.0])).tolist() == [2.0, 3.0]


def _results(direction: float):
    """Hand-made results in which every claim holds (direction 1) or fails (-1)."""
    S = 3
    up = direction > 0
    easy = _sweep("easy", sizes=[[300, 310, 290], [150, 160, 140], [60, 70, 65]] if up
                  else [[60, 70, 65], [150, 160, 140], [300, 310, 290]],
                  score=0.85 if up else 0.75, static=0.8)
    hard = _sweep("hard", sizes=np.asarray(easy.final_size) * (2 if up else 0.5) * [1.0, 1.1, 0.9],
                  score=0.85 if up else 0.75, static=0.8)
    spe, E = 8, 8
    loss = np.linspace(2, 1, E * spe)[:, None, None] * np.ones((1, 3, S))
    loss[3 * spe + 2 + (0 if up else 4 * spe): 3 * spe + 6 + (0 if up else 4 * spe)] += 1 + 0.1 * np.arange(S)
    for sw in (easy, hard):
        sw.step_loss, sw.first_removal = loss, np.full((3, S), 3 * spe) + [0, 1, 3]
        if not up:
            sw.size[1:-1] = sw.size[0]                          # removals at the very end
    for sw in (easy, hard):                                     # seeds differ (no zero-width interval)
        sw.score[-1] += np.array([0.0, 0.005, 0.01])
        sw.size[2, :, 1] = sw.size[-1, :, 1] + 10 if up else sw.size[0, :, 1] - 5
    slow = _sweep(sizes=[[100, 110, 90]], K=1)
    if not up:
        slow.size[1:-1] = slow.size[0]
    slow.size[2, :, 1] = slow.size[-1, :, 1] + 10 if up else slow.size[0, :, 1] - 5
    starts = [_sweep(sizes=[[100 + i, 102 - i, 99]] if up else [[50 * (1 + i), 52 * (1 + i) + 3 * i, 49 * (1 + i)]], K=1)
              for i in range(2)]
    starts[0].start_width, starts[1].start_width = 250, 500
    ratio = 2.0 if up else 0.5
    growth = sp.GrowthResult(8, 256, np.array([[0.4, 0.42, 0.38], [0.3, 0.32, 0.29]]) * ratio,
                             np.array([0.3, 0.31, 0.29]),
                             np.linspace(1, 0.2, 16)[:, None] ** (1 / ratio) * np.ones((1, S)) + [0, 0.01, 0.02],
                             np.linspace(1, 0.05, 46)[:, None] ** (ratio * 2) * np.ones((1, S)),
                             np.array([100, 110, 90]), np.array([100, 110, 90]) * ratio + [0, 3, 5])
    comp = sp.CompressResult(["wine", "add10"], ["classification", "regression"], 256, 2.0,
                             np.array([[0.9, 0.92, 0.91], [0.8, 0.82, 0.81]]) + (0.05 if up else -0.05),
                             np.array([[0.9, 0.91, 0.92], [0.8, 0.81, 0.82]]), np.full((2, S), 30),
                             np.array([10, 10]), np.array([20, 20]))
    mem = sp.MemoryResult(64, 3, 100, "saved tensors",
                          np.array([9.0, 9.1, 9.2]), np.array([18.0, 18.1, 18.3]) if up else np.array([9.5, 9.6, 9.7]),
                          np.array([9.0, 9.1, 9.25]) if up else np.array([18.0, 18.2, 18.5]),
                          np.array([0.1, 0.1, 0.1]) if up else np.array([2.0, 2.0, 2.0]))
    pareto = sp.ParetoResult(256, {m: np.array([1e-3, 1e-2]) for m in sp.METHODS},
                             {m: np.full((2, S), 50) for m in sp.METHODS}, {m: np.full((2, S), 0.1) for m in sp.METHODS},
                             expected_l0=np.array([[100.0, 102, 98], [40, 41, 39]]),
                             open_l0=np.array([[100, 101, 99], [40, 40, 40]]) * (1 if up else 3))
    return sp.SparsifierResults(sp.PROFILES["quick"], easy, hard, slow=slow, starts=starts, compress=comp,
                                growth=growth, memory=mem, pareto=pareto)


@pytest.mark.parametrize("direction, verdict", [(1, C.REPRODUCED), (-1, C.NOT_REPRODUCED)])
def test_every_row_of_the_table_follows_its_measurements(direction, verdict):
    table = sp.claims(_results(direction), Run("quick", __import__("torch").device("cpu"), 0))
    assert len(table.claims) == 14
    wrong = [(c.claim[:60], c.verdict, c.measured) for c in table.claims if c.verdict != verdict]
    assert not wrong, wrong
    assert table.not_tested and all(reason for _, reason in table.not_tested)


def test_every_rule_has_a_measurement_in_full_results():
    m = sp.measure(_results(1))
    assert set(m) == {r.key for r in sp.RULES}


# --------------------------------------------------------------------------- the smoke path


def test_smoke_experiments_run_and_remove_units():
    cfg = sp.PROFILES["smoke"]
    sw = sp.lambda_sweep(cfg, "easy", 0)
    K, S = len(cfg.lambdas), cfg.n_seeds
    assert sw.size.shape == (cfg.epochs + 1, K, S) and sw.static_score.shape == (cfg.epochs + 1, S)
    assert np.all(sw.size[0] == cfg.start_width) and np.all(np.diff(sw.size, axis=0) <= 0)
    mem = sp.memory_compare(cfg, 0)
    assert np.all(mem.naive > 1.5 * mem.plain) and np.all(mem.hand < 1.1 * mem.plain)
    g = sp.growth_by_blocks(cfg, 0)
    assert g.growth_test.shape == (cfg.n_blocks, S)
    c = sp.compress_vs_static(cfg, 0)
    assert c.compress_score.shape == (len(cfg.compress_sets), S)
    assert np.all(c.final_size <= cfg.compress_width)
    p = sp.compare_sparsifiers(cfg, 0)
    for m in sp.METHODS:
        assert p.units[m].shape == p.test_err[m].shape == (len(p.lambdas[m]), S)
        assert np.all((p.units[m] >= 0) & (p.units[m] <= cfg.compare_width))
    assert p.expected_l0.shape == p.open_l0.shape


def test_hard_concrete_gate_and_its_expected_count():
    """At log alpha = +-10 the hard-concrete gate is open / closed at test time, and the
    expected L0 counts it; the sampled gate's share of non-zeros matches P(gate != 0)."""
    import torch
    others = importlib.import_module("overparam.chapters.sparsifiers.others")
    la = torch.tensor([[10.0, -10.0, 0.0]])
    test = others._hard_concrete(la, None)
    assert test[0, 0] == 1 and test[0, 1] == 0
    assert abs(float(others.expected_open(la[:, :2])) - 1.0) < 1e-3
    g = torch.Generator().manual_seed(0)
    draws = torch.stack([others._hard_concrete(la[:, 2:], g) for _ in range(4000)])
    p_open = float(others.expected_open(la[:, 2:]))
    assert abs(float((draws > 0).float().mean()) - p_open) < 0.03


# --------------------------------------------------------------------------- tabular data


def test_poker_rules_on_known_hands():
    hands = {  # (suits, ranks) -> class
        ((1, 2, 3, 4, 1), (2, 5, 9, 11, 13)): 0, ((1, 2, 3, 4, 1), (2, 2, 9, 11, 13)): 1,
        ((1, 2, 3, 4, 1), (2, 2, 9, 9, 13)): 2, ((1, 2, 3, 4, 1), (2, 2, 2, 9, 13)): 3,
        ((1, 2, 3, 4, 1), (1, 2, 3, 4, 5)): 4, ((1, 2, 3, 4, 1), (10, 11, 12, 13, 1)): 4,
        ((1, 2, 3, 4, 1), (11, 12, 13, 1, 2)): 0, ((3, 3, 3, 3, 3), (2, 5, 9, 11, 13)): 5,
        ((1, 2, 3, 4, 1), (2, 2, 2, 9, 9)): 6, ((1, 2, 3, 4, 1), (9, 9, 9, 9, 13)): 7,
        ((2, 2, 2, 2, 2), (5, 6, 7, 8, 9)): 8, ((4, 4, 4, 4, 4), (10, 11, 12, 13, 1)): 9,
    }
    suits = np.array([h[0] for h in hands])
    ranks = np.array([h[1] for h in hands])
    assert tabular.poker_class(suits, ranks).tolist() == list(hands.values())


def test_poker_frequencies_match_the_deck():
    d = tabular.make_poker(20000, 100, seed=1)
    freq = np.bincount(d["y"], minlength=10) / len(d["y"])
    # exact probabilities: nothing 0.5012, one pair 0.4226, two pairs 0.0475
    assert abs(freq[0] - 0.5012) < 0.015 and abs(freq[1] - 0.4226) < 0.015 and abs(freq[2] - 0.0475) < 0.006
    assert d["x"].shape == (20000, 85)


def test_small_sets_and_add10():
    a = tabular.make_add10(300, 100, seed=0)
    assert a["x"].shape == (300, 10) and a["task"] == "regression"
    assert abs(float(a["y"].mean())) < 1e-5 and abs(float(a["y"].std()) - 1) < 1e-4
    for name, k in (("wine", 3), ("breast_cancer", 2)):
        d = tabular.load_small(name)
        assert d["n_classes"] == k and set(np.unique(d["y_test"])) == set(range(k))
    with pytest.raises(ValueError, match="dataset"):
        tabular.load_small("iris")


def test_user_airfoil_file(tmp_path):
    rng = np.random.default_rng(0)
    rows = np.column_stack([rng.uniform(200, 20000, 40), rng.uniform(0, 20, 40), rng.uniform(0.02, 0.3, 40),
                            rng.uniform(30, 70, 40), rng.uniform(0, 0.05, 40), rng.uniform(100, 140, 40)])
    p = tmp_path / "airfoil_self_noise.dat"
    p.write_text("\n".join("\t".join(f"{v:.5g}" for v in r) for r in rows))
    d = tabular.load_airfoil(p)
    assert d["x"].shape[1] == 5 and len(d["y"]) + len(d["y_test"]) == 40
    bad = tmp_path / "bad.dat"
    bad.write_text("\n".join("\t".join(f"{v:.5g}" for v in r[:5]) for r in rows))
    with pytest.raises(ValueError, match="6 numeric columns"):
        tabular.load_airfoil(bad)
    with pytest.raises(ValueError, match="no such file"):
        tabular.load_airfoil(tmp_path / "missing.dat")


def test_user_census_file(tmp_path):
    line = "39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, Male, 2174, 0, 40, United-States, {}"
    p = tmp_path / "adult.data"
    p.write_text("\n".join(line.format("<=50K" if i % 3 else ">50K.") for i in range(30)))
    d = tabular.load_census(p)
    assert d["n_classes"] == 2 and set(np.unique(np.concatenate([d["y"], d["y_test"]]))) == {0, 1}
    short = tmp_path / "short.data"
    short.write_text("\n".join(",".join(line.split(",")[:14]) for _ in range(5)))
    with pytest.raises(ValueError, match="15"):
        tabular.load_census(short)
    label = tmp_path / "label.data"
    label.write_text(line.format("rich"))
    with pytest.raises(ValueError, match="income"):
        tabular.load_census(label)
