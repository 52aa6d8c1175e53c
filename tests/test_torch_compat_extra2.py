"""torch names added for the second round of torch scripts, with torch 2.x as the oracle: diag,
diagonal, trace, equal, clamp_min/clamp_max, lerp, expm1, lgamma, digamma, randint_like,
Tensor.data_ptr, pydlk.Size; use_deterministic_algorithms, random.fork_rng and pydlk.cuda's
rng-state functions; nn.ParameterList/ParameterDict, PixelShuffle/PixelUnshuffle,
parameters_to_vector/vector_to_parameters; Subset and random_split indices; the
nn.modules.batchnorm attribute path. Values, dtypes, gradients for a random upstream gradient,
float64 gradchecks (and gradgradchecks where backward_graph exists) and errors."""

import json
import pickle

import numpy as np
import pytest

import pydlk
import pydlk.functional as F
from pydlk import nn

torch = pytest.importorskip("torch")


def _np(t):
    if isinstance(t, pydlk.Tensor):
        return np.asarray(t.detach())
    return t.detach().numpy()


def _vs_torch(fn_p, fn_t, arrays, rng, rtol=1e-5, atol=1e-6, grad=True):
    """Same inputs to both; outputs (values, dtype) and the gradients of sum(out * dy) agree."""
    ps = [pydlk.tensor(a, requires_grad=grad) for a in arrays]
    ts = [torch.tensor(a, requires_grad=grad) for a in arrays]
    yp, yt = fn_p(*ps), fn_t(*ts)
    assert tuple(yp.shape) == tuple(yt.shape)
    assert str(yp.dtype) == str(yt.dtype).replace("torch.", "")
    np.testing.assert_allclose(_np(yp), _np(yt), rtol=rtol, atol=atol)
    if grad:
        dy = rng.standard_normal(tuple(yt.shape)).astype(arrays[0].dtype)
        yt.backward(torch.tensor(dy))
        yp.backward(pydlk.tensor(dy))
        for p, t in zip(ps, ts):
            np.testing.assert_allclose(_np(p.grad), _np(t.grad), rtol=rtol, atol=10 * atol)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _keep_the_global_rng_state():
    """The tests here seed and draw from pydlk's generator; later tests see it unchanged."""
    state = pydlk.get_rng_state()
    yield
    pydlk.set_rng_state(state)


def _f64(rng, *shape):
    return pydlk.tensor(rng.standard_normal(shape), requires_grad=True)


# ----------------------------------------------------------------------------- diagonals


@pytest.mark.parametrize(
    "shape, kw",
    [
        ((4, 5), {}),
        ((4, 5), {"offset": 2}),
        ((4, 5), {"offset": -3}),
        ((4, 5), {"offset": 7}),
        ((2, 3, 4), {"dim1": 2, "dim2": 0}),
        ((2, 3, 4), {"offset": 1, "dim1": -1, "dim2": -2}),
    ],
)
def test_diagonal_matches_torch(rng, shape, kw):
    a = rng.standard_normal(shape).astype(np.float32)
    want = np.diagonal(a, kw.get("offset", 0), kw.get("dim1", 0), kw.get("dim2", 1))  # NumPy's
    np.testing.assert_array_equal(_np(pydlk.diagonal(pydlk.tensor(a), **kw)), want)
    _vs_torch(lambda x: x.diagonal(**kw), lambda x: x.diagonal(**kw), [a], rng)
    _vs_torch(lambda x: pydlk.diagonal(x, **kw), lambda x: torch.diagonal(x, **kw), [a], rng)


@pytest.mark.parametrize("k", [0, 1, -2])
def test_diag_of_a_vector_and_of_a_matrix_matches_torch(rng, k):
    v = rng.standard_normal(4).astype(np.float32)
    m = rng.standard_normal((3, 5)).astype(np.float32)
    _vs_torch(lambda x: pydlk.diag(x, k), lambda x: torch.diag(x, k), [v], rng)
    _vs_torch(lambda x: x.diag(diagonal=k), lambda x: x.diag(diagonal=k), [m], rng)
    np.testing.assert_array_equal(
        _np(pydlk.diag(pydlk.tensor([1, 2, 3]), k)), torch.diag(torch.tensor([1, 2, 3]), k)
    )


