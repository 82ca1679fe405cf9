import numpy as np
import pytest

from ctrkit.layers.checks import check_bool, check_choice, check_int, check_int_list, check_number


def test_check_int_accepts_numpy_integers_and_returns_int():
    value = check_int("k", np.int64(3), low=1)
    assert value == 3 and type(value) is int
    assert check_int("num_units", None, 1, none_ok=True) is None


@pytest.mark.parametrize("value", [0, -2, 1.5, True, "3", None])
def test_check_int_refuses(value):
    with pytest.raises(ValueError, match=r"`k` must be an integer >= 1, got"):
        check_int("k", value, low=1)


def test_check_number_bounds():
    assert check_number("dropout_rate", 0, 0, 1) == 0.0
    assert type(check_number("tau", np.float32(0.5), 0, low_open=True)) is float
    for bad, rule in [(1, r"\[0, 1\)"), (-0.1, r"\[0, 1\)"), (True, r"\[0, 1\)")]:
        with pytest.raises(ValueError, match=rule):
            check_number("dropout_rate", bad, 0, 1)
    with pytest.raises(ValueError, match="`tau` must be a number > 0, got 0"):
        check_number("tau", 0, 0, low_open=True)
    assert check_number("eps", 1, 0, 1, high_open=False) == 1.0


def test_check_bool():
    assert check_bool("use_bn", np.bool_(True)) is True
    with pytest.raises(ValueError, match="`use_bn` must be a bool, got 1"):
        check_bool("use_bn", 1)


def test_check_int_list():
    assert check_int_list("hidden_units", (np.int32(4), 2)) == [4, 2]
    assert check_int_list("hidden_units", []) == []
    for bad in ["12", [4, 0], [4, 2.0], 5, [True]]:
        with pytest.raises(ValueError, match="`hidden_units` must be a list of integers >= 1"):
            check_int_list("hidden_units", bad)
    with pytest.raises(ValueError, match="list of 1 or more integers"):
        check_int_list("layer_size", [], min_length=1)


def test_check_choice():
    assert check_choice("mode", "sum", ("sum", "mean")) == "sum"
    with pytest.raises(ValueError, match=r"`mode` must be one of \('sum', 'mean'\), got 'max'"):
        check_choice("mode", "max", ("sum", "mean"))
    with pytest.raises(ValueError, match="mode"):
        check_choice("mode", ["sum"], ("sum", "mean"))
