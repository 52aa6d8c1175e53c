"""torch's legacy tensor types (``pydlk.FloatTensor(2, 3)``, ``isinstance(t,
pydlk.LongTensor)``, ``t.type(pydlk.DoubleTensor)``), ``set_default_tensor_type``,
``is_inference``/``is_conj``/``is_neg``/``resolve_neg``, ``pydlk.GradScaler`` and
``pydlk.OutOfMemoryError``, against torch 2.13's CPU build."""

import pickle
import warnings

import numpy as np
import pytest

import pydlk

torch = pytest.importorskip("torch")

NAMES = [
    "FloatTensor",
    "DoubleTensor",
    "HalfTensor",
    "BFloat16Tensor",
    "LongTensor",
    "IntTensor",
    "ShortTensor",
    "CharTensor",
    "ByteTensor",
    "BoolTensor",
]


def _dtype_name(t):
    return str(t.dtype).replace("torch.", "")


def test_each_legacy_type_makes_tensors_of_its_dtype_as_torch():
    for name in NAMES:
        mine, theirs = getattr(pydlk, name), getattr(torch, name)
        assert str(mine.dtype) == _dtype_name(theirs), name
        assert mine.is_cuda is theirs.is_cuda is False and mine.is_sparse is False
        assert mine.layout is pydlk.strided
        empty = mine()
        assert empty.shape == tuple(theirs().shape) == (0,) and str(empty.dtype) == str(mine.dtype)
        sized = mine(2, 3)
        assert sized.shape == (2, 3) and str(sized.dtype) == _dtype_name(theirs(2, 3))
        assert mine(pydlk.Size([4])).shape == tuple(theirs(torch.Size([4])).shape) == (4,)
        data = [1, 0, 3] if name != "BoolTensor" else [True, False]
        np.testing.assert_array_equal(
            mine(data).numpy().astype(np.float64), theirs(data).float().numpy()
        )
        assert mine(data).requires_grad is False
    assert repr(pydlk.FloatTensor) == "<class 'pydlk.FloatTensor'>"
    assert repr(pydlk.cuda.LongTensor) == "<class 'pydlk.cuda.LongTensor'>"


def test_legacy_constructors_convert_data_as_torch():
    cases = [
        ("LongTensor", np.array([1.7, -1.7])),
        ("LongTensor", [1.7, -1.7]),
        ("LongTensor", (2, 3)),  # a tuple is data, not a size
        ("ByteTensor", [-1, 2]),
        ("BoolTensor", [2, 0]),
        ("FloatTensor", range(3)),
        ("FloatTensor", np.array(2.0)),  # 0-d
        ("DoubleTensor", [[1, 2], [3, 4]]),
    ]
    for name, data in cases:
        mine, theirs = getattr(pydlk, name)(data), getattr(torch, name)(data)
        assert mine.shape == tuple(theirs.shape), (name, data)
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    # NumPy integers are sizes, as torch takes them
    assert pydlk.FloatTensor(np.int64(3)).shape == tuple(torch.FloatTensor(np.int64(3)).shape)
    # an array of the type's dtype is shared, as torch shares it
    a = np.array([1.0, 2.0], np.float32)
    t, tt = pydlk.FloatTensor(a), torch.FloatTensor(a)
    a[0] = 5.0
    assert t[0].item() == tt[0].item() == 5.0
    # a tensor of the type is viewed (same memory, same graph)
    x = pydlk.ones(2, requires_grad=True)
    y = pydlk.FloatTensor(x)
    assert y.requires_grad and y.grad_fn is not None and y.data_ptr() == x.data_ptr()
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])
    assert pydlk.FloatTensor(2, device="cpu").shape == (2,)
    assert pydlk.FloatTensor(2, device=pydlk.device("cpu")).shape == (2,)