def test_trace_matches_torch_and_gives_int64_for_integers(rng):
    a = rng.standard_normal((4, 3)).astype(np.float32)
    _vs_torch(pydlk.trace, torch.trace, [a], rng)
    _vs_torch(lambda x: x.trace(), lambda x: x.trace(), [a.T.copy()], rng)
    i = np.arange(9, dtype=np.int32).reshape(3, 3)
    r = pydlk.tensor(i).trace()
    assert r.dtype == np.int64 and r.item() == torch.tensor(i).trace().item()


def test_diagonal_diag_trace_gradcheck_and_double_backward(rng):
    x = _f64(rng, 3, 4, 2)
    assert pydlk.gradcheck(lambda t: t.diagonal(1, 0, 1), (x,))
    assert pydlk.gradgradcheck(lambda t: t.diagonal(-1, 2, 0) ** 2, (x,))
    v = _f64(rng, 3)
    assert pydlk.gradcheck(lambda t: pydlk.diag(t, -1), (v,))
    assert pydlk.gradgradcheck(lambda t: pydlk.diag(t, 2) ** 3, (v,))
    assert pydlk.gradcheck(pydlk.trace, (_f64(rng, 3, 3),))


def test_diagonal_is_a_copy_and_bad_arguments_raise():
    x = pydlk.zeros(2, 2, requires_grad=True)
    d = x.diagonal()
    d = d.detach()
    d += 1
    assert float(x.sum()) == 0.0  # differs from torch: of a graph tensor, a copy, not a view
    with pytest.raises(ValueError, match="diag: input must be 1-D or 2-D"):
        pydlk.diag(pydlk.zeros(2, 2, 2))
    with pytest.raises(ValueError, match="diagonal: dim1 and dim2 must differ"):
        pydlk.zeros(2, 3).diagonal(dim1=1, dim2=-1)
    with pytest.raises(IndexError, match="diagonal"):
        pydlk.zeros(2, 3).diagonal(dim1=2)
    with pytest.raises(ValueError, match="diagonal: input must have at least 2"):
        pydlk.zeros(3).diagonal()
    with pytest.raises(ValueError, match="trace: input must be 2-D"):
        pydlk.trace(pydlk.zeros(3))


# ----------------------------------------------------------------------------- equal, clamp


def test_equal_is_a_python_bool_as_torch():
    cases = [
        (np.arange(4.0), np.arange(4.0)),
        (np.arange(4.0), np.arange(4.0) + 1e-7),
        (np.arange(4), np.arange(4.0)),  # values compared across dtypes
        (np.arange(4.0), np.arange(3.0)),
        (np.zeros((2, 2)), np.zeros(4)),
        (np.array([np.nan]), np.array([np.nan])),
    ]
    for a, b in cases:
        r = pydlk.equal(pydlk.tensor(a), pydlk.tensor(b))
        assert type(r) is bool
        assert r == torch.equal(torch.tensor(a), torch.tensor(b)), (a, b)
        assert pydlk.tensor(a).equal(pydlk.tensor(b)) == r


def test_clamp_min_and_clamp_max_match_torch(rng):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    _vs_torch(lambda x: x.clamp_min(0.1), lambda x: x.clamp_min(0.1), [a], rng)
    _vs_torch(lambda x: pydlk.clamp_max(x, -0.2), lambda x: torch.clamp_max(x, -0.2), [a], rng)
    lo = rng.standard_normal(4).astype(np.float32)
    _vs_torch(lambda x, m: x.clamp_min(m), lambda x, m: x.clamp_min(m), [a, lo], rng)
    p, t = pydlk.tensor(a), torch.tensor(a)
    assert p.clamp_min_(0.0) is p and p.clamp_max_(0.5) is p
    t.clamp_min_(0.0).clamp_max_(0.5)
    np.testing.assert_array_equal(_np(p), t.numpy())


