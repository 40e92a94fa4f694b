"""The graph network simulator (GNS): encode, process, decode.

Sanchez-Gonzalez et al. 2020, "Learning to Simulate Complex Physics with Graph
Networks", as benchmarked by LagrangeBench. The encoder lifts node features (with a
learned embedding of the particle type) and edge features to ``latent`` channels; the
processor runs ``message_passing_steps`` interaction networks with their own weights,
each a torch-geometric :class:`~torch_geometric.nn.MessagePassing` with residual edge
and node updates; the decoder maps each node's latent to ``out_features`` (e.g. a
normalised acceleration). Every MLP has ``mlp_layers`` hidden ReLU layers of width
``latent``; all but the decoder end in a LayerNorm.

Shapes: node features ``(N, node_features)``, particle types ``(N,)``, edge index
``(2, E)`` with senders ``j`` in row 0 and receivers ``i`` in row 1 (as
:func:`surrogates.graph.radius_graph` returns), edge features ``(E, edge_features)``;
output ``(N, out_features)``.
"""

import itertools

import torch
from torch import nn
from torch_geometric.nn import MessagePassing

from surrogates.graph import _check_edge_index

__all__ = ["GNS"]


def _mlp(in_features: int, out_features: int, latent: int, layers: int, *,
         layer_norm: bool) -> nn.Sequential:
    """``layers`` hidden Linear+ReLU layers of width ``latent``, a Linear to
    ``out_features``, and a LayerNorm over it when ``layer_norm``."""
    widths = [in_features] + [latent] * layers
    modules: list[nn.Module] = []
    for a, b in itertools.pairwise(widths):
        modules += [nn.Linear(a, b), nn.ReLU()]
    modules.append(nn.Linear(widths[-1], out_features))
    if layer_norm:
        modules.append(nn.LayerNorm(out_features))
    return nn.Sequential(*modules)


class _Interaction(MessagePassing):
    """One interaction network: ``e'_ij = e_ij + MLP([e_ij, v_i, v_j])``, then
    ``v'_i = v_i + MLP([v_i, sum_j e'_ij])``.

    The edge MLP's first layer acts on the concatenation through its three column
    blocks, ``W [e, v_i, v_j] = W_e e + (W_i v)_i + (W_j v)_j``: the node blocks are
    applied once per node and gathered, not once per edge (a third of the edge MLP's
    multiply-adds at ~20 edges per node; the same parameters and the same function)."""

    def __init__(self, latent: int, mlp_layers: int):
        super().__init__(aggr="add")
        self.latent = latent
        self.edge_mlp = _mlp(3 * latent, latent, latent, mlp_layers, layer_norm=True)
        self.node_mlp = _mlp(2 * latent, latent, latent, mlp_layers, layer_norm=True)

    def forward(self, v: torch.Tensor, edge_index: torch.Tensor,
                e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``v`` (N, latent), ``e`` (E, latent) -> updated ``(v, e)``."""
        first = self.edge_mlp[0]
        w_e, w_i, w_j = first.weight.split(self.latent, dim=1)
        e = self.edge_updater(edge_index, p=v @ w_i.T, q=v @ w_j.T, e=e, w_e=w_e)
        summed = self.propagate(edge_index, e=e, size=(v.shape[0], v.shape[0]))
        return v + self.node_mlp(torch.cat([v, summed], dim=-1)), e

    def edge_update(self, p_i: torch.Tensor, q_j: torch.Tensor, e: torch.Tensor,
                    w_e: torch.Tensor) -> torch.Tensor:
        first = self.edge_mlp[0]
        return e + self.edge_mlp[1:](torch.addmm(first.bias, e, w_e.T) + p_i + q_j)

    def message(self, e: torch.Tensor) -> torch.Tensor:
        return e


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


class GNS(nn.Module):
    """Encode-process-decode graph network on particles.

    Parameters
    ----------
    node_features, edge_features, out_features : int
        Input widths per node and per edge, output width per node.
    latent : int
        Width of the latent node and edge features and of every hidden layer.
    message_passing_steps : int
        Interaction networks in the processor (weights not shared).
    mlp_layers : int
        Hidden layers per MLP.
    n_particle_types : int
        Particle types the embedding knows (types ``0 .. n_particle_types - 1``).
    type_embedding : int
        Width of the particle-type embedding.

    Shapes
    ------
    ``forward(node_features (N, node_features), particle_type (N,) int64,
    edge_index (2, E) int64, edge_features (E, edge_features)) -> (N, out_features)``.

    Examples
    --------
    >>> model = GNS(10, 3, 2, latent=32, message_passing_steps=2)
    >>> GNS(**model.config).config == model.config
    True
    """

    def __init__(self, node_features: int, edge_features: int, out_features: int, *,
                 latent: int = 128, message_passing_steps: int = 10, mlp_layers: int = 2,
                 n_particle_types: int = 16, type_embedding: int = 16):
        super().__init__()
        self._config = {name: _positive_int(name, value) for name, value in [
            ("node_features", node_features), ("edge_features", edge_features),
            ("out_features", out_features), ("latent", latent),
            ("message_passing_steps", message_passing_steps), ("mlp_layers", mlp_layers),
            ("n_particle_types", n_particle_types), ("type_embedding", type_embedding)]}
        self.embedding = nn.Embedding(n_particle_types, type_embedding)
        self.node_encoder = _mlp(node_features + type_embedding, latent, latent, mlp_layers,
                                 layer_norm=True)
        self.edge_encoder = _mlp(edge_features, latent, latent, mlp_layers, layer_norm=True)
        self.processor = nn.ModuleList(_Interaction(latent, mlp_layers)
                                       for _ in range(message_passing_steps))
        self.decoder = _mlp(latent, out_features, latent, mlp_layers, layer_norm=False)

    @property
    def config(self) -> dict[str, int]:
        """The constructor arguments: ``GNS(**model.config)`` rebuilds the model."""
        return dict(self._config)

    def forward(self, node_features: torch.Tensor, particle_type: torch.Tensor,
                edge_index: torch.Tensor, edge_features: torch.Tensor) -> torch.Tensor:
        """Per-node outputs ``(N, out_features)``; see the class docstring for shapes."""
        self._check(node_features, particle_type, edge_index, edge_features)
        v = self.node_encoder(torch.cat([node_features, self.embedding(particle_type)],
                                        dim=-1))
        e = self.edge_encoder(edge_features)
        for interaction in self.processor:
            v, e = interaction(v, edge_index, e)
        return self.decoder(v)

    def _check(self, node_features, particle_type, edge_index, edge_features) -> None:
        c = self._config
        if node_features.ndim != 2 or node_features.shape[1] != c["node_features"]:
            raise ValueError(f"node_features must have shape (N, {c['node_features']}), "
                             f"got {tuple(node_features.shape)}")
        n = node_features.shape[0]
        if particle_type.shape != (n,) or particle_type.dtype != torch.int64:
            raise ValueError(f"particle_type must be an int64 tensor of shape ({n},), got "
                             f"{particle_type.dtype} {tuple(particle_type.shape)}")
        if n and (int(particle_type.min()) < 0
                  or int(particle_type.max()) >= c["n_particle_types"]):
            raise ValueError(f"particle_type must lie in 0..{c['n_particle_types'] - 1}, "
                             f"got values in [{int(particle_type.min())}, "
                             f"{int(particle_type.max())}]")
        _check_edge_index(edge_index, n)
        if edge_features.shape != (edge_index.shape[1], c["edge_features"]):
            raise ValueError(f"edge_features must have shape ({edge_index.shape[1]}, "
                             f"{c['edge_features']}), got {tuple(edge_features.shape)}")
