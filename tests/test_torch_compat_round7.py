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


# ------------------------------------------------------------ IterableDataset in list(DataLoader)


def test_list_of_a_loader_over_an_iterable_dataset():
    # list() asks len() for a size hint; torch's Dataset has no __len__, so the TypeError
    # makes list() fall back to iterating (pydlk's raised NotImplementedError instead)
    for lib in (torch, pydlk):

        class Stream(lib.utils.data.IterableDataset):
            def __iter__(self):
                return iter(lib.tensor([i]) for i in range(7))

        batches = list(lib.utils.data.DataLoader(Stream(), batch_size=3))
        assert [len(b) for b in batches] == [3, 3, 1]
        assert _np(lib.cat(batches, 0)).ravel().tolist() == list(range(7))
        with pytest.raises(TypeError, match="has no len"):
            len(lib.utils.data.DataLoader(Stream(), batch_size=3))
        with pytest.raises(TypeError):
            len(lib.utils.data.Dataset())


# ------------------------------------------------------------ torch.nn.modules.utils


def test_consume_prefix_in_state_dict_if_present_strips_dataparallel_keys():
    for lib in (torch, pydlk):
        net = lib.nn.Sequential(lib.nn.Linear(2, 3), lib.nn.ReLU(), lib.nn.Linear(3, 1))
        sd = {"module." + k: v for k, v in net.state_dict().items()}
        sd["head.w"] = lib.zeros(1)
        lib.nn.modules.utils.consume_prefix_in_state_dict_if_present(sd, "module.")
        assert list(sd) == ["head.w", "0.weight", "0.bias", "2.weight", "2.bias"]
        fresh = lib.nn.Sequential(lib.nn.Linear(2, 3), lib.nn.ReLU(), lib.nn.Linear(3, 1))
        r = fresh.load_state_dict(sd, strict=False)
        assert r.unexpected_keys == ["head.w"] and r.missing_keys == []
    u = pydlk.nn.modules.utils
    assert u._pair(3) == (3, 3) and u._triple((1, 2, 3)) == (1, 2, 3)
    assert u._reverse_repeat_tuple((1, 2), 2) == torch.nn.modules.utils._reverse_repeat_tuple(
        (1, 2), 2
    )
    assert u._list_with_default([None, 4], [2, 3, 5, 6]) == [5, 4]


# ------------------------------------------------------------ torch.nn.utils.prune


def _pruned_pair(seed=0):
    r = np.random.default_rng(seed)
    w = r.standard_normal((4, 6)).astype(np.float32)
    b = r.standard_normal(4).astype(np.float32)
    out = []
    for lib in (torch, pydlk):
        lin = lib.nn.Linear(6, 4)
        with lib.no_grad():
            lin.weight.copy_(lib.tensor(w))
            lin.bias.copy_(lib.tensor(b))
        out.append(lin)
    return w, out


def test_prune_l1_unstructured_masks_the_smallest_and_trains_the_original():
    import torch.nn.utils.prune  # noqa: F401  (torch needs the import)

    w, (lt, lp) = _pruned_pair()
    x = np.random.default_rng(1).standard_normal((3, 6)).astype(np.float32)
    for lib, lin in ((torch, lt), (pydlk, lp)):
        lib.nn.utils.prune.l1_unstructured(lin, name="weight", amount=0.25)
        assert sorted(lin.state_dict()) == ["bias", "weight_mask", "weight_orig"]
        assert [n for n, _ in lin.named_parameters()] == ["bias", "weight_orig"]
        lin(lib.tensor(x)).pow(2).sum().backward()
    np.testing.assert_array_equal(_np(lp.weight_mask), _np(lt.weight_mask))
    np.testing.assert_allclose(_np(lp.weight), _np(lt.weight))
    np.testing.assert_allclose(_np(lp.weight_orig.grad), _np(lt.weight_orig.grad), rtol=1e-5)
    # by hand: the 6 (round(0.25 * 24)) entries of smallest |w| are the zeros of the mask
    smallest = np.argsort(np.abs(w).ravel())[:6]
    assert set(np.flatnonzero(_np(lp.weight_mask).ravel() == 0)) == set(smallest)
    assert pydlk.nn.utils.prune.is_pruned(lp)
    # the random methods: the right count, whatever the draw
    P = pydlk.nn.utils.prune
    conv = P.random_unstructured(pydlk.nn.Conv2d(2, 4, 3), "weight", amount=5)
    assert int((conv.weight_mask == 0).sum()) == 5
    P.random_structured(conv, "weight", amount=0.5, dim=0)
    kept = _np(conv.weight_mask).reshape(4, -1).any(1)
    assert kept.sum() == 2 and int((conv.weight_mask == 0).sum()) >= 2 * 18


