"""Gravitational N-body dynamics: direct summation (numpy / Taichi) and particle-mesh
gravity, symplectic, Hermite and adaptive integrators, step-size controllers and a
learning environment, initial conditions, the registered ``nbody`` simulator."""

from simkit.simulators.nbody import ics
from simkit.simulators.nbody.env import TimeStepEnv
from simkit.simulators.nbody.hermite import AarsethStep, FixedStep, StepController, StepState
from simkit.simulators.nbody.simulation import (
    G_AU_DAY_MSUN,
    INTEGRATORS,
    Encounter,
    Escape,
    NBody,
)
from simkit.simulators.nbody.simulator import SCENES, NBodySimulator

__all__ = ["NBody", "NBodySimulator", "Encounter", "Escape", "INTEGRATORS", "SCENES",
           "G_AU_DAY_MSUN", "ics", "TimeStepEnv", "AarsethStep", "FixedStep", "StepController",
           "StepState"]
