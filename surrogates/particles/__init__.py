"""Particle surrogates: graph network simulators (GNS) on torch-geometric, trained on
the MPM's ``particles`` datasets and served in the simulator's layout."""

from surrogates.particles.data import ParticleDataModule
from surrogates.particles.inference import GraphSimulator, particle_state
from surrogates.particles.module import ParticleSurrogate

__all__ = ["GraphSimulator", "ParticleDataModule", "ParticleSurrogate", "particle_state"]