def test_prune_containers_structured_global_and_remove_match_torch():
    import torch.nn.utils.prune  # noqa: F401

    _, (lt, lp) = _pruned_pair(2)
    _, (mt, mp) = _pruned_pair(3)
    for lib, lin, other in ((torch, lt, mt), (pydlk, lp, mp)):
        P = lib.nn.utils.prune
        P.l1_unstructured(lin, "weight", amount=3)
        P.ln_structured(lin, "weight", amount=0.5, n=2, dim=0)  # a PruningContainer now
        assert isinstance(
            lin._forward_pre_hooks[next(iter(lin._forward_pre_hooks))], P.PruningContainer
        )
        P.global_unstructured(
            [(lin, "bias"), (other, "weight")], pruning_method=P.L1Unstructured, amount=0.3
        )
        P.custom_from_mask(other, "bias", mask=lib.tensor([1.0, 0.0, 1.0, 1.0]))
    for a, b in (
        (lp.weight_mask, lt.weight_mask),
        (lp.bias_mask, lt.bias_mask),
        (mp.weight_mask, mt.weight_mask),
        (mp.bias, mt.bias),
    ):
        np.testing.assert_array_equal(_np(a), _np(b))
    for lib, lin in ((torch, lt), (pydlk, lp)):
        lib.nn.utils.prune.remove(lin, "weight")
        assert sorted(lin.state_dict()) == ["bias_mask", "bias_orig", "weight"]
    np.testing.assert_array_equal(_np(lp.weight), _np(lt.weight))
    assert isinstance(lp.weight, pydlk.nn.Parameter)
    with pytest.raises(ValueError, match="has to be pruned before pruning can be removed"):
        pydlk.nn.utils.prune.remove(lp, "weight")
    with pytest.raises(ValueError, match="amount=1.5 should either be a float"):
        pydlk.nn.utils.prune.l1_unstructured(lp, "weight", amount=1.5)
    with pytest.raises(ValueError, match="Structured pruning can only be applied"):
        pydlk.nn.utils.prune.ln_structured(mp, "bias", amount=1, n=1, dim=0)


# ------------------------------------------------------- diagonal() is a view outside the graph


def test_writes_through_diagonal_reach_the_input():
    # K.diagonal().add_(jitter) and w.diagonal().fill_(1): torch writes through the view
    # (pydlk returned a copy and the write was silently lost)
    res = []
    for lib in (torch, pydlk):
        K = lib.ones(3, 4)
        K.diagonal().add_(1e-3)
        K.diagonal(1).fill_(5.0)
        B = lib.zeros(2, 3, 3)
        B.diagonal(dim1=-2, dim2=-1).fill_(-1.0)
        Z = lib.arange(12.0).view(3, 4)
        Z.diagonal(-1).zero_()
        w = lib.ones(3, 3, requires_grad=True)
        with lib.no_grad():
            w.diagonal().mul_(2.0)
        res.append([_np(t) for t in (K, B, Z, w)])
    for a, b in zip(*res):
        np.testing.assert_array_equal(a, b)
    # by hand: 12 ones, 3 of them + 1e-3, 3 of them set to 5
    assert abs(float(res[1][0].sum()) - (12 + 3e-3 + 3 * 4)) < 1e-5
    assert pydlk.ones(3, 3, requires_grad=True).diagonal().requires_grad


# ------------------------------------------------------------ parametrizations.orthogonal


