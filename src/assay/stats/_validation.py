"""Input checks shared by the statistics functions.

Every public function validates its inputs up front and raises a ``ValueError`` that names the offending
argument (and the first bad index), so a bad column in an evaluation never turns into a silent NaN.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


def as_float_array(
    values: ArrayLike,
    name: str,
    *,
    ndim: int = 1,
    allow_empty: bool = False,
    allow_nan: bool = False,
    min_size: int = 1,
) -> FloatArray:
    """Convert ``values`` to a float64 array of the given dimension, rejecting empty input and NaN/inf.

    ``allow_nan`` keeps NaN (used where NaN means "missing", e.g. Krippendorff's alpha) but still
    rejects infinities.
    """
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from exc
    if arr.ndim != ndim:
        if ndim == 1 and arr.ndim == 0:
            raise ValueError(f"{name} must be a 1-D array of numbers, got a scalar")
        raise ValueError(f"{name} must be a {ndim}-D array, got {arr.ndim}-D with shape {arr.shape}")
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    if arr.size < min_size and not (allow_empty and arr.size == 0):
        raise ValueError(f"{name} needs at least {min_size} values, got {arr.size}")
    bad = np.isinf(arr) if allow_nan else ~np.isfinite(arr)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        loc = where[0] if len(where) == 1 else where
        kind = "NaN" if np.isnan(arr[where]) else "an infinite value"
        raise ValueError(f"{name} contains {kind} at index {loc}")
    return arr


def as_bool_array(values: ArrayLike, name: str, *, allow_empty: bool = False) -> BoolArray:
    """Convert booleans (or 0/1 numbers) to a 1-D bool array; anything else raises ``ValueError``."""
    arr = np.asarray(values)
    if arr.dtype == np.bool_:
        if arr.ndim != 1:
            raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
        if arr.size == 0 and not allow_empty:
            raise ValueError(f"{name} must not be empty")
        return arr
    num = as_float_array(arr, name, allow_empty=allow_empty)
    bad = (num != 0.0) & (num != 1.0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name} must be boolean (True/False or 0/1); index {i} is {num[i]!r}")
    return num.astype(np.bool_)


def as_labels(values: ArrayLike, name: str) -> NDArray[Any]:
    """A 1-D array of category labels (any hashable dtype); None and NaN are rejected."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of labels, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    if arr.dtype.kind == "f":
        nan = np.isnan(arr)
        if nan.any():
            raise ValueError(f"{name} contains NaN at index {int(np.argmax(nan))}")
    elif arr.dtype.kind == "O":
        for i, v in enumerate(arr):
            if v is None or (isinstance(v, float) and math.isnan(v)):
                raise ValueError(f"{name} contains a missing label at index {i}")
    return arr


def same_length(*pairs: tuple[str, NDArray[Any]]) -> None:
    """Raise if the named arrays do not all have the same length."""
    n0 = len(pairs[0][1])
    for name, arr in pairs[1:]:
        if len(arr) != n0:
            raise ValueError(f"{pairs[0][0]} and {name} must have the same length ({n0} != {len(arr)})")


def check_probability(value: float, name: str, *, open_interval: bool = True) -> float:
    """A number strictly inside (0, 1) (or within [0, 1] when ``open_interval`` is False)."""
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a number, got {value!r}") from exc
    ok = 0.0 < v < 1.0 if open_interval else 0.0 <= v <= 1.0
    if not ok or math.isnan(v):
        bounds = "strictly between 0 and 1" if open_interval else "between 0 and 1"
        raise ValueError(f"{name} must be {bounds}, got {value!r}")
    return v


def check_confidence(confidence: float) -> float:
    """The confidence level of an interval, strictly between 0 and 1."""
    return check_probability(confidence, "confidence")


def check_count(value: Any, name: str, *, minimum: int = 0) -> int:
    """An integer (numpy integers and integral floats accepted) that is at least ``minimum``."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    integral_float = (
        isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer()
    )
    if not (isinstance(value, (int, np.integer)) or integral_float):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    v = int(value)
    if v < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {v}")
    return v


def check_unit_interval(arr: FloatArray, name: str) -> None:
    """Raise if any value of ``arr`` lies outside [0, 1]."""
    bad = (arr < 0.0) | (arr > 1.0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name} must lie in [0, 1]; index {i} is {arr[i]!r}")