# ----------------------------------------------------------------------------- lerp


def test_lerp_matches_torch_with_scalar_and_tensor_weights(rng):
    a, b = (rng.standard_normal((3, 4)).astype(np.float32) for _ in range(2))
    for w in (0.3, 0.75, 1.0, -0.5):
        _vs_torch(lambda x, y: pydlk.lerp(x, y, w), lambda x, y: torch.lerp(x, y, w), [a, b], rng)
    w = rng.uniform(-0.5, 1.5, (4,)).astype(np.float32)
    _vs_torch(lambda x, y, z: x.lerp(y, z), lambda x, y, z: x.lerp(y, z), [a, b, w], rng)
    one = pydlk.lerp(pydlk.tensor(a), pydlk.tensor(b), 1.0)
    np.testing.assert_array_equal(_np(one), b)  # exactly end at weight 1, as torch


def test_lerp_gradcheck_double_backward_and_dtype_errors(rng):
    x, y, w = _f64(rng, 2, 3), _f64(rng, 2, 3), _f64(rng, 3)
    assert pydlk.gradcheck(pydlk.lerp, (x, y, w))
    assert pydlk.gradgradcheck(lambda a, b, c: pydlk.lerp(a, b, c) ** 2, (x, y, w))
    assert pydlk.gradcheck(lambda a, b: pydlk.lerp(a, b, 0.7), (x, y))
    with pytest.raises(TypeError, match="lerp: expected end of dtype float32"):
        pydlk.lerp(pydlk.zeros(2), pydlk.zeros(2, dtype=pydlk.float64), 0.5)
    with pytest.raises(TypeError, match="lerp: expected a weight tensor"):
        pydlk.lerp(pydlk.zeros(2), pydlk.zeros(2), pydlk.zeros(2, dtype=pydlk.float64))
    with pytest.raises(TypeError, match="lerp: input dtype must be floating point"):
        pydlk.lerp(pydlk.tensor([1, 2]), pydlk.tensor([3, 4]), 0.5)


# ----------------------------------------------------------------------------- special functions


def test_expm1_matches_torch(rng):
    a = rng.standard_normal((3, 4)).astype(np.float32) * 3
    _vs_torch(pydlk.expm1, torch.expm1, [a], rng)
    _vs_torch(lambda x: x.expm1(), lambda x: x.expm1(), [np.array([1e-10, -1e-8])], rng)
    r = pydlk.expm1(pydlk.tensor([0, 1, 2]))
    assert r.dtype == np.float32
    np.testing.assert_allclose(_np(r), torch.expm1(torch.tensor([0, 1, 2])).numpy())


_GAMMA_POINTS = np.array(
    [1e-6, 0.1, 0.5, 0.9, 1.0, 1.5, 2.0, 2.5, 3.7, 7.2, 10.0, 25.3, 171.5, 1e4, 1e7, -0.3, -1.5,
     -2.7, -10.2, -100.5]
)  # fmt: skip


@pytest.mark.parametrize(
    "dtype, rtol, atol", [(np.float64, 1e-12, 1e-12), (np.float32, 1e-5, 1e-5)]
)
def test_lgamma_and_digamma_match_torch(rng, dtype, rtol, atol):
    a = _GAMMA_POINTS.astype(dtype)
    _vs_torch(pydlk.lgamma, torch.lgamma, [a], rng, rtol=rtol, atol=atol)
    _vs_torch(lambda x: x.digamma(), lambda x: x.digamma(), [a], rng, rtol, atol, grad=False)
    # torch's trigamma (digamma's gradient) stops its series early: about 1e-9 relative
    _vs_torch(pydlk.digamma, torch.digamma, [a], rng, rtol=max(rtol, 1e-8), atol=atol)
    r = pydlk.tensor(a).lgamma()
    assert r.dtype == dtype


