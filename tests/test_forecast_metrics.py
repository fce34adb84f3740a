import numpy as np
import pytest

from export.forecast_metrics import direction_reference, directional_accuracy, forecast_metrics, mae


def test_mae_and_direction_by_hand():
    assert mae(np.array([1.0, -1.0]), np.array([0.0, 1.0])) == pytest.approx(1.5)
    ref = np.zeros(5)
    true = np.array([1.0, -2.0, 0.0, 3.0, -1.0])  # the 0 row has no direction and is left out
    pred = np.array([0.5, -0.1, 9.0, -1.0, 0.0])  # right, right, -, wrong, wrong (0 is not a call)
    assert directional_accuracy(pred, true, ref) == pytest.approx(0.5)
    assert np.isnan(directional_accuracy(pred, ref, ref))


def test_forecast_metrics_uses_each_tasks_reference():
    spread_now = np.array([1.0, 2.0, 1.0])
    ref = direction_reference(spread_now, 0.5)
    true = np.column_stack([[1.0, -1.0, 2.0], [2.0, 1.0, 1.0], [0.7, 0.2, 0.5]])
    pred = np.column_stack([[1.0, 1.0, 1.0], [1.5, 2.5, 3.0], [0.6, 0.6, 0.6]])
    out = forecast_metrics(pred, true, ref)
    assert out["mid_change"]["dir_acc"] == pytest.approx(2 / 3)
    assert out["spread"]["dir_acc"] == pytest.approx(0.5)  # row 2 is unchanged: left out; row 1 called wrong way
    assert out["volume"]["dir_acc"] == pytest.approx(0.5)
    assert out["volume"]["mae"] == pytest.approx((0.1 + 0.4 + 0.1) / 3)
    assert out["spread"]["n"] == 3


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="shapes"):
        forecast_metrics(np.zeros((2, 3)), np.zeros((3, 3)), np.zeros((2, 3)))