def test_legacy_constructors_refuse_as_torch():
    cases = [
        ((2.5,), {}, TypeError, "data must be a sequence \\(got float\\)"),
        (("a",), {}, TypeError, "data must be a sequence \\(got str\\)"),
        ((-1,), {}, RuntimeError, "negative dimension -1"),
        ((2, 3.0), {}, TypeError, "expected sizes"),
        (([1, 2], [3]), {}, TypeError, "expected sizes"),
        ((2,), {"dtype": "float64"}, TypeError, "unexpected keyword argument"),
        ((2,), {"device": "cuda"}, RuntimeError, "expects device type: cpu but device type: cuda"),
    ]
    for args, kwargs, err, msg in cases:
        with pytest.raises(err, match=msg):
            pydlk.FloatTensor(*args, **kwargs)
        torch_kwargs = {k: getattr(torch, v) if k == "dtype" else v for k, v in kwargs.items()}
        with pytest.raises((err, TypeError)):
            torch.FloatTensor(*args, **torch_kwargs)
    with pytest.raises(TypeError, match="expected a tensor of type pydlk.FloatTensor"):
        pydlk.FloatTensor(pydlk.ones(2, dtype=pydlk.int64))
    with pytest.raises(TypeError, match="expected TensorOptions"):
        torch.FloatTensor(torch.ones(2, dtype=torch.int64))


def test_isinstance_is_true_exactly_for_the_dtype_and_device():
    t = pydlk.ones(2)
    tt = torch.ones(2)
    for name in NAMES:
        assert isinstance(t, getattr(pydlk, name)) == isinstance(tt, getattr(torch, name)), name
        assert not isinstance(t, getattr(pydlk.cuda, name))
    assert isinstance(t.double(), pydlk.DoubleTensor) and isinstance(t.long(), pydlk.LongTensor)
    assert isinstance(pydlk.nn.Parameter(t), pydlk.FloatTensor)
    assert isinstance(torch.nn.Parameter(tt), torch.FloatTensor)
    assert not isinstance(t.numpy(), pydlk.FloatTensor) and not isinstance(3, pydlk.FloatTensor)
    sparse = pydlk.ones(2, 2).to_sparse()
    assert not isinstance(sparse, pydlk.FloatTensor)
    assert isinstance(t, pydlk.Tensor) and not issubclass(pydlk.FloatTensor, pydlk.Tensor)
    assert not issubclass(torch.FloatTensor, torch.Tensor)
    assert pickle.loads(pickle.dumps(pydlk.FloatTensor)) is pydlk.FloatTensor
    assert pickle.loads(pickle.dumps(pydlk.cuda.IntTensor)) is pydlk.cuda.IntTensor


def test_tensor_type_converts_to_legacy_types_and_names_as_torch():
    t, tt = pydlk.ones(2), torch.ones(2)
    assert t.type() == tt.type() == "torch.FloatTensor"
    for name in NAMES:
        mine = t.type(getattr(pydlk, name))
        assert str(mine.dtype) == _dtype_name(tt.type(getattr(torch, name))), name
        assert t.type(f"torch.{name}").dtype == mine.dtype and mine.type() == f"torch.{name}"
    assert t.type(pydlk.FloatTensor) is t and t.type("pydlk.DoubleTensor").dtype == pydlk.float64
    assert t.type(pydlk.float64).dtype == pydlk.float64
    assert t.type(dtype="torch.IntTensor", non_blocking=True).dtype == pydlk.int32
    with pytest.raises(ValueError, match="invalid type: 'float'"):
        t.type("float")
    with pytest.raises(ValueError, match="invalid type: 'float'"):
        tt.type("float")
    with pytest.raises(TypeError, match="dtype must be a type, str, or dtype object"):
        t.type(3)
    with pytest.raises(TypeError, match="dtype must be a type, str, or dtype object"):
        tt.type(3)
    with pytest.raises(ValueError, match="invalid type"):
        t.type("torch.NopeTensor")


def test_cuda_legacy_types_without_a_gpu_say_so():
    if pydlk.cuda.is_available():
        pytest.skip("a GPU is present")
    for name in NAMES:
        cls = getattr(pydlk.cuda, name)
        assert cls.is_cuda is True and str(cls.dtype) == str(getattr(pydlk, name).dtype)
        with pytest.raises(RuntimeError, match=f"pydlk.cuda.{name}: CUDA is not available"):
            cls(2)
    with pytest.raises(RuntimeError, match="CUDA"):
        pydlk.ones(2).type("torch.cuda.FloatTensor")
    with pytest.raises(RuntimeError, match="CUDA"):
        pydlk.ones(2).type(pydlk.cuda.FloatTensor)