def test_lgamma_and_digamma_at_poles_and_infinities_and_integers():
    v = np.array([0.0, -1.0, -2.0, np.inf, -np.inf, np.nan])
    for fp, ft in ((pydlk.lgamma, torch.lgamma), (pydlk.digamma, torch.digamma)):
        np.testing.assert_array_equal(_np(fp(pydlk.tensor(v))), ft(torch.tensor(v)).numpy())
    r = pydlk.lgamma(pydlk.tensor([1, 2, 5]))
    assert r.dtype == np.float32
    np.testing.assert_allclose(_np(r), torch.lgamma(torch.tensor([1, 2, 5])).numpy(), atol=1e-6)


def test_lgamma_digamma_expm1_gradcheck():
    x = pydlk.tensor(np.array([0.3, 1.7, 4.2, -0.4, -2.6, 12.0]), requires_grad=True)
    assert pydlk.gradcheck(pydlk.lgamma, (x,))
    assert pydlk.gradgradcheck(pydlk.lgamma, (x,))
    assert pydlk.gradcheck(pydlk.digamma, (x,))
    assert pydlk.gradcheck(pydlk.expm1, (x,))
    assert pydlk.gradgradcheck(pydlk.expm1, (x,))


# ----------------------------------------------------------------------- randint_like, data_ptr


def test_randint_like_keeps_shape_and_dtype_as_torch():
    for dtype in (np.float32, np.int64, np.int32):
        x = pydlk.zeros(3, 4, dtype=dtype)
        r = pydlk.randint_like(x, 5)
        tr = torch.randint_like(torch.zeros(3, 4, dtype=getattr(torch, np.dtype(dtype).name)), 5)
        assert r.shape == tuple(tr.shape) and str(r.dtype) == str(tr.dtype).replace("torch.", "")
        assert 0 <= float(r.min()) and float(r.max()) < 5
    r = pydlk.randint_like(pydlk.zeros(1000), 3, 6)
    assert set(np.unique(_np(r))) == {3.0, 4.0, 5.0}
    assert pydlk.randint_like(pydlk.zeros(2), high=4, dtype=pydlk.int64).dtype == np.int64
    g1, g2 = pydlk.Generator().manual_seed(1), pydlk.Generator().manual_seed(1)
    a, b = (pydlk.randint_like(pydlk.zeros(8), 100, generator=g) for g in (g1, g2))
    assert pydlk.equal(a, b)
    with pytest.raises(ValueError, match="randint_like: high"):
        pydlk.randint_like(pydlk.zeros(2), 3, 3)


def test_data_ptr_is_the_arrays_address():
    x = pydlk.arange(6.0).reshape(2, 3)
    assert x.data_ptr() == x.numpy().__array_interface__["data"][0]
    assert x.data_ptr() != x.clone().data_ptr()
    assert x[1].data_ptr() == x.data_ptr() + 3 * 4


# ----------------------------------------------------------------------------- Size


def test_size_is_a_tuple_that_behaves_as_torch_size():
    x = pydlk.zeros(2, 3, 4)
    s = x.shape
    assert isinstance(s, pydlk.Size) and isinstance(s, tuple)
    assert isinstance(x.size(), pydlk.Size) and x.size(1) == 3
    assert s == (2, 3, 4) and s == pydlk.Size([2, 3, 4]) and s != (2, 3)
    assert list(s) == list(torch.zeros(2, 3, 4).shape)
    assert isinstance(s[1:], pydlk.Size) and s[1:] == (3, 4) and s[-1] == 4
    assert isinstance(s + (5,), pydlk.Size) and (1,) + s == (1, 2, 3, 4)
    assert isinstance((1,) + s, pydlk.Size)
    assert s.numel() == 24 == torch.Size([2, 3, 4]).numel() and pydlk.Size([]).numel() == 1
    assert repr(s) == str(s) == f"{s}" == "(2, 3, 4)"  # differs from torch: a tuple's text
    assert hash(s) == hash((2, 3, 4)) and {s: 1}[(2, 3, 4)] == 1
    assert pickle.loads(pickle.dumps(s)) == s and type(pickle.loads(pickle.dumps(s))) is pydlk.Size
    assert json.dumps(s) == "[2, 3, 4]"
    assert pydlk.zeros(s).shape == s and np.zeros(s).shape == s
    assert pydlk.Size(np.array([1, 2])) == (1, 2)
    with pytest.raises(TypeError, match="Size: sizes must be ints"):
        pydlk.Size([1.5])


