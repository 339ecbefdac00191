"""The one integer and number validator every layer of kerastag uses.

Configs, feature specs, model builders, excerpt windows and mixing all check their
arguments with these two functions, so the same value is accepted or refused the same
way everywhere: integers are Python or numpy integers (never ``bool``), numbers are
real, non-bool and finite. The error class is the caller's (``ConfigError`` for a config
key, ``ModelError`` for a builder argument, ...); the message always reads
``"<name>: expected <what>, got <value>"``.
"""

from __future__ import annotations

import math
import numbers

from kerastag.errors import KerastagError


def is_int(value: object) -> bool:
    """True for Python and numpy integers; False for bools (``True`` is not a count)."""
    return isinstance(value, numbers.Integral) and not _is_bool(value)


def is_real(value: object) -> bool:
    """True for Python and numpy real numbers that are not bools."""
    return isinstance(value, numbers.Real) and not _is_bool(value)


def check_int(name: str, value: object, *, minimum: int | None = None,
              maximum: int | None = None, error: type[KerastagError] = KerastagError) -> int:
    """``value`` as an ``int`` if it is an integer in ``[minimum, maximum]``.

    Raises:
        error: naming ``name``, the bounds and the value received.
    """
    if not is_int(value) or (minimum is not None and value < minimum) or \
            (maximum is not None and value > maximum):
        raise error(f"{name}: expected an integer{_bounds(minimum, maximum)}, got {value!r}")
    return int(value)


def check_number(name: str, value: object, *, minimum: float | None = None,
                 maximum: float | None = None, above: float | None = None,
                 below: float | None = None, error: type[KerastagError] = KerastagError) -> float:
    """``value`` as a ``float`` if it is a finite number within the given bounds.

    Args:
        minimum, maximum: inclusive bounds.
        above, below: exclusive bounds (``above=0`` means positive).

    Raises:
        error: naming ``name``, the bounds and the value received (NaN and inf are refused).
    """
    ok = is_real(value) and math.isfinite(value)
    ok = ok and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    ok = ok and (above is None or value > above) and (below is None or value < below)
    if not ok:
        bounds = _bounds(minimum, maximum, above, below)
        raise error(f"{name}: expected a finite number{bounds}, got {value!r}")
    return float(value)


def _bounds(minimum=None, maximum=None, above=None, below=None) -> str:
    parts = [f">= {minimum}" if minimum is not None else "", f"> {above}" if above is not None else "",
             f"<= {maximum}" if maximum is not None else "", f"< {below}" if below is not None else ""]
    parts = [p for p in parts if p]
    return " " + " and ".join(parts) if parts else ""


def _is_bool(value: object) -> bool:
    return isinstance(value, bool) or type(value).__name__ == "bool_"
