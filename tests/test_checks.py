"""kerastag.checks: the one integer and number validator of configs, builders and specs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kerastag.checks import check_int, check_number, is_int, is_real
from kerastag.errors import ConfigError, KerastagError, ModelError


@pytest.mark.parametrize("value", [3, np.int64(3), np.int32(3), np.uint8(3)])
def test_python_and_numpy_integers_are_accepted_as_int(value):
    result = check_int("blocks", value, minimum=1)
    assert result == 3 and type(result) is int
    assert is_int(value) and is_real(value)


@pytest.mark.parametrize("value", [True, False, np.bool_(True)])
def test_bools_are_neither_integers_nor_numbers(value):
    assert not is_int(value) and not is_real(value)
    with pytest.raises(KerastagError, match=f"n_classes: expected an integer, got {value!r}$"):
        check_int("n_classes", value)
    with pytest.raises(KerastagError, match="alpha: expected a finite number"):
        check_number("alpha", value)


@pytest.mark.parametrize("value", [3.0, "3", None, np.float64(3.0), [3]])
def test_non_integers_are_refused(value):
    with pytest.raises(KerastagError) as info:
        check_int("epochs", value)
    assert str(info.value) == f"epochs: expected an integer, got {value!r}"


@pytest.mark.parametrize("kwargs, value, message", [
    ({"minimum": 1}, 0, "folds: expected an integer >= 1, got 0"),
    ({"maximum": 4}, 7, "folds: expected an integer <= 4, got 7"),
    ({"minimum": 0, "maximum": 4}, 7, "folds: expected an integer >= 0 and <= 4, got 7"),
    ({"minimum": 0, "maximum": 4}, -1, "folds: expected an integer >= 0 and <= 4, got -1"),
])
def test_int_bounds_are_inclusive_and_named_in_the_message(kwargs, value, message):
    with pytest.raises(KerastagError) as info:
        check_int("folds", value, **kwargs)
    assert str(info.value) == message
    assert check_int("folds", kwargs.get("minimum", kwargs.get("maximum")), **kwargs) == \
        kwargs.get("minimum", kwargs.get("maximum"))  # the bound itself is accepted


@pytest.mark.parametrize("value", [0.25, 1, np.float32(0.25), np.int64(1)])
def test_numbers_are_returned_as_float(value):
    result = check_number("alpha", value, minimum=0)
    assert result == float(value) and type(result) is float


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, np.float64("nan"), np.float32("inf")])
def test_nan_and_inf_are_refused_even_without_bounds(value):
    with pytest.raises(KerastagError, match="learning_rate: expected a finite number, got"):
        check_number("learning_rate", value)


@pytest.mark.parametrize("kwargs, value, message", [
    ({"minimum": 0}, -0.5, "alpha: expected a finite number >= 0, got -0.5"),
    ({"above": 0}, 0.0, "alpha: expected a finite number > 0, got 0.0"),
    ({"minimum": 0, "below": 1}, 1.0, "alpha: expected a finite number >= 0 and < 1, got 1.0"),
    ({"above": 0, "maximum": 1}, 1.5, "alpha: expected a finite number > 0 and <= 1, got 1.5"),
    ({"above": 0}, "0.1", "alpha: expected a finite number > 0, got '0.1'"),
])
def test_number_bounds_in_the_message(kwargs, value, message):
    with pytest.raises(KerastagError) as info:
        check_number("alpha", value, **kwargs)
    assert str(info.value) == message


def test_exclusive_and_inclusive_bounds_at_the_edge():
    assert check_number("x", 0.0, minimum=0) == 0.0
    assert check_number("x", 1.0, maximum=1) == 1.0
    with pytest.raises(KerastagError):
        check_number("x", 1.0, below=1)


@pytest.mark.parametrize("error", [ConfigError, ModelError])
def test_the_error_class_is_the_callers(error):
    with pytest.raises(error):
        check_int("k", -1, minimum=0, error=error)
    with pytest.raises(error):
        check_number("p", math.nan, error=error)