# ----------------------------------------------------------------------------- reproducibility


def test_use_deterministic_algorithms_records_the_flags():
    assert pydlk.are_deterministic_algorithms_enabled() is False
    try:
        pydlk.use_deterministic_algorithms(True, warn_only=True)
        assert pydlk.are_deterministic_algorithms_enabled() is True
        assert pydlk.is_deterministic_algorithms_warn_only_enabled() is True
        pydlk.use_deterministic_algorithms(True)
        assert pydlk.is_deterministic_algorithms_warn_only_enabled() is False
    finally:
        pydlk.use_deterministic_algorithms(False)
    assert pydlk.are_deterministic_algorithms_enabled() is False


def test_fork_rng_restores_the_stream():
    pydlk.manual_seed(3)
    expected = pydlk.randn(4)
    pydlk.manual_seed(3)
    with pydlk.random.fork_rng():
        pydlk.randn(10)
        pydlk.rand(3)
    assert pydlk.equal(pydlk.randn(4), expected)
    pydlk.manual_seed(3)
    with pydlk.random.fork_rng(enabled=False):
        pydlk.randn(4)
    assert not pydlk.equal(pydlk.randn(4), expected)
    pydlk.manual_seed(3)
    with pytest.raises(RuntimeError), pydlk.random.fork_rng(devices=[]):
        pydlk.randn(3)
        raise RuntimeError
    assert pydlk.equal(pydlk.randn(4), expected)  # restored on an exception too


def test_cuda_rng_state_functions_share_the_one_generator():
    pydlk.manual_seed(11)
    st = pydlk.cuda.get_rng_state()
    assert st == pydlk.get_rng_state() and pydlk.cuda.get_rng_state_all() == [st]
    a = pydlk.randn(5)
    pydlk.cuda.set_rng_state(st)
    assert pydlk.equal(pydlk.randn(5), a)
    pydlk.cuda.set_rng_state_all([st])
    assert pydlk.equal(pydlk.randn(5), a)
    assert pydlk.cuda.initial_seed() == 11 == pydlk.random.initial_seed()
    pydlk.cuda.seed()
    s1 = pydlk.initial_seed()
    pydlk.cuda.seed_all()
    assert pydlk.initial_seed() != s1
    assert 0 <= pydlk.seed() < 2**63
    with pytest.raises(ValueError, match="set_rng_state_all: new_states is empty"):
        pydlk.cuda.set_rng_state_all([])


# ------------------------------------------------------------------------- parameter containers


def _containers(lib):
    m = lib.nn.Module()
    m.scales = lib.nn.ParameterList([lib.nn.Parameter(lib.ones(2) * i) for i in range(3)])
    m.bias = lib.nn.ParameterDict({"a": lib.nn.Parameter(lib.zeros(2)), "b": lib.zeros(2)})
    return m


def test_parameter_containers_name_parameters_as_torch():
    m, tm = _containers(pydlk), _containers(torch)
    names = [n for n, _ in m.named_parameters()]
    assert names == [n for n, _ in tm.named_parameters()] == list(m.state_dict())
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in m.parameters())
    sd = {k: pydlk.tensor(v.numpy() + 1) for k, v in tm.state_dict().items()}
    m.load_state_dict(sd)
    np.testing.assert_array_equal(_np(m.scales[-1]), [3.0, 3.0])
    x = pydlk.ones(2)
    for s in m.scales:
        x = x * s
    (x + m.bias["a"]).sum().backward()
    assert m.scales[0].grad is not None and m.bias["a"].grad is not None
    opt = pydlk.optim.SGD(m.parameters(), lr=0.1)
    opt.step()


