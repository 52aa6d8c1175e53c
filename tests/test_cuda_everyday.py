"""Everyday things done with GPU tensors, each against the same thing on the CPU: the elementwise
losses, printing, saving and loading (map_location), the weight penalties, predict, style
losses, Newton's method, activation hooks. Real CuPy refuses ``np.asarray`` of its arrays and
NumPy operands in its ops; the host emulation (tools/run_cuda_tests_on_host.py) refuses them
too, so these ``test_gpu_*`` tests run here as they would on a GPU, and skip without either."""

import numpy as np
import pytest
from _gpu_helpers import cupy_or_skip, host

import pydlk
import pydlk.functional as F
from pydlk import nn

_cupy = cupy_or_skip


_host = host


def _pair(rng, shape, cp, low=None):
    """The same values as a CPU and a GPU leaf tensor that require grad."""
    v = rng.standard_normal(shape) if low is None else rng.uniform(low, 1 - low, shape)
    v = v.astype(np.float32)
    return pydlk.tensor(v, requires_grad=True), pydlk.tensor(cp.asarray(v), requires_grad=True)


LOSSES = {
    "mse_loss": F.mse_loss,
    "l1_loss": F.l1_loss,
    "huber_loss": lambda x, t, **kw: F.huber_loss(x, t, delta=0.5, **kw),
    "smooth_l1_loss": lambda x, t, **kw: F.smooth_l1_loss(x, t, beta=0.5, **kw),
    "binary_cross_entropy_with_logits": F.binary_cross_entropy_with_logits,
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", LOSSES)
def test_gpu_elementwise_losses_match_the_cpu(name, reduction, rng):
    cp = _cupy()
    (xc, xg), (tc, tg) = _pair(rng, (5, 3), cp), _pair(rng, (5, 3), cp, low=0.1)
    lc, lg = (LOSSES[name](x, t.detach(), reduction=reduction) for x, t in ((xc, tc), (xg, tg)))
    lc.sum().backward()
    lg.sum().backward()
    assert str(lg.device) == "cuda:0" and lg.shape == lc.shape
    np.testing.assert_allclose(_host(lg), _host(lc), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_host(xg.grad), _host(xc.grad), rtol=1e-5, atol=1e-6)


def test_gpu_binary_cross_entropy_matches_the_cpu(rng):
    cp = _cupy()
    (pc, pg), (tc, tg) = _pair(rng, (6,), cp, low=0.05), _pair(rng, (6,), cp, low=0.1)
    lc, lg = F.binary_cross_entropy(pc, tc), F.binary_cross_entropy(pg, tg)
    lc.backward()
    lg.backward()
    np.testing.assert_allclose(_host(lg), _host(lc), rtol=1e-5)
    np.testing.assert_allclose(_host(pg.grad), _host(pc.grad), rtol=1e-5)


def test_gpu_tensor_prints_its_values_and_device(rng):
    cp = _cupy()
    t = pydlk.tensor(cp.asarray(np.array([1.5, -2.0], np.float32)), requires_grad=True)
    assert repr(t) == "tensor([ 1.5000, -2.0000], device='cuda:0', requires_grad=True)"
    assert str(t * 2).startswith("tensor([ 3., -4.], device='cuda:0', grad_fn=<")


def test_gpu_model_and_optimiser_round_trip_through_a_file(tmp_path, rng):
    """A GPU model's and optimiser's state saved, loaded onto the CPU and back onto the GPU
    (map_location), equal to the saved values."""
    cp = _cupy()
    pydlk.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 2)).cuda()
    opt = pydlk.optim.Adam(model.parameters(), lr=0.01)
    x = pydlk.tensor(cp.asarray(rng.standard_normal((8, 4)).astype(np.float32)))
    model(x).sum().backward()
    opt.step()
    path = tmp_path / "gpu.pt"
    pydlk.save({"model": model.state_dict(), "opt": opt.state_dict()}, path)
    want = {k: _host(v) for k, v in model.state_dict().items()}
    on_cpu = pydlk.load(path, map_location="cpu")
    for k, v in on_cpu["model"].items():
        assert str(v.device) == "cpu"
        np.testing.assert_array_equal(v.numpy(), want[k])
    on_gpu = pydlk.load(path, map_location="cuda")
    model2 = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 2)).cuda()
    model2.load_state_dict(on_gpu["model"])
    opt2 = pydlk.optim.Adam(model2.parameters(), lr=0.01)
    opt2.load_state_dict(on_gpu["opt"])
    for k, v in model2.state_dict().items():
        assert str(v.device) == "cuda:0"
        np.testing.assert_array_equal(_host(v), want[k])
    model.eval(), model2.eval()
    np.testing.assert_array_equal(_host(model2(x)), _host(model(x)))


