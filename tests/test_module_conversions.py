"""Module.set_submodule / to_empty / type / compile, the order of reassigned children and
parameters, and torch.amp.custom_fwd / custom_bwd / is_autocast_available, against torch 2.13
running the same code."""

import numpy as np
import pytest

import pydlk


def _net(lib):
    class R(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = lib.nn.Conv2d(3, 4, 3)
            self.bn = lib.nn.BatchNorm2d(4)
            self.fc = lib.nn.Linear(4, 2)

    return R()


def test_reassigned_children_and_parameters_keep_their_place_as_torch():
    torch = pytest.importorskip("torch")
    orders = []
    for lib in (pydlk, torch):
        r = _net(lib)
        r.conv1 = lib.nn.Conv2d(1, 4, 3)  # grayscale input: a common transfer-learning edit
        r.bn.weight = lib.nn.Parameter(lib.ones(4))
        r.bn.running_mean = lib.zeros(4)
        seq = lib.nn.Sequential(lib.nn.Linear(2, 3), lib.nn.ReLU(), lib.nn.Linear(3, 1))
        setattr(seq, "0", lib.nn.Linear(2, 3, bias=False))
        orders.append(
            (
                [n for n, _ in r.named_parameters()],
                list(r.state_dict()),
                [type(m).__name__ for m in seq],
                [n for n, _ in seq.named_parameters()],
            )
        )
    assert orders[0] == orders[1]
    assert orders[0][0][:2] == ["conv1.weight", "conv1.bias"]


def test_reassigned_sequential_layer_runs_in_its_place():
    seq = pydlk.nn.Sequential(pydlk.nn.Linear(2, 2), pydlk.nn.ReLU())
    setattr(seq, "0", pydlk.nn.Linear(2, 2))
    with pydlk.no_grad():
        seq[0].weight.copy_(-pydlk.eye(2))
        seq[0].bias.zero_()
    out = seq(pydlk.tensor([[1.0, -2.0]]))
    np.testing.assert_array_equal(out.detach().numpy(), [[0.0, 2.0]])  # Linear then ReLU


def test_set_submodule_as_torch():
    torch = pytest.importorskip("torch")
    for lib in (pydlk, torch):
        m = lib.nn.Sequential(lib.nn.Sequential(lib.nn.Linear(2, 2)), lib.nn.ReLU())
        m.set_submodule("0.0", lib.nn.Linear(2, 5))
        assert m[0][0].out_features == 5 and list(m[0]._modules) == ["0"]
        m.set_submodule("0.extra", lib.nn.Tanh())
        assert isinstance(m[0].extra, lib.nn.Tanh)
        with pytest.raises(AttributeError, match="has no attribute `nope`"):
            m.set_submodule("0.nope", lib.nn.Tanh(), strict=True)
        with pytest.raises(ValueError, match="Cannot set the submodule without a target name"):
            m.set_submodule("", lib.nn.Tanh())
        with pytest.raises(ValueError, match="is not an nn.Module"):
            m.set_submodule("1", 3)
        m[1].flag = 1
        with pytest.raises(AttributeError, match="`flag` is not an nn.Module"):
            m.set_submodule("1.flag", lib.nn.Tanh())


# torch's Module.compile loads its compiler, which warns about torch.jit's deprecation
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_type_casts_every_tensor_and_to_empty_keeps_shapes():
    torch = pytest.importorskip("torch")
    dtypes = []
    for lib in (pydlk, torch):
        m = lib.nn.Sequential(lib.nn.Linear(2, 3), lib.nn.BatchNorm1d(3))
        assert m.type(lib.float64) is m
        dtypes.append([str(t.dtype).split(".")[-1] for t in m.state_dict().values()])
        m2 = lib.nn.Linear(4, 2)
        assert m2.to_empty(device="cpu") is m2
        assert tuple(m2.weight.shape) == (2, 4) and m2.weight.dtype == lib.float32
        assert isinstance(m2.weight, lib.nn.Parameter) and m2.weight.requires_grad
        assert m2.compile() is None and isinstance(m2(lib.ones(1, 4)), lib.Tensor)
    assert dtypes[0] == dtypes[1] == ["float64"] * 7  # num_batches_tracked included


def test_custom_fwd_and_bwd_follow_torch():
    torch = pytest.importorskip("torch")
    seen = {}
    for lib in (pydlk, torch):
        log = seen[lib.__name__] = []

        class Scale(lib.autograd.Function):
            @staticmethod
            @lib.amp.custom_fwd(device_type="cpu", cast_inputs=lib.float64)
            def forward(ctx, x):
                log.append(("fwd", str(x.dtype).split(".")[-1], lib.is_autocast_enabled("cpu")))
                return x * 2

            @staticmethod
            @lib.amp.custom_bwd(device_type="cpu")
            def backward(ctx, g):
                log.append(("bwd", lib.is_autocast_enabled("cpu")))
                return g * 2

        class Plain(lib.autograd.Function):
            @staticmethod
            @lib.amp.custom_fwd(device_type="cpu")
            def forward(ctx, x):
                return x + 1

            @staticmethod
            @lib.amp.custom_bwd(device_type="cpu")
            def backward(ctx, g):
                log.append(("plain bwd", lib.is_autocast_enabled("cpu")))
                return g

        x = lib.ones(2, requires_grad=True)
        with lib.autocast("cpu", dtype=lib.bfloat16):
            y = Scale.apply(x)
            z = Plain.apply(x)
        (y.sum() + z.sum()).backward()
        log.append(("grad", x.grad.tolist(), str(y.dtype).split(".")[-1]))
        Scale.apply(lib.ones(1, requires_grad=True))  # outside autocast: no cast
        assert lib.amp.is_autocast_available("cpu")
    # the two engines run the two backwards in different orders: compare the events as sets
    assert sorted(map(str, seen["pydlk"])) == sorted(map(str, seen["torch"]))
    assert seen["pydlk"][0] == ("fwd", "float64", False)
    assert ("plain bwd", True) in seen["pydlk"] and ("bwd", False) in seen["pydlk"]
    with pytest.raises(ValueError, match="device_type of type str"):
        pydlk.amp.custom_fwd(device_type=None)