@pytest.mark.parametrize(
    "shape,orth_map,triv",
    [
        ((4, 4), None, True),
        ((6, 3), None, True),
        ((5, 3), "householder", False),
        ((4, 4), "matrix_exp", False),
        ((4, 4), "cayley", True),
    ],
)
def test_orthogonal_parametrization_matches_torch(shape, orth_map, triv):
    r = np.random.default_rng(sum(shape))
    w = r.standard_normal(shape).astype(np.float32)
    x = r.standard_normal((2, shape[1])).astype(np.float32)
    out = []
    for lib in (torch, pydlk):
        lin = lib.nn.Linear(shape[1], shape[0], bias=False)
        with lib.no_grad():
            lin.weight.copy_(lib.tensor(w))
        lib.nn.utils.parametrizations.orthogonal(
            lin, orthogonal_map=orth_map, use_trivialization=triv
        )
        W0 = _np(lin.weight).copy()
        lin(lib.tensor(x)).pow(2).sum().backward()
        g = _np(lin.parametrizations.weight.original.grad).copy()
        lib.optim.SGD(lin.parameters(), lr=0.1).step()
        out.append((W0, g, _np(lin.weight), sorted(lin.state_dict())))
    (wt, gt, w2t, kt), (wp, gp, w2p, kp) = out
    np.testing.assert_allclose(wp, wt, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gp, gt, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(w2p, w2t, rtol=1e-3, atol=1e-4)
    assert kp == kt
    # by hand: the columns stay orthonormal after the step
    np.testing.assert_allclose(w2p.T @ w2p, np.eye(shape[1]), atol=1e-5)


def test_orthogonal_wide_matrices_and_errors():
    P = pydlk.nn.utils.parametrizations
    lin = P.orthogonal(pydlk.nn.Linear(6, 3))  # wide: householder, rows orthonormal
    W = _np(lin.weight)
    np.testing.assert_allclose(W @ W.T, np.eye(3), atol=1e-5)
    with pytest.raises(ValueError, match="Expected a matrix or batch of matrices"):
        P.orthogonal(pydlk.nn.Linear(3, 3), name="bias")
    with pytest.raises(ValueError, match='orthogonal_map has to be one of "matrix_exp"'):
        P.orthogonal(pydlk.nn.Linear(3, 3), orthogonal_map="qr")
    m = P.orthogonal(pydlk.nn.Linear(3, 3), orthogonal_map="cayley", use_trivialization=False)
    with pytest.raises(NotImplementedError, match="use_trivialization=False"):
        m.weight = pydlk.eye(3)


# ------------------------------------------------------------ torch.finfo / torch.iinfo


def test_finfo_and_iinfo_match_torch():
    for name in ("float32", "float64", "float16", "bfloat16"):
        a, b = pydlk.finfo(getattr(pydlk, name)), torch.finfo(getattr(torch, name))
        for attr in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution"):
            assert getattr(a, attr) == getattr(b, attr), (name, attr)
        assert a.dtype == name and repr(a) == repr(b)
    for name in ("int64", "int32", "int16", "int8", "uint8"):
        a, b = pydlk.iinfo(getattr(pydlk, name)), torch.iinfo(getattr(torch, name))
        assert (a.bits, a.max, a.min, a.dtype) == (b.bits, b.max, b.min, name) and repr(a) == repr(
            b
        )
    assert pydlk.finfo() == pydlk.finfo(pydlk.float32)
    # by hand: float32 has a 23-bit mantissa
    assert pydlk.finfo(pydlk.float32).eps == 2.0**-23
    with pytest.raises(TypeError, match="finfo\\(\\) requires a floating point input type"):
        pydlk.finfo(pydlk.int64)
    with pytest.raises(TypeError, match="iinfo\\(\\) requires an integer input type"):
        pydlk.iinfo(pydlk.float32)


def test_finfo_min_as_an_attention_mask_fill():
    s = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    m = np.array([[False, False, True, True], [False, True, True, True]])
    out = []
    for lib in (torch, pydlk):
        t = lib.tensor(s)
        out.append(_np(t.masked_fill(lib.tensor(m), lib.finfo(t.dtype).min).softmax(-1)))
    np.testing.assert_allclose(out[1], out[0], rtol=1e-6)
    assert (out[1][m] == 0).all()