def test_gpu_weight_penalties_match_the_cpu(rng):
    cp = _cupy()
    (ac, ag), (bc, bg) = _pair(rng, (3, 4), cp), _pair(rng, (5,), cp)
    for f in (
        nn.utils.l1_penalty,
        nn.utils.l2_penalty,
        lambda ps: nn.utils.elastic_net_penalty(ps, 0.3, 0.7),
    ):
        for t in (ac, ag, bc, bg):
            t.grad = None
        pc, pg = f([ac, bc]), f([ag, bg])
        pc.backward()
        pg.backward()
        assert str(pg.device) == "cuda:0"
        np.testing.assert_allclose(_host(pg), _host(pc), rtol=1e-6)
        for c, g in ((ac, ag), (bc, bg)):
            np.testing.assert_allclose(_host(g.grad), _host(c.grad), rtol=1e-6)


def test_gpu_predict_returns_host_arrays(rng):
    cp = _cupy()
    pydlk.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2))
    x = rng.standard_normal((7, 3)).astype(np.float32)
    from pydlk.train import predict

    want = predict(model, x, batch_size=4)
    model.cuda()
    batches = [(pydlk.tensor(cp.asarray(x[:4])),), (pydlk.tensor(cp.asarray(x[4:])),)]
    got = predict(model, batches)
    assert type(got) is np.ndarray
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_gpu_style_loss_matches_the_cpu(rng):
    cp = _cupy()
    (fc, fg), (tc, tg) = _pair(rng, (2, 3, 4, 4), cp), _pair(rng, (2, 3, 4, 4), cp)
    lc, lg = F.style_loss(fc, tc.detach()), F.style_loss(fg, tg.detach())
    lc.backward()
    lg.backward()
    np.testing.assert_allclose(_host(lg), _host(lc), rtol=1e-5)
    np.testing.assert_allclose(_host(fg.grad), _host(fc.grad), rtol=1e-5, atol=1e-7)


def test_gpu_newton_minimises_a_quadratic_like_on_the_cpu(rng):
    cp = _cupy()
    A = rng.standard_normal((3, 3))
    A = A @ A.T + 3 * np.eye(3)
    b = rng.standard_normal(3)
    ends = []
    for xp in (np, cp):
        w = pydlk.tensor(xp.asarray(np.zeros(3)), requires_grad=True)
        Ad, bd = pydlk.tensor(xp.asarray(A)), pydlk.tensor(xp.asarray(b))
        opt = pydlk.optim.Newton([w])

        def closure(w=w, Ad=Ad, bd=bd, opt=opt):
            opt.zero_grad()
            return 0.5 * (w * (Ad @ w)).sum() - (bd * w).sum()

        for _ in range(3):
            opt.step(closure)
        ends.append(_host(w))
    np.testing.assert_allclose(ends[1], ends[0], rtol=1e-9)
    np.testing.assert_allclose(ends[1], np.linalg.solve(A, b), rtol=1e-6)


