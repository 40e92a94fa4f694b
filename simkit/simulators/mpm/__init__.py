"""MLS-MPM simulator (Taichi): engine, material library, colliders, boundary particles,
seeding, scenes.

Importing this package registers the ``mpm`` simulator; it does not call ``ti.init``
(use :func:`simkit.init` first).
"""

from simkit.simulators.mpm.boundary import (
    KINEMATIC_TYPE,
    PARTICLE_TYPES,
    BoundaryParticles,
    describe_boundary,
    sample_boundary,
)
from simkit.simulators.mpm.colliders import Collider
from simkit.simulators.mpm.engine import MPM, MPMConfig, Particles, memory_estimate
from simkit.simulators.mpm.materials import MODELS, PRESETS, Material, evaluate, material
from simkit.simulators.mpm.scenes import SCENES, build_scene
from simkit.simulators.mpm.seeding import Box, Cylinder, ParticleBuilder, Sphere
from simkit.simulators.mpm.simulator import MPMSimulator

__all__ = [
    "MPM", "MPMConfig", "MPMSimulator", "Particles", "memory_estimate",
    "Material", "MODELS", "PRESETS", "material", "evaluate",
    "Collider",
    "KINEMATIC_TYPE", "PARTICLE_TYPES", "BoundaryParticles", "sample_boundary",
    "describe_boundary",
    "Box", "Sphere", "Cylinder", "ParticleBuilder",
    "SCENES", "build_scene",
]