def test_parameter_list_operations_and_errors():
    pl = nn.ParameterList()
    assert len(pl) == 0
    pl.append(pydlk.zeros(1)).extend([nn.Parameter(pydlk.ones(1)), pydlk.full((1,), 2.0)])
    assert len(pl) == 3 and [float(p) for p in pl] == [0.0, 1.0, 2.0]
    assert isinstance(pl[0], nn.Parameter) and pl[-1] is pl[2]
    sub = pl[1:]
    assert isinstance(sub, nn.ParameterList) and len(sub) == 2 and sub[0] is pl[1]
    pl[0] = pydlk.full((1,), 7.0)
    assert float(pl[0]) == 7.0 and list(pl.state_dict()) == ["0", "1", "2"]
    pl += [pydlk.zeros(1)]
    assert len(pl) == 4
    assert "(0): Parameter containing: [float32 of size 1]" in repr(pl)
    with pytest.raises(IndexError, match="ParameterList: index 4 is out of range"):
        pl[4]
    with pytest.raises(TypeError, match="ParameterList.append: expected a Parameter"):
        pl.append(3.0)


def test_parameter_dict_operations_and_errors():
    pd = nn.ParameterDict({"w": pydlk.ones(2)})
    pd["b"] = nn.Parameter(pydlk.zeros(2))
    pd.update([("c", pydlk.zeros(1))])
    assert list(pd) == list(pd.keys()) == ["w", "b", "c"] and len(pd) == 3
    assert "b" in pd and "z" not in pd and pd.get("z") is None
    assert [k for k, _ in pd.items()] == ["w", "b", "c"] and len(list(pd.values())) == 3
    assert isinstance(pd["w"], nn.Parameter) and pd.w is pd["w"]
    assert pd.pop("c").shape == (1,)
    del pd["b"]
    assert list(pd) == ["w"]
    pd.clear()
    assert len(pd) == 0
    with pytest.raises(KeyError):
        pd["missing"]
    with pytest.raises(TypeError, match="ParameterDict.__setitem__: expected a Parameter"):
        pd["x"] = [1.0]


# ----------------------------------------------------------------------------- pixel shuffle


@pytest.mark.parametrize("shape, r", [((2, 8, 3, 5), 2), ((18, 2, 2), 3), ((1, 2, 4, 3, 3), 1)])
def test_pixel_shuffle_matches_torch(rng, shape, r):
    a = rng.standard_normal(shape).astype(np.float32)
    _vs_torch(lambda x: F.pixel_shuffle(x, r), lambda x: torch.nn.functional.pixel_shuffle(x, r),
              [a], rng)  # fmt: skip
    _vs_torch(nn.PixelShuffle(r), torch.nn.PixelShuffle(r), [a], rng)
    b = _np(F.pixel_shuffle(pydlk.tensor(a), r))
    _vs_torch(nn.PixelUnshuffle(r), torch.nn.PixelUnshuffle(r), [b], rng)
    np.testing.assert_array_equal(_np(F.pixel_unshuffle(pydlk.tensor(b), r)), a)


def test_pixel_shuffle_gradcheck_repr_and_errors(rng):
    x = _f64(rng, 1, 4, 2, 3)
    assert pydlk.gradcheck(lambda t: F.pixel_shuffle(t, 2), (x,))
    assert pydlk.gradgradcheck(lambda t: F.pixel_unshuffle(t, 2) ** 2, (_f64(rng, 1, 1, 4, 2),))
    assert repr(nn.PixelShuffle(3)) == repr(torch.nn.PixelShuffle(3))
    assert repr(nn.PixelUnshuffle(2)) == repr(torch.nn.PixelUnshuffle(2))
    with pytest.raises(ValueError, match="pixel_shuffle: input's channel dimension"):
        F.pixel_shuffle(pydlk.zeros(1, 5, 2, 2), 2)
    with pytest.raises(ValueError, match="pixel_unshuffle: input's height and width"):
        F.pixel_unshuffle(pydlk.zeros(1, 1, 3, 4), 2)
    with pytest.raises(ValueError, match="pixel_shuffle: input must have at least 3"):
        F.pixel_shuffle(pydlk.zeros(4, 2), 2)
    with pytest.raises(ValueError, match="pixel_shuffle: upscale_factor must be a positive"):
        F.pixel_shuffle(pydlk.zeros(1, 4, 2, 2), 0)