def test_gpu_activation_histograms_read_gpu_layers(rng, tmp_path):
    cp = _cupy()
    pytest.importorskip("matplotlib")
    pydlk.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2), nn.Tanh())
    x = rng.standard_normal((5, 4)).astype(np.float32)
    want = pydlk.visualize.activation_histograms(model, pydlk.tensor(x), tmp_path / "c.png")
    model.cuda()
    got = pydlk.visualize.activation_histograms(
        model, pydlk.tensor(cp.asarray(x)), tmp_path / "g.png"
    )
    assert want.keys() == got.keys() and len(got) == 2
    for k in want:
        assert type(got[k]) is np.ndarray
        np.testing.assert_allclose(got[k], want[k], rtol=1e-6)


def test_gpu_tensor_device_idioms(rng):
    """torch.tensor/as_tensor(device=), .cuda(non_blocking=True), is_cuda, get_device(),
    pin_memory() as torch users write them."""
    cp = _cupy()
    t = pydlk.tensor([1.0, 2.0], device="cuda", requires_grad=True)
    assert t.is_cuda and t.get_device() == 0 and str(t.device) == "cuda:0" and t.requires_grad
    np.testing.assert_array_equal(_host(t), [1.0, 2.0])
    a = pydlk.as_tensor([1, 2], device="cuda")
    assert a.is_cuda and a.dtype == np.int64
    h = pydlk.tensor(np.arange(3.0, dtype=np.float32))
    assert not h.is_cuda and h.get_device() == -1 and not h.is_pinned()
    p = h.pin_memory()
    assert p is not h and not p.is_cuda
    g = p.cuda(non_blocking=True)
    assert g.is_cuda and type(g._data) is type(cp.asarray(np.zeros(1)))
    np.testing.assert_array_equal(_host(g), [0.0, 1.0, 2.0])
    with pytest.raises(RuntimeError, match="only CPU tensors can be pinned"):
        g.pin_memory()
    assert pydlk.as_tensor(g, device="cuda:0") is g


def _same_seed_on_both(build, run, cp):
    """run(model, device) on the CPU and on the GPU after the same seed; both results' values."""
    outs = []
    for dev in ("cpu", "cuda"):
        pydlk.manual_seed(0)
        model = build()
        model.to(dev)
        pydlk.manual_seed(1)  # the dropout masks: the same Philox numbers on both devices
        outs.append(run(model, dev))
    return outs


def test_gpu_transformer_layer_trains_with_dropout_as_on_the_cpu(rng):
    """Attention dropout draws its mask on the tensors' device, with the Philox scheme of
    dropout: the same seed gives the same masks, so GPU and CPU agree."""
    cp = _cupy()
    x = rng.standard_normal((2, 5, 8)).astype(np.float32)

    def run(layer, dev):
        layer.train()
        xt = pydlk.tensor(x, device=dev, requires_grad=True)
        y = layer(xt)
        y.square().sum().backward()
        return _host(y), _host(xt.grad), _host(layer.self_attn.in_proj_weight.grad)

    (yc, gc, wc), (yg, gg, wg) = _same_seed_on_both(
        lambda: nn.TransformerEncoderLayer(8, 2, 16, dropout=0.3, batch_first=True), run, cp
    )
    assert not np.allclose(yc, _same_seed_on_both_eval(x))  # dropout acted
    for c, g in ((yc, yg), (gc, gg), (wc, wg)):
        np.testing.assert_allclose(g, c, rtol=2e-4, atol=2e-5)


def _same_seed_on_both_eval(x):
    pydlk.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.3, batch_first=True).eval()
    return _host(layer(pydlk.tensor(x)))