def test_set_default_tensor_type_warns_and_sets_the_default_dtype_as_torch():
    try:
        with pytest.warns(UserWarning, match="set_default_tensor_type\\(\\) is deprecated"):
            pydlk.set_default_tensor_type(pydlk.DoubleTensor)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            torch.set_default_tensor_type(torch.DoubleTensor)
        assert pydlk.get_default_dtype() == pydlk.float64
        assert str(pydlk.tensor([1.0]).dtype) == _dtype_name(torch.tensor([1.0])) == "float64"
        assert pydlk.FloatTensor([1]).dtype == pydlk.float32  # the legacy types keep theirs
        with pytest.warns(UserWarning):
            pydlk.set_default_tensor_type("torch.HalfTensor")
        assert pydlk.get_default_dtype() == pydlk.float16
        with pytest.warns(UserWarning):
            pydlk.set_default_tensor_type(pydlk.BFloat16Tensor)
        assert pydlk.get_default_dtype() == pydlk.bfloat16
        bad = [  # (pydlk's argument, torch's, pydlk's message); both raise TypeError
            ("torch.LongTensor", "torch.LongTensor", "only floating-point types"),
            (pydlk.LongTensor, torch.LongTensor, "only floating-point types"),
            (pydlk.float64, torch.float64, "invalid type"),
            (3, 3, "invalid type"),
        ]
        for spec, torch_spec, msg in bad:
            with pytest.raises(TypeError, match=msg), pytest.warns(UserWarning):
                pydlk.set_default_tensor_type(spec)
            with pytest.raises(TypeError), warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                torch.set_default_tensor_type(torch_spec)
        # torch imports 'float' as a module name (ModuleNotFoundError); pydlk names the problem
        with pytest.raises(TypeError, match="invalid type 'float'"), pytest.warns(UserWarning):
            pydlk.set_default_tensor_type("float")
        assert pydlk.get_default_dtype() == pydlk.bfloat16  # unchanged by the refusals
        if not pydlk.cuda.is_available():
            with (
                pytest.raises(RuntimeError, match="CUDA is not available"),
                pytest.warns(UserWarning),
            ):
                pydlk.set_default_tensor_type(pydlk.cuda.FloatTensor)
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            pydlk.set_default_tensor_type(pydlk.FloatTensor)
            torch.set_default_tensor_type(torch.FloatTensor)
    assert pydlk.get_default_dtype() == pydlk.float32


def test_lazy_bit_predicates_as_torch():
    t, tt = pydlk.ones(2), torch.ones(2)
    for fn in ("is_conj", "is_neg", "is_inference"):
        assert getattr(pydlk, fn)(t) is getattr(torch, fn)(tt) is False
    assert pydlk.resolve_neg(t) is t and torch.resolve_neg(tt) is tt
    assert t.is_conj() is tt.is_conj() is False and t.is_neg() is tt.is_neg() is False
    assert t.resolve_neg() is t and tt.resolve_neg() is tt
    z = pydlk.ones(2, dtype=pydlk.complex64).conj()
    assert pydlk.is_conj(z) is False  # the conjugate is computed, never a lazy view
    with pydlk.inference_mode():
        u = pydlk.ones(1)
    with torch.inference_mode():
        tu = torch.ones(1)
    assert pydlk.is_inference(u) is torch.is_inference(tu) is True
    assert pydlk.is_conj(np.ones(2)) is False  # arrays are accepted, as by every op
    for fn in ("is_conj", "is_neg", "is_inference", "resolve_neg"):
        msg = f"{fn}\\(\\): argument 'input' \\(position 1\\) must be Tensor, not int"
        with pytest.raises(TypeError, match=msg):
            getattr(pydlk, fn)(3)
        with pytest.raises(TypeError, match=msg):
            getattr(torch, fn)(3)


