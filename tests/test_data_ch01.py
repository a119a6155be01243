"""The 1101 and AND tasks (Chapter 1)."""
import pytest
import torch

from overparam.data import PATTERN_1101, make_and_task, make_pattern_1101
from overparam.models import conv_max


def test_1101_shapes_and_labels():
    g = torch.Generator().manual_seed(0)
    X, y = make_pattern_1101(5, generator=g, batch_shape=(3,))
    assert X.shape == (3, 10, 64) and y.shape == (3, 10)
    assert torch.equal(y[0], torch.tensor([0.0] * 5 + [1.0] * 5))
    assert X[y == 0].abs().max() <= 0.5  # negatives are pure U[-0.5, 0.5] noise


def test_kernel_1101_separates_generated_data_perfectly():
    g = torch.Generator().manual_seed(1)
    X, y = make_pattern_1101(2000, generator=g)
    score = conv_max(X, torch.tensor(PATTERN_1101).reshape(1, 1, 4))[0, :, 0]
    assert score[y == 1].min() > 2.5 > 1.5 > score[y == 0].max()


def test_1101_positive_sets_exactly_i_i1_i3():
    g = torch.Generator().manual_seed(2)
    X, y = make_pattern_1101(500, generator=g)
    ones = X[y == 1] == 1.0
    assert torch.all(ones.sum(-1) == 3)  # position i+2 stays noise
    i = ones.float().argmax(-1)
    rows = torch.arange(len(i))
    assert ones[rows, i + 1].all() and ones[rows, i + 3].all() and not ones[rows, i + 2].any()
    assert i.max() <= 64 - 5  # the source draws i in [0, 59]


def test_and_labels():
    g = torch.Generator().manual_seed(0)
    X, y = make_and_task(1000, generator=g)
    assert X.shape == (1000, 2)
    assert torch.equal(y.bool(), (X[:, 0] > 0) & (X[:, 1] > 0))
    assert 0.2 < y.mean() < 0.3


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_bad_sizes_raise(bad):
    with pytest.raises(ValueError, match="n="):
        make_pattern_1101(bad)