@pytest.mark.parametrize(
    "build",
    [
        lambda: nn.LSTM(3, 4, batch_first=True),
        lambda: nn.GRU(3, 4, num_layers=2, dropout=0.5),
        lambda: nn.LSTM(3, 4, num_layers=2, dropout=0.5, bidirectional=True),
        lambda: nn.RNN(3, 4),
    ],
    ids=["lstm", "gru_2_layers_dropout", "bilstm_2_layers_dropout", "rnn"],
)
def test_gpu_recurrent_layers_without_hx_match_the_cpu(build, rng):
    """hx=None starts from zeros on the input's device; inter-layer dropout masks are drawn
    there with dropout's Philox scheme (so equal to the CPU's for the same seed)."""
    cp = _cupy()
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)

    def run(m, dev):
        xt = pydlk.tensor(x, device=dev, requires_grad=True)
        out, h = m(xt)
        (out.square().sum() + (h[0] if isinstance(h, tuple) else h).sum()).backward()
        return _host(out), _host(xt.grad)

    (oc, gc), (og, gg) = _same_seed_on_both(build, run, cp)
    np.testing.assert_allclose(og, oc, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gg, gc, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "build",
    [
        lambda: nn.LSTM(3, 4, num_layers=2, bidirectional=True),
        lambda: nn.GRU(3, 4, batch_first=True),
    ],
    ids=["bilstm_2_layers", "gru_batch_first"],
)
def test_gpu_recurrent_layers_over_packed_input_match_the_cpu(build, rng):
    """A GPU batch packed with unsorted CPU lengths: data and indices stay on the GPU,
    batch_sizes on the CPU; the packed output, h_n and the input's gradient equal the CPU's."""
    from pydlk.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    cp = _cupy()
    x = rng.standard_normal((6, 3, 3)).astype(np.float32)  # (T, B, I)

    def run(m, dev):
        v = x.transpose(1, 0, 2) if m.batch_first else x
        xt = pydlk.tensor(v, device=dev, requires_grad=True)
        p = pack_padded_sequence(xt, [2, 6, 4], batch_first=m.batch_first, enforce_sorted=False)
        assert p.is_cuda == (dev == "cuda") and str(p.batch_sizes.device) == "cpu"
        assert str(p.sorted_indices.device) == str(xt.device)
        out, h = m(p)
        h = h[0] if isinstance(h, tuple) else h
        y, lengths = pad_packed_sequence(out, batch_first=m.batch_first)
        assert lengths.tolist() == [2, 6, 4] and str(y.device) == str(xt.device)
        (y.square().sum() + h.sum()).backward()
        return _host(y), _host(h), _host(xt.grad)

    cpu, gpu = _same_seed_on_both(build, run, cp)
    for c, g in zip(cpu, gpu):
        np.testing.assert_allclose(g, c, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cell", [nn.LSTMCell, nn.GRUCell, nn.RNNCell])
def test_gpu_recurrent_cells_without_hx_match_the_cpu(cell, rng):
    cp = _cupy()
    x = rng.standard_normal((2, 3)).astype(np.float32)

    def run(m, dev):
        h = m(pydlk.tensor(x, device=dev))
        return _host(h[0] if isinstance(h, tuple) else h)

    c, g = _same_seed_on_both(lambda: cell(3, 4), run, cp)
    assert g.shape == (2, 4)
    np.testing.assert_allclose(g, c, rtol=1e-6, atol=1e-7)


def test_gpu_amp_loop_with_grad_scaler_trains_as_float32(rng, monkeypatch):
    """The torch AMP loop (autocast('cuda') + GradScaler, unscale_ before clipping) runs
    unchanged; pydlk's GPU kernels compute in float32, so it equals plain float32 training."""
    cp = _cupy()
    monkeypatch.setitem(pydlk.amp._kernels, "cuda_warned", True)  # said once per process
    x = rng.standard_normal((16, 4)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    weights = []
    for amp_on in (True, False):
        pydlk.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).cuda()
        opt = pydlk.optim.AdamW(model.parameters(), lr=0.01)
        scaler = pydlk.amp.GradScaler("cuda", enabled=amp_on)
        xb, yb = pydlk.tensor(x, device="cuda"), pydlk.tensor(cp.asarray(y))
        for _ in range(4):
            opt.zero_grad(set_to_none=True)
            with pydlk.autocast(device_type="cuda", dtype=pydlk.float16, enabled=amp_on):
                loss = F.cross_entropy(model(xb), yb)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(opt)
            scaler.update()
        assert scaler.get_scale() == (2.0**16 if amp_on else 1.0)
        weights.append([_host(p) for p in model.parameters()])
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_gpu_memory_queries_events_and_properties():
    cp = _cupy()
    x = pydlk.zeros(1000, device="cuda")
    assert isinstance(pydlk.cuda.memory_allocated(), int)
    assert pydlk.cuda.memory_reserved() >= pydlk.cuda.memory_allocated() >= 0
    pydlk.cuda.reset_peak_memory_stats()
    assert pydlk.cuda.max_memory_allocated() >= pydlk.cuda.memory_allocated()
    pydlk.cuda.empty_cache()
    free, total = pydlk.cuda.mem_get_info()
    assert 0 < free <= total
    props = pydlk.cuda.get_device_properties(0)
    assert props.name == pydlk.cuda.get_device_name(0) and props.total_memory == total
    assert pydlk.cuda.get_device_capability() == (props.major, props.minor)
    start, end = pydlk.cuda.Event(enable_timing=True), pydlk.cuda.Event(enable_timing=True)
    start.record()
    (x + 1).sum()
    end.record()
    end.synchronize()
    assert end.query() and start.elapsed_time(end) >= 0.0
    pydlk.cuda.current_stream().synchronize()
    assert cp is not None


def test_gpu_embedding_and_indexing_backward_scatter_add_as_on_the_cpu(rng):
    """Repeated indices add up in the backward (cupy.add.at / np.add.at on device arrays)."""
    cp = _cupy()
    idx = np.array([[1, 2, 2], [0, 2, 9]])
    grads = []
    for dev in ("cpu", "cuda"):
        pydlk.manual_seed(0)
        emb = nn.Embedding(10, 4, padding_idx=0).to(dev)
        src = pydlk.tensor(np.arange(12.0, dtype=np.float32).reshape(4, 3), device=dev)
        src.requires_grad_()
        out = emb(pydlk.tensor(idx, device=dev))
        (out.square().sum() + src[pydlk.tensor(np.array([0, 0, 3]), device=dev)].sum()).backward()
        grads.append((_host(emb.weight.grad), _host(src.grad)))
    for c, g in zip(*grads):
        np.testing.assert_allclose(g, c, rtol=1e-6)
    assert grads[1][0][0].tolist() == [0.0] * 4 and grads[1][1][0].tolist() == [2.0] * 3
    assert cp is not None


def test_gpu_square_mask_and_callable_map_location_go_to_the_gpu(tmp_path):
    cp = _cupy()
    m = nn.Transformer.generate_square_subsequent_mask(3, device="cuda")
    assert m.is_cuda and _host(m)[0, 1] == -np.inf and _host(m)[1, 0] == 0
    path = tmp_path / "c.pt"
    pydlk.save({"w": pydlk.ones(2, device="cuda")}, path)
    w = pydlk.load(path, map_location=lambda storage, loc: storage.cuda())["w"]
    assert w.is_cuda and _host(w).tolist() == [1.0, 1.0]
    assert cp is not None


def test_gpu_tensors_load_back_onto_the_gpu_without_map_location(tmp_path, rng):
    """torch.load without map_location: each Tensor returns to the device it was saved from
    (a GPU model's state dict onto the GPU, a CPU tensor onto the CPU, arrays on the host); a
    dict map_location moves only the locations it names; a callable is told the location."""
    cp = _cupy()
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).cuda()
    path = tmp_path / "g.pt"
    extra = {"c": pydlk.tensor([1.0, 2.0]), "a": np.arange(3.0), "g": pydlk.ones(2, device="cuda")}
    pydlk.save({"m": model.state_dict(), **extra}, path)
    back = pydlk.load(path)
    for (k, v), w in zip(model.state_dict().items(), back["m"].values()):
        assert str(w.device) == "cuda:0" and isinstance(w._data, cp.ndarray), k
        np.testing.assert_array_equal(_host(w), _host(v))
    assert str(back["c"].device) == "cpu" and back["c"].tolist() == [1.0, 2.0]
    assert type(back["a"]) is np.ndarray and back["g"].is_cuda
    fresh = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).cuda()
    fresh.load_state_dict(back["m"])
    x = pydlk.tensor(rng.standard_normal((5, 3)).astype(np.float32), device="cuda")
    np.testing.assert_array_equal(_host(fresh(x)), _host(model(x)))
    mapped = pydlk.load(path, map_location={"cuda:0": "cpu"})
    assert str(mapped["g"].device) == "cpu" and str(mapped["c"].device) == "cpu"
    seen = {}
    pydlk.load(path, map_location=lambda s, loc: seen.setdefault(loc, s))
    assert set(seen) == {"cuda:0", "cpu"} and not seen["cuda:0"].is_cuda


