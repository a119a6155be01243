"""Every verdict rule of the book is calibrated: null rate <= 5 %, every verdict reachable."""
import numpy as np
import pytest

from overparam import claims as C
from overparam.calibration import (MAX_NULL_RATE, Check, calibrate, chapter_checks,
                                   normal_seeds)
from overparam.stats import mean_ci

CHECKS = [(ch, c) for ch, cs in chapter_checks().items() for c in cs]


def _above_zero(x):
    return C.judge_above(mean_ci(x), 0.0)


def test_harness_catches_a_rule_that_calls_noise_reproduced():
    """A rule judging on the point estimate alone says 'reproduced' in ~50 % of null draws."""
    sloppy = Check("x > 0", lambda x: C.REPRODUCED if np.mean(x) > 0 else C.NOT_REPRODUCED,
                   normal_seeds(0, 1, 5), normal_seeds(2, 1, 5), normal_seeds(-2, 1, 5), 5)
    cal = calibrate(sloppy, draws=400)
    assert cal.null_rate > 0.3
    assert C.INCONCLUSIVE in cal.unreachable


def test_harness_on_the_t_interval_rule():
    good = Check("x > 0", _above_zero, normal_seeds(0, 1, 5), normal_seeds(2, 1, 5),
                 normal_seeds(-2, 1, 5), 5)
    cal = calibrate(good, draws=2000)
    assert cal.null_rate <= MAX_NULL_RATE      # one-sided 2.5 % at the boundary
    assert cal.power > 0.8                     # effect of 2 sd with 5 seeds
    assert cal.unreachable == []


def test_a_single_seed_is_inconclusive_never_reproduced():
    assert _above_zero(np.array([5.0])) == C.INCONCLUSIVE
    assert _above_zero(np.array([1.0, np.nan, 2.0])) == C.INCONCLUSIVE


@pytest.mark.skipif(not CHECKS, reason="no chapter declares CHECKS yet")
@pytest.mark.parametrize("chapter, check", CHECKS, ids=[f"{ch}:{c.claim[:40]}" for ch, c in CHECKS])
def test_every_rule_of_the_book_is_calibrated(chapter, check):
    cal = calibrate(check, chapter, draws=1000)
    assert cal.null_rate <= MAX_NULL_RATE, f"{check.claim}: null rate {cal.null_rate:.1%}"
    assert cal.unreachable == [], f"{check.claim}: never says {cal.unreachable}"
