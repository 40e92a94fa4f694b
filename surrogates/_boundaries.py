"""Which grid axes wrap around: the one check shared by the models and the metrics."""

from collections.abc import Sequence

__all__ = ["periodic_axes"]


def periodic_axes(periodic: bool | Sequence[bool], n_axes: int,
                  name: str = "periodic") -> tuple[bool, ...]:
    """``periodic`` as one bool per grid axis (storage order).

    Parameters
    ----------
    periodic : bool or sequence of bool
        One value for every axis, or one per axis.
    n_axes : int
        Grid axes.
    name : str
        The argument's name, for the error message.

    Returns
    -------
    tuple of bool, length ``n_axes``

    Raises
    ------
    TypeError
        ``periodic`` is neither a bool nor a sequence of bools.
    ValueError
        A sequence of another length than ``n_axes``.
    """
    if isinstance(periodic, bool):
        return (periodic,) * n_axes
    if isinstance(periodic, str | bytes) or not isinstance(periodic, Sequence) or not all(
            isinstance(p, bool) for p in periodic):
        raise TypeError(f"{name} must be a bool or a sequence of bools (one per grid axis), "
                        f"got {periodic!r}")
    if len(periodic) != n_axes:
        raise ValueError(f"{name} must hold one bool per grid axis ({n_axes}), got "
                         f"{list(periodic)}")
    return tuple(periodic)