def test_gpu_state_dicts_load_across_devices(tmp_path, rng):
    """torch.load(map_location='cpu') then load_state_dict into a GPU model and optimiser (and
    a GPU state dict into a CPU model): values are copied across devices, as torch's copy_."""
    cp = _cupy()
    pydlk.manual_seed(0)
    src = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)).cuda()
    opt = pydlk.optim.Adam(src.parameters(), lr=0.01)
    x = pydlk.tensor(rng.standard_normal((6, 3)).astype(np.float32), device="cuda")
    src(x).square().sum().backward()
    opt.step()
    path = tmp_path / "s.pt"
    pydlk.save({"m": src.state_dict(), "o": opt.state_dict()}, path)
    on_cpu = pydlk.load(path, map_location="cpu")
    dst = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)).cuda()
    dst.load_state_dict(on_cpu["m"])  # CPU values into a GPU model
    dopt = pydlk.optim.Adam(dst.parameters(), lr=0.01)
    dopt.load_state_dict(on_cpu["o"])  # CPU state into a GPU optimiser
    for (k, a), b in zip(src.state_dict().items(), dst.state_dict().values()):
        assert str(b.device) == "cuda:0", k
        np.testing.assert_array_equal(_host(b), _host(a))
    for o in (opt, dopt):
        o.zero_grad()
    src(x).square().sum().backward()
    dst(x).square().sum().backward()
    opt.step()
    dopt.step()
    for a, b in zip(src.parameters(), dst.parameters()):
        np.testing.assert_allclose(_host(b), _host(a), rtol=1e-6)
    cpu_model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    cpu_model.load_state_dict(src.state_dict())  # GPU values into a CPU model
    for a, b in zip(src.parameters(), cpu_model.parameters()):
        np.testing.assert_array_equal(b.detach().numpy(), _host(a))
    assert cp is not None