def test_grad_scaler_is_top_level_and_takes_torchs_devices():
    assert pydlk.GradScaler is pydlk.amp.GradScaler and torch.GradScaler is torch.amp.GradScaler
    s, ts = pydlk.GradScaler("cpu"), torch.GradScaler("cpu")
    assert s.is_enabled() is ts.is_enabled() is True and s.get_scale() == ts.get_scale()
    np.testing.assert_array_equal(s.scale(pydlk.ones(1)).numpy(), ts.scale(torch.ones(1)).numpy())
    assert pydlk.GradScaler(device=pydlk.device("cpu")).is_enabled()
    if not pydlk.cuda.is_available():
        for dev in ("cuda", "cuda:0"):
            with pytest.warns(UserWarning, match="CUDA is not available. Disabling"):
                assert not pydlk.GradScaler(dev).is_enabled()
    with pytest.raises(ValueError, match="device must be 'cuda' or 'cpu'.*got 'tpu'"):
        pydlk.GradScaler("tpu")


def test_out_of_memory_error_is_torchs_runtime_error_class():
    assert pydlk.OutOfMemoryError is pydlk.cuda.OutOfMemoryError
    assert torch.OutOfMemoryError is torch.cuda.OutOfMemoryError
    assert issubclass(pydlk.OutOfMemoryError, RuntimeError)
    assert [c.__name__ for c in pydlk.OutOfMemoryError.__mro__[1:]] == [
        c.__name__ for c in torch.OutOfMemoryError.__mro__[1:]
    ]
    assert repr(pydlk.OutOfMemoryError("x")) == "OutOfMemoryError('x')"
    err = pickle.loads(pickle.dumps(pydlk.OutOfMemoryError("x")))
    assert type(err) is pydlk.OutOfMemoryError and err.args == ("x",)


def test_tensor_itself_is_the_legacy_constructor_of_the_default_type_as_torch():
    # torch.Tensor(out, in) inside nn.Parameter, then an init: older custom layers' idiom
    for args in [(2, 3), (4, 1, 2), (), (pydlk.Size([2, 4]),), (np.int64(3), 2)]:
        targs = tuple(torch.Size(a) if isinstance(a, pydlk.Size) else a for a in args)
        t, tt = pydlk.Tensor(*args), torch.Tensor(*targs)
        assert t.shape == tuple(tt.shape) and str(t.dtype) == _dtype_name(tt) == "float32"
    w = pydlk.nn.Parameter(pydlk.Tensor(4, 3))
    pydlk.nn.init.kaiming_uniform_(w, a=5**0.5)
    assert w.requires_grad and w.shape == (4, 3) and np.isfinite(np.asarray(w.detach())).all()
    with pytest.raises(RuntimeError, match="negative dimension -1"):
        pydlk.Tensor(2, -1)
    with pytest.raises(RuntimeError, match="negative dimension"):
        torch.Tensor(2, -1)
    with pytest.raises(TypeError, match=r"Tensor\(\): expected sizes \(ints\)"):
        pydlk.Tensor(2, "a")
    with pytest.raises(TypeError, match=r"Tensor\(\): expected sizes"):
        pydlk.Tensor(2, True)  # a bool is not a size
    # the default dtype follows set_default_dtype, as torch.Tensor follows its default type
    try:
        pydlk.set_default_dtype(pydlk.float64)
        assert pydlk.Tensor(2, 2).dtype == pydlk.float64 and pydlk.Tensor().dtype == pydlk.float64
    finally:
        pydlk.set_default_dtype(pydlk.float32)
    # one argument is data, as pydlk's constructor always took it (documented differences)
    assert pydlk.Tensor([1, 2]).dtype == pydlk.int64 and pydlk.Tensor(5).shape == ()
    assert pydlk.Tensor(np.arange(3)).dtype == pydlk.int64
    assert pydlk.FloatTensor([1, 2]).dtype == pydlk.float32 and pydlk.empty(5).shape == (5,)
