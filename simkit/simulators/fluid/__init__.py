"""Eulerian incompressible fluids on a MAC grid (Taichi), with an MGPCG pressure solve.

Importing this package registers the ``fluid`` simulator; it does not call ``ti.init``
(use :func:`simkit.init` first).
"""

from simkit.numerics.grid_operator import DIRICHLET, FLUID, SOLID
from simkit.numerics.mgpcg import MGPCG, SolveInfo
from simkit.simulators.fluid.engine import Fluid, FluidConfig, Side
from simkit.simulators.fluid.scenes import SCENES, build_scene
from simkit.simulators.fluid.simulator import FluidSimulator

__all__ = ["Fluid", "FluidConfig", "Side", "MGPCG", "SolveInfo", "FLUID", "SOLID",
           "DIRICHLET", "SCENES", "build_scene", "FluidSimulator"]
