"""pydlk.autograd.detect_anomaly: the forward op and module that first went non-finite, and the
Function whose backward returned NaN (torch.autograd.detect_anomaly)."""

import warnings

import numpy as np
import pytest

import pydlk
from pydlk import nn
from pydlk.autograd import detect_anomaly, is_anomaly_enabled, set_detect_anomaly


class Sqrt(nn.Module):
    def forward(self, x):
        return x.sqrt()


def _model():
    pydlk.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), Sqrt(), nn.Linear(4, 2))


def test_forward_records_op_and_module_and_backward_names_the_function():
    m = _model()
    x = pydlk.tensor(-np.ones((2, 3), np.float32) * 100)  # negative: sqrt gives NaN
    with detect_anomaly(m) as st:
        assert is_anomaly_enabled()
        loss = m(x).sum()
        op, where = st.first_nonfinite
        assert where == "1" and "qrt" in op
        with pytest.raises(
            RuntimeError,
            match=r"Function '\w*' returned nan values in its "
            r"\d+th output.*module '(1|2)'.*'\w*qrt\w*'",
        ):
            loss.backward()
    assert not is_anomaly_enabled()


def test_backward_nan_from_finite_forward_is_named():
    # sqrt(0) is finite; its backward 0.5/sqrt(0) * 0 is inf * 0 = NaN
    x = pydlk.tensor(np.zeros(3, np.float32), requires_grad=True)
    y = (x.sqrt() * 0.0).sum()
    with detect_anomaly() as st:
        y2 = (x.sqrt() * pydlk.tensor(np.zeros(3, np.float32))).sum()
        assert st.first_nonfinite is None
        with pytest.raises(RuntimeError, match="Sqrt.*returned nan"):
            y2.backward()
    y.backward()  # off again: no check, NaN gradient as torch gives without anomaly mode
    assert np.isnan(x.grad).all()


def test_torch_agrees_that_sqrt_backward_is_nan():
    torch = pytest.importorskip("torch")
    x = torch.zeros(3, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch announces the mode
        with (
            torch.autograd.detect_anomaly(),
            pytest.raises(RuntimeError, match="SqrtBackward0.*returned nan values"),
        ):
            (x.sqrt() * torch.zeros(3)).sum().backward()


def test_set_detect_anomaly_and_clean_runs():
    set_detect_anomaly(True)
    try:
        assert is_anomaly_enabled()
        m = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
        loss = (m(pydlk.tensor(np.ones((2, 3), np.float32))) ** 2).sum()
        loss.backward()  # all finite: nothing raised
        assert all(np.isfinite(p.grad).all() for p in m.parameters())
    finally:
        set_detect_anomaly(False)
    assert not is_anomaly_enabled()
