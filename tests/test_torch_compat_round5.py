"""Fifth round of torch scripts run unchanged (REINFORCE/PPO, GNNs, forecasters, distillation,
HuggingFace-style loops, PINNs, recommenders, autoencoders, GANs), with torch 2.x as the
oracle: each test pins one thing such a script needed and pydlk lacked or did differently."""

import numpy as np
import pytest

import pydlk

torch = pytest.importorskip("torch")


def _np(t):
    if isinstance(t, pydlk.Tensor):
        return np.asarray(t.detach())
    return t.detach().numpy()


# ------------------------------------------------------------ autograd.grad's full signature


def _gp(lib, only_inputs=True):
    """WGAN-GP's gradient penalty, spelled as the papers' code spells it."""
    r = np.random.default_rng(0)
    w = lib.tensor(r.standard_normal((3, 1)), requires_grad=True)
    x = lib.tensor(r.standard_normal((4, 3)), requires_grad=True)
    d = (x @ w).tanh().view(-1)
    g = lib.autograd.grad(
        outputs=d,
        inputs=x,
        grad_outputs=lib.ones_like(d),
        create_graph=True,
        retain_graph=True,
        only_inputs=only_inputs,
    )[0]
    pen = ((g.norm(2, dim=1) - 1) ** 2).mean()
    pen.backward()
    return pen, w.grad


def test_grad_only_inputs_gradient_penalty():
    (pt, gt), (pp, gp) = _gp(torch), _gp(pydlk)
    np.testing.assert_allclose(_np(pp), _np(pt), rtol=1e-10)
    np.testing.assert_allclose(_np(gp), _np(gt), rtol=1e-10)
    with pytest.warns(FutureWarning, match="only_inputs argument is deprecated"):
        _gp(pydlk, only_inputs=False)


def test_grad_materialize_grads_and_allow_unused_default():
    for lib in (torch, pydlk):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        b = lib.tensor([3.0], requires_grad=True)
        (ga, gb) = lib.autograd.grad((a * a).sum(), (a, b), materialize_grads=True)
        np.testing.assert_array_equal(_np(ga), [2.0, 4.0])
        np.testing.assert_array_equal(_np(gb), [0.0])
        with pytest.raises(ValueError, match="allow_unused"):
            lib.autograd.grad((a * a).sum(), (a, b), materialize_grads=True, allow_unused=False)
        with pytest.raises(RuntimeError, match="not have been used"):
            lib.autograd.grad((a * a).sum(), (a, b))
        with pytest.raises(RuntimeError, match="cannot be empty"):
            lib.autograd.grad((a * a).sum(), [])


def test_grad_dict_inputs_and_batched_grads():
    res = {}
    for lib in (torch, pydlk):
        x = lib.tensor([[1.0, 2.0, 3.0]], dtype=lib.float64, requires_grad=True)
        w = lib.tensor([[0.5, -1.0], [2.0, 0.0], [1.0, 1.0]], dtype=lib.float64, requires_grad=True)
        y = (x @ w).sin()
        d = lib.autograd.grad(y.sum(), {"x": x, "w": w}, retain_graph=True)
        assert list(d) == ["x", "w"]
        eye = lib.eye(2, dtype=lib.float64).unsqueeze(1)  # (2, 1, 2): one row of the Jacobian each
        (jx,) = lib.autograd.grad(y, x, eye, retain_graph=True, is_grads_batched=True)
        res[lib.__name__] = (_np(d["x"]), _np(d["w"]), _np(jx))
    for a, b in zip(res["pydlk"], res["torch"]):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert res["pydlk"][2].shape == (2, 1, 3)


# ------------------------------------------------------------ torch.utils.data's import paths


def test_utils_data_submodules_are_pydlks():
    import importlib

    for sub, names in {
        "dataloader": ["DataLoader", "default_collate", "default_convert", "get_worker_info"],
        "dataset": ["Dataset", "IterableDataset", "TensorDataset", "ChainDataset"],
        "sampler": ["Sampler", "RandomSampler", "WeightedRandomSampler", "BatchSampler"],
        "distributed": ["DistributedSampler"],
    }.items():
        mod = importlib.import_module("pydlk.utils.data." + sub)
        ref = importlib.import_module("torch.utils.data." + sub)
        for n in names:
            assert hasattr(ref, n)
            assert getattr(mod, n) is getattr(pydlk.data, n), (sub, n)


def _shape_of(b):
    """A batch with each Tensor replaced by its values, containers and their types kept."""
    if hasattr(b, "shape"):
        return ("T", np.asarray(b).tolist())
    if isinstance(b, dict):
        return {k: _shape_of(v) for k, v in b.items()}
    if isinstance(b, (list, tuple)):
        return (type(b).__name__, [_shape_of(v) for v in b])
    return b


def test_default_collate_string_fields_are_tuples():
    import torch.utils.data as td

    for batch in ([("a", 1), ("b", 2)], [{"s": "x", "n": [1, "y"]}] * 2, ["p", "q"]):
        got, ref = pydlk.data.default_collate(batch), td.default_collate(batch)
        assert _shape_of(got) == _shape_of(ref)


