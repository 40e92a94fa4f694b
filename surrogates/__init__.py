"""Neural surrogates of the simulators: grid models (FNO, TFNO, U-Net, NeuralStagger),
graph network simulators on particles (:mod:`surrogates.particles`), Lightning training
(``simkit-train``) and :func:`load` for use inside user PDE codes."""

from surrogates.inference import Surrogate, load

__all__ = ["Surrogate", "load"]
