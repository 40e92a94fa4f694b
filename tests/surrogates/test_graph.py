"""Radius graphs equal a brute-force O(N^2) neighbour list (2D/3D, walled/periodic, the
cKDTree path and the vesin path on the CPU); pairs at exactly the radius are kept;
overflow of the capacity is raised with its count, never truncated; displacements take
the minimum image and are differentiable."""

import math

import numpy as np
import pytest
import torch

from surrogates.graph import NeighbourOverflow, _edges_vesin, displacements, radius_graph


def _brute(x: np.ndarray, radius: float, box: np.ndarray | None) -> np.ndarray:
    """``(2, E)`` senders/receivers of every ordered pair with minimum-image distance
    ``<= radius``, sorted by receiver then sender."""
    d = x[None, :, :] - x[:, None, :]
    if box is not None:
        d = d - box * np.round(d / box)
    close = (np.linalg.norm(d, axis=-1) <= radius) & ~np.eye(len(x), dtype=bool)
    receivers, senders = np.nonzero(close)
    return np.stack([senders, receivers])


def _sorted(senders: torch.Tensor, receivers: torch.Tensor, n: int) -> np.ndarray:
    order = torch.argsort(receivers * n + senders)
    return torch.stack([senders[order], receivers[order]]).numpy()


CLOUDS = [(2, None), (3, None), (2, (1.0, 0.7)), (3, (1.0, 0.7, 0.8))]


def _cloud(dim: int, box, n: int = 300, seed: int = 0) -> np.ndarray:
    """Uniform in the box (or the unit cube), a third of the particles shifted by a
    period so the input is not wrapped."""
    rng = np.random.default_rng(seed)
    extent = np.ones(dim) if box is None else np.asarray(box)
    x = rng.uniform(0, extent, size=(n, dim))
    if box is not None:
        x[: n // 3] += extent * rng.choice([-1, 1], size=(n // 3, dim))
    return x


@pytest.mark.parametrize(("dim", "box"), CLOUDS)
def test_equals_brute_force(dim, box):
    x = _cloud(dim, box)
    radius = 0.12 if dim == 2 else 0.2
    box_ = None if box is None else np.asarray(box)
    reference = _brute(x, radius, box_)
    edge_index = radius_graph(x, radius, max_neighbours=64, boxsize=box)
    assert edge_index.dtype == torch.int64 and edge_index.device.type == "cpu"
    np.testing.assert_array_equal(edge_index.numpy(), reference)
    x32 = torch.tensor(x, dtype=torch.float32)
    np.testing.assert_array_equal(
        radius_graph(x32, radius, max_neighbours=64, boxsize=box).numpy(),
        _brute(x32.double().numpy(), radius, box_))
    senders, receivers = _edges_vesin(torch.tensor(x), radius, box_)
    np.testing.assert_array_equal(_sorted(senders, receivers, len(x)), reference)
    assert reference.shape[1] > 5 * len(x)
    if box is not None:
        wrapped = x % box_
        direct = np.linalg.norm(wrapped[reference[0]] - wrapped[reference[1]], axis=-1)
        assert (direct > radius).sum() > 20, "the cloud must have pairs across the faces"


@pytest.mark.parametrize("box", [None, (2.0, 2.0)])
def test_pairs_at_exactly_the_radius_are_kept(box):
    # (0.25, 1) and (1.75, 1): 1.5 apart directly, 0.5 across the periodic face; the
    # third particle is one ulp farther than 0.5 from the first
    far = 0.75 if box is None else 1.75
    x = np.array([[0.25, 1.0], [far, 1.0], [0.25, math.nextafter(1.5, 2.0)]])
    expected = np.array([[1, 0], [0, 1]])
    np.testing.assert_array_equal(radius_graph(x, 0.5, max_neighbours=2, boxsize=box).numpy(),
                                  expected)
    s, r = _edges_vesin(torch.tensor(x), 0.5, None if box is None else np.asarray(box))
    np.testing.assert_array_equal(_sorted(s, r, 3), expected)


def test_overflow_is_raised_with_its_count_not_truncated():
    rng = np.random.default_rng(1)
    cluster = rng.uniform(0, 0.01, size=(8, 2))
    spread = np.stack(np.meshgrid(np.arange(5.0), np.arange(4.0)), -1).reshape(-1, 2) + 1
    x = np.concatenate([spread, cluster])
    with pytest.raises(NeighbourOverflow, match="8 of 28 particles.*max_neighbours=6.*"
                                                "largest degree 7") as info:
        radius_graph(x, 0.1, max_neighbours=6)
    assert (info.value.count, info.value.max_degree) == (8, 7)
    edge_index = radius_graph(x, 0.1, max_neighbours=7)
    assert edge_index.shape == (2, 8 * 7)
    assert torch.bincount(edge_index[1], minlength=28)[20:].tolist() == [7] * 8


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"positions": np.zeros((4, 1))}, "positions"),
    ({"positions": np.zeros(4)}, "positions"),
    ({"positions": [[0.0, 0.0]]}, "positions"),
    ({"positions": np.array([[0.0, np.nan], [1.0, 1.0]])}, "positions"),
    ({"radius": 0.0}, "radius"),
    ({"radius": math.inf}, "radius"),
    ({"max_neighbours": 0}, "max_neighbours"),
    ({"max_neighbours": 2.0}, "max_neighbours"),
    ({"boxsize": (1.0,)}, "boxsize"),
    ({"boxsize": (1.0, -1.0)}, "boxsize"),
    ({"boxsize": (0.3, 1.0)}, "radius"),
])
def test_bad_arguments_name_themselves(kwargs, name):
    args = {"positions": np.zeros((4, 2)), "radius": 0.2, "max_neighbours": 4, **kwargs}
    with pytest.raises(ValueError, match=name):
        radius_graph(args.pop("positions"), args.pop("radius"), **args)


def test_displacements_take_the_minimum_image_and_are_differentiable():
    box = (1.0, 0.5)
    x = torch.tensor([[0.05, 0.25], [0.95, 0.25], [0.5, 0.45], [0.5, 0.05]],
                     dtype=torch.float64)
    edge_index = radius_graph(x, 0.2, max_neighbours=4, boxsize=box)
    np.testing.assert_array_equal(edge_index.numpy(), [[1, 0, 3, 2], [0, 1, 2, 3]])
    d = displacements(x, edge_index, box)
    np.testing.assert_allclose(d.numpy(), [[-0.1, 0.0], [0.1, 0.0], [0.0, 0.1], [0.0, -0.1]],
                               atol=1e-12)
    np.testing.assert_allclose(displacements(x, edge_index).numpy()[0], [0.9, 0.0])
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p: displacements(p, edge_index, box), (x,))
    with pytest.raises(ValueError, match="edge_index"):
        displacements(x, torch.tensor([[0, 4], [1, 0]]))