def test_stack_and_chain_datasets():
    import torch.utils.data as td

    class Stream:
        def __init__(self, lib, lo, hi):
            self.cls = type(
                "S",
                (lib.utils.data.IterableDataset,),
                {"__iter__": lambda s: iter(range(lo, hi)), "__len__": lambda s: hi - lo},
            )

    out = {}
    for lib in (torch, pydlk):
        D = lib.utils.data
        a = D.TensorDataset(lib.arange(4))
        b = D.TensorDataset(lib.arange(4) * 10)
        st = D.StackDataset(a, b)
        sd = D.StackDataset(x=a, y=b)
        chain = Stream(lib, 0, 3).cls() + Stream(lib, 7, 9).cls()
        assert type(chain).__name__ == "ChainDataset"
        batches = [
            [int(v) for v in t[0].reshape(-1)]
            for t in next(iter(D.DataLoader(sd, batch_size=4))).values()
        ]
        out[lib.__name__] = (
            len(st),
            [int(t[0]) for t in st[2]],
            sorted(sd[1]),
            list(chain),
            len(chain),
            batches,
        )
        with pytest.raises(ValueError, match="Size mismatch"):
            D.StackDataset(a, D.TensorDataset(lib.arange(3)))
        with pytest.raises(ValueError, match="both types"):
            D.StackDataset(a, y=b)
    assert out["pydlk"] == out["torch"]
    assert td.ChainDataset is not None


# ------------------------------------------------------------ 1-D pooling, unpooling, LP pooling


def _both_grad(fn, arr, rtol=1e-10):
    """``fn(lib, F, x)`` under torch and pydlk on a float64 leaf: values (and indices when a
    pair comes back) and the leaf's gradient for a random upstream gradient."""
    outs = []
    for lib in (torch, pydlk):
        x = lib.tensor(arr, requires_grad=True)
        y = fn(lib, lib.nn.functional, x)
        yy = y[0] if isinstance(y, tuple) else y
        yy.backward(lib.tensor(np.random.default_rng(1).standard_normal(tuple(yy.shape))))
        outs.append((y if isinstance(y, tuple) else (y,), x.grad))
    (yt, gt), (yp, gp) = outs
    for a, b in zip(yp, yt):
        assert str(a.dtype) == str(b.dtype).split(".")[-1]
        np.testing.assert_allclose(_np(a), _np(b), rtol=rtol)
    np.testing.assert_allclose(_np(gp), _np(gt), rtol=rtol)


_A1 = np.random.default_rng(0).standard_normal((2, 3, 11))
_A2 = np.random.default_rng(0).standard_normal((2, 3, 7, 9))


@pytest.mark.parametrize(
    "fn,arr",
    [
        (lambda lib, F, x: F.max_pool1d(x, 3), _A1),
        (lambda lib, F, x: F.max_pool1d(x, 3, 2, 1, 2, ceil_mode=True, return_indices=True), _A1),
        (lambda lib, F, x: F.avg_pool1d(x, 4, 3, 2, ceil_mode=True, count_include_pad=False), _A1),
        (lambda lib, F, x: F.avg_pool1d(x[0], (3,)), _A1),
        (lambda lib, F, x: F.adaptive_avg_pool1d(x, 4), _A1),
        (lambda lib, F, x: F.adaptive_max_pool1d(x, 5, return_indices=True), _A1),
        (lambda lib, F, x: F.max_pool1d_with_indices(x, 2), _A1),
        (lambda lib, F, x: F.max_unpool1d(*F.max_pool1d(x, 2, return_indices=True), 2), _A1),
        (
            lambda lib, F, x: F.max_unpool1d(
                *F.max_pool1d(x, 2, return_indices=True), 2, output_size=[11]
            ),
            _A1,
        ),
        (
            lambda lib, F, x: F.max_unpool2d(
                *F.max_pool2d(x, 2, return_indices=True), 2, output_size=x.shape
            ),
            _A2,
        ),
        (
            lambda lib, F, x: F.max_unpool2d(*F.max_pool2d_with_indices(x, (2, 3), 2), (2, 3), 2),
            _A2,
        ),
        (lambda lib, F, x: F.lp_pool1d(x.abs() + 0.1, 2, 3), _A1),
        (lambda lib, F, x: F.lp_pool2d(x.abs() + 0.1, 3.0, (2, 3), stride=2), _A2),
        (lambda lib, F, x: lib.nn.AdaptiveMaxPool1d(3)(x), _A1),
        (lambda lib, F, x: lib.nn.AvgPool1d(3, 2, 1)(x), _A1),
    ],
)
def test_pool1d_unpool_lppool_match_torch(fn, arr):
    _both_grad(fn, arr)


def test_pool1d_modules_repr_and_segnet_roundtrip():
    for cls, args in [
        ("MaxPool1d", (3,)),
        ("AvgPool1d", (3, 2)),
        ("AdaptiveAvgPool1d", (4,)),
        ("MaxUnpool1d", (2,)),
        ("MaxUnpool2d", (2,)),
        ("LPPool2d", (2, (2, 3), 1)),
    ]:
        assert repr(getattr(pydlk.nn, cls)(*args)) == repr(getattr(torch.nn, cls)(*args))
    # SegNet's encoder/decoder pair: pool with indices, unpool to the pre-pool size
    x = pydlk.tensor(_A2[:, :, :6, :8])
    pool, unpool = pydlk.nn.MaxPool2d(2, return_indices=True), pydlk.nn.MaxUnpool2d(2)
    y, idx = pool(x)
    up = unpool(y, idx, output_size=x.size())
    assert up.shape == x.shape and np.count_nonzero(_np(up)) == y.numel()
    with pytest.raises(ValueError, match="indices"):
        unpool(y, idx[..., :1])