@pytest.mark.parametrize(
    "init",
    [
        nn.init.normal_,
        nn.init.uniform_,
        nn.init.kaiming_normal_,
        nn.init.kaiming_uniform_,
        nn.init.xavier_uniform_,
        nn.init.xavier_normal_,
        nn.init.orthogonal_,
        nn.init.trunc_normal_,
        nn.init.eye_,
    ],
    ids=lambda f: f.__name__,
)
def test_gpu_init_on_gpu_parameters_draws_the_cpu_numbers(init):
    """nn.init on a GPU parameter (model.apply(init_fn) after .cuda(), reset_parameters):
    drawn on the host, written on the device, the same numbers as on the CPU for one seed."""
    _cupy()
    got = []
    for dev in ("cpu", "cuda"):
        w = nn.Linear(5, 4).to(dev).weight
        pydlk.manual_seed(3)
        init(w)
        assert str(w.device) == ("cuda:0" if dev == "cuda" else "cpu")
        got.append(_host(w))
    np.testing.assert_array_equal(got[1], got[0])
    m = nn.Sequential(nn.Linear(3, 4), nn.Embedding(5, 3, padding_idx=0)).cuda()
    for layer in m:
        layer.reset_parameters()
    assert _host(m[1].weight)[0].tolist() == [0.0, 0.0, 0.0]
