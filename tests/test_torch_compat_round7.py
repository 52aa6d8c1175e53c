"""Seventh round of torch scripts run unchanged (U-Net segmentation, seq2seq with packed
sequences and attention, BERT-style fine-tuning, normalizing flows, mixture density networks,
neural ODEs, metric learning, parametrizations, checkpointing and AMP, SWA, schedule chains,
data pipelines, hooks, pruning, state-dict surgery, generators, init, logging), with torch 2.x
as the oracle: each test pins one thing such a script needed and pydlk lacked or did
differently."""

import numpy as np
import pytest

import pydlk

torch = pytest.importorskip("torch")


def _np(t):
    if isinstance(t, pydlk.Tensor):
        return np.asarray(t.detach())
    return t.detach().numpy()


# ------------------------------------------------------------ torch.utils.checkpoint after import


def test_utils_checkpoint_is_an_attribute_after_import():
    # torch scripts write torch.utils.checkpoint.checkpoint(...) with only `import torch`
    cp = pydlk.utils.checkpoint
    lin = pydlk.nn.Linear(3, 2)
    x = pydlk.ones(4, 3, requires_grad=True)
    y = cp.checkpoint(lin, x, use_reentrant=False)
    np.testing.assert_allclose(_np(y), _np(lin(x)))
    assert cp.checkpoint_sequential is pydlk.utils.checkpoint.checkpoint_sequential
    assert torch.utils.checkpoint.checkpoint.__name__ == cp.checkpoint.__name__


# ------------------------------------------------------------ tensors print as torch prints them

_PRINT_CASES = [
    [[0.0, 0.0], [-0.0686, 0.0], [-0.057, -0.3766]],  # fixed 4 digits, right-aligned
    [1.5, 2.25, 1e-5],  # smallest below 1e-4: scientific
    [1.0, 2.0],  # integers-only floats: "1."
    [1e10, 1.0],  # integers-only with a wide range: scientific
    3.14159,
    [1, 2],  # int64: no dtype suffix
    [True, False],  # bool: no dtype suffix, right-aligned
    [float("nan"), 1.0, float("inf")],
    [-0.0, 0.0],
    [[1 + 2j, -3.5 - 0.25j]],
    [0.1] * 40,  # wraps at 80 characters
    [[]],
]


@pytest.mark.parametrize("data", _PRINT_CASES, ids=range(len(_PRINT_CASES)))
def test_repr_matches_torch(data):
    assert repr(pydlk.tensor(data)) == repr(torch.tensor(data))


def test_repr_summarises_wraps_and_suffixes_as_torch():
    f32 = np.float32
    for arr in (
        np.arange(2000, dtype=f32),
        np.arange(1200).reshape(40, 30),
        np.arange(30, dtype=f32).reshape(5, 6) / 7,
    ):
        assert repr(pydlk.tensor(arr)) == repr(torch.tensor(arr))
    a = np.random.default_rng(0).standard_normal((3, 4, 5)).astype(np.float32)
    assert repr(pydlk.tensor(a)) == repr(torch.tensor(a))
    lp = pydlk.linspace(0, 1, 30, requires_grad=True)
    assert repr(lp) == repr(torch.linspace(0, 1, 30, requires_grad=True))
    # dtype suffix: NumPy's name for what torch calls torch.float64
    assert (
        repr(pydlk.tensor([1.5, 2.0], dtype=pydlk.float64))
        == "tensor([1.5000, 2.0000], dtype=float64)"
    )
    assert repr(pydlk.zeros(2, 0)) == "tensor([], size=(2, 0))"
    assert repr(pydlk.nn.Parameter(pydlk.tensor([[1.0, 2.5]]))) == repr(
        torch.nn.Parameter(torch.tensor([[1.0, 2.5]]))
    )
    # worked by hand: 4 digits after the point, the widest element sets the width
    assert str(pydlk.tensor([-1.25, 10.5])) == "tensor([-1.2500, 10.5000])"


def test_repr_follows_set_printoptions_as_torch():
    try:
        for kw in ({"precision": 2}, {"sci_mode": False}, {"sci_mode": True}, {"linewidth": 40}):
            for lib in (torch, pydlk):
                lib.set_printoptions(**kw)
            for v in ([1.23456, 2.0], [1e-6, 1.0], (np.arange(20.0) / 3).tolist()):
                assert repr(pydlk.tensor(v)) == repr(torch.tensor(v)), kw
    finally:
        for lib in (torch, pydlk):
            lib.set_printoptions(profile="default")


# ------------------------------------------------ torch.tensor of NumPy scalars in a list

_SCALAR_LISTS = [
    [np.float64(1.0), 2.0],  # a NumPy float64 keeps float64, as torch: [np.mean(a), ...]
    [2.0, np.float64(1.0)],
    [np.float32(1.0), 2.0],
    [np.float32(1.0), np.float64(2.0)],
    [np.int32(1), 2],  # a Python int counts as int64
    [np.int32(1), 2.0],  # an integer with a float: the float
    [np.int32(1)],
    [np.float16(1.0), 2.0],
    [[np.float64(1.0)], [2.0]],
    [np.uint8(3), True],
    [np.float32(1.0), 1j],
    [np.float64(1.0), 1j],
    [np.bool_(True), 2.5],
    [1.0, 2.0],
    [1, 2],
]


@pytest.mark.parametrize("data", _SCALAR_LISTS, ids=range(len(_SCALAR_LISTS)))
def test_tensor_of_a_list_with_numpy_scalars_takes_their_dtype(data):
    t = pydlk.tensor(data)
    ref = torch.tensor(data)
    assert str(t.dtype) == str(ref.dtype).replace("torch.", "")
    np.testing.assert_array_equal(_np(t), ref.numpy())


def test_tensor_of_a_list_of_numpy_results_is_float64_by_hand():
    # np.mean of a float64 array is an np.float64: a loss history logged with it stays float64
    hist = [np.mean(np.array([1.0, 2.0])), np.std(np.array([1.0, 3.0]))]
    t = pydlk.tensor(hist)
    assert t.dtype == np.float64 and t.tolist() == [1.5, 1.0]
    assert pydlk.tensor([pydlk.tensor(1.0, dtype=pydlk.float64), 2.0]).dtype == np.float64