# ----------------------------------------------------------------------------- parameter vectors


def test_parameters_to_vector_and_back_match_torch(rng):
    pm, tm = nn.Linear(3, 2), torch.nn.Linear(3, 2)
    pm.load_state_dict({k: pydlk.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    vp = nn.utils.parameters_to_vector(pm.parameters())
    vt = torch.nn.utils.parameters_to_vector(tm.parameters())
    np.testing.assert_array_equal(_np(vp), _np(vt))
    dy = rng.standard_normal(8).astype(np.float32)
    (vp * pydlk.tensor(dy)).sum().backward()
    (vt * torch.tensor(dy)).sum().backward()
    np.testing.assert_array_equal(_np(pm.weight.grad), _np(tm.weight.grad))
    new = rng.standard_normal(8).astype(np.float32)
    nn.utils.vector_to_parameters(pydlk.tensor(new), pm.parameters())
    torch.nn.utils.vector_to_parameters(torch.tensor(new), tm.parameters())
    np.testing.assert_array_equal(_np(pm.weight), _np(tm.weight))
    np.testing.assert_array_equal(_np(pm.bias), _np(tm.bias))
    with pytest.raises(TypeError, match="vector_to_parameters: expected vec to be a Tensor"):
        nn.utils.vector_to_parameters(new, pm.parameters())
    with pytest.raises(ValueError, match="vector_to_parameters: vec must be 1-D of length 8"):
        nn.utils.vector_to_parameters(pydlk.zeros(7), pm.parameters())
    with pytest.raises(ValueError, match="parameters_to_vector: expected at least one"):
        nn.utils.parameters_to_vector([])


def test_vector_to_parameters_writes_into_an_optimisers_slots():
    m = nn.Linear(2, 1)
    opt = pydlk.optim.SGD(m.parameters(), lr=1.0)
    nn.utils.vector_to_parameters(pydlk.tensor([1.0, 2.0, 3.0]), m.parameters())
    m(pydlk.tensor([[1.0, 1.0]])).sum().backward()
    opt.step()
    np.testing.assert_allclose(_np(m.weight), [[0.0, 1.0]])
    np.testing.assert_allclose(_np(m.bias), [2.0])


# ----------------------------------------------------------------------------- data, nn.modules


def test_subset_and_random_split_indices_are_python_ints():
    seen = []

    class DS(pydlk.data.Dataset):
        def __len__(self):
            return 10

        def __getitem__(self, i):
            seen.append(type(i))
            return i

    a, b = pydlk.data.random_split(DS(), [8, 2], generator=pydlk.Generator().manual_seed(0))
    assert type(a.indices) is list and all(type(i) is int for i in a.indices)
    assert sorted(a.indices + b.indices) == list(range(10))
    json.dumps(a.indices)
    assert [a[i] for i in range(len(a))] == a.indices and set(seen) == {int}
    s = pydlk.data.Subset(DS(), np.array([3, 1]))
    assert s[0] == 3 and type(s[-1]) is int
    assert pydlk.data.Subset(DS(), range(2, 9, 3))[1] == 5
    t = pydlk.data.Subset(pydlk.data.TensorDataset(np.arange(10.0)), [9, 8, 7])
    assert t[[0, 2]][0].tolist() == [9.0, 7.0]
    assert t[np.array([1, 2])][0].tolist() == [8.0, 7.0]
    batches = list(pydlk.data.DataLoader(a, batch_size=4))
    assert sum(len(x) for x in batches) == 8


def test_nn_modules_is_an_attribute_path():
    bn = nn.BatchNorm2d(3)
    assert isinstance(bn, nn.modules.batchnorm._BatchNorm)
    assert isinstance(bn, torch.nn.modules.batchnorm._BatchNorm) is False
    assert nn.modules.linear.Linear is nn.Linear
    assert nn.modules.container.ParameterList is nn.ParameterList
