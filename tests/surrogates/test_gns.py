"""GNS: permutation-equivariant, translation-invariant with displacement edge features
(open and periodic), every parameter trained, the config rebuilds it, bad inputs named."""

import numpy as np
import pytest
import torch

from surrogates.graph import displacements, radius_graph
from surrogates.models import GNS

RADIUS = 0.2
N_TYPES = 3


def _graph(x: torch.Tensor, box=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Edge index and edge features ``[disp / R, |disp| / R]`` of positions ``x``."""
    edge_index = radius_graph(x, RADIUS, max_neighbours=40, boxsize=box)
    d = displacements(x, edge_index, box) / RADIUS
    return edge_index, torch.cat([d, d.norm(dim=-1, keepdim=True)], dim=-1).float()


@pytest.fixture
def case():
    """A 2D cloud of 80 particles, node features, types 0..2, a small model."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(80, 2, generator=g, dtype=torch.float64)
    nodes = torch.randn(80, 5, generator=g)
    types = torch.randint(0, N_TYPES, (80,), generator=g)
    torch.manual_seed(0)
    model = GNS(5, 3, 2, latent=16, message_passing_steps=3, n_particle_types=N_TYPES,
                type_embedding=4)
    return x, nodes, types, model


def test_every_parameter_gets_a_gradient(case):
    x, nodes, types, model = case
    assert set(types.tolist()) == set(range(N_TYPES))
    out = model(nodes, types, *_graph(x))
    assert out.shape == (80, 2)
    out.square().mean().backward()
    unused = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not unused
    assert len(model.processor) == 3


def test_permutation_equivariant(case):
    x, nodes, types, model = case
    edge_index, edge_features = _graph(x)
    out = model(nodes, types, edge_index, edge_features)
    g = torch.Generator().manual_seed(1)
    perm = torch.randperm(80, generator=g)          # new node k is old node perm[k]
    inverse = torch.argsort(perm)                    # old node m is new node inverse[m]
    shuffle = torch.randperm(edge_index.shape[1], generator=g)
    permuted = model(nodes[perm], types[perm], inverse[edge_index][:, shuffle],
                     edge_features[shuffle])
    torch.testing.assert_close(permuted, out[perm], atol=1e-5, rtol=0)


def test_interaction_is_the_mlp_of_the_concatenation(case):
    """The factorised first layer computes ``e + MLP([e, v_i, v_j])`` and
    ``v + MLP([v, sum_j e'])`` exactly as the interaction network defines them."""
    x, _, _, model = case
    edge_index, _ = _graph(x)
    layer = model.processor[0]
    g = torch.Generator().manual_seed(2)
    v = torch.randn(80, 16, generator=g)
    e = torch.randn(edge_index.shape[1], 16, generator=g)
    j, i = edge_index
    e_ref = e + layer.edge_mlp(torch.cat([e, v[i], v[j]], dim=-1))
    summed = torch.zeros_like(v).index_add_(0, i, e_ref)
    v_ref = v + layer.node_mlp(torch.cat([v, summed], dim=-1))
    v_new, e_new = layer(v, edge_index, e)
    torch.testing.assert_close(e_new, e_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(v_new, v_ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("box", [None, (1.0, 1.0)])
def test_translation_invariant_with_displacement_features(case, box):
    x, nodes, types, model = case
    out = model(nodes, types, *_graph(x, box))
    shift = torch.tensor([0.37, -0.81], dtype=torch.float64)
    moved = x + shift if box is None else torch.remainder(x + shift, 1.0)
    edge_index, edge_features = _graph(moved, box)
    np.testing.assert_array_equal(edge_index.numpy(), _graph(x, box)[0].numpy())
    torch.testing.assert_close(model(nodes, types, edge_index, edge_features), out,
                               atol=1e-5, rtol=0)
    squeezed = model(nodes, types, *_graph(x * 0.9, box))
    assert (squeezed - out).abs().max() > 1e-2, "the output must depend on the geometry"


def test_config_rebuilds_the_model(case):
    x, nodes, types, model = case
    rebuilt = GNS(**model.config)
    rebuilt.load_state_dict(model.state_dict())
    graph = _graph(x)
    torch.testing.assert_close(rebuilt(nodes, types, *graph), model(nodes, types, *graph),
                               atol=0, rtol=0)
    assert model.config == {"node_features": 5, "edge_features": 3, "out_features": 2,
                            "latent": 16, "message_passing_steps": 3, "mlp_layers": 2,
                            "n_particle_types": N_TYPES, "type_embedding": 4}


BAD_INPUTS = [
    ("node_features", lambda a: {**a, "node_features": a["node_features"][:, :4]}),
    ("particle_type", lambda a: {**a, "particle_type": a["particle_type"].int()}),
    ("particle_type", lambda a: {**a, "particle_type": a["particle_type"][:-1]}),
    ("particle_type", lambda a: {**a, "particle_type": a["particle_type"] + N_TYPES}),
    ("edge_index", lambda a: {**a, "edge_index": a["edge_index"] + 80}),
    ("edge_index", lambda a: {**a, "edge_index": a["edge_index"].T}),
    ("edge_features", lambda a: {**a, "edge_features": a["edge_features"][:, :2]}),
    ("edge_features", lambda a: {**a, "edge_features": a["edge_features"][1:]}),
]


@pytest.mark.parametrize(("name", "corrupt"), BAD_INPUTS)
def test_bad_inputs_name_the_argument(case, name, corrupt):
    x, nodes, types, model = case
    edge_index, edge_features = _graph(x)
    args = corrupt({"node_features": nodes, "particle_type": types, "edge_index": edge_index,
                    "edge_features": edge_features})
    with pytest.raises(ValueError, match=name):
        model(**args)


@pytest.mark.parametrize(("name", "value"), [("latent", 0), ("mlp_layers", True),
                                             ("message_passing_steps", 2.0)])
def test_bad_config_names_the_argument(name, value):
    with pytest.raises(ValueError, match=name):
        GNS(5, 3, 2, **{name: value})
