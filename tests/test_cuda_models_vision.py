"""Vision models trained the torch way on a GPU (``model.to('cuda')``, batches ``.to('cuda')``,
everything else unchanged), each against the same code on the CPU and a value worked out in
the test: 3-D transposed convolutions, fractional max pooling, the multi-label margin loss,
detection box ops, streaming metrics on GPU outputs, and a whole model saved from the GPU and
loaded with ``map_location``. Real CuPy refuses ``np.asarray`` of its arrays and NumPy operands
in its ops; the host emulation (tools/run_cuda_tests_on_host.py) refuses them too, so these
``test_gpu_*`` tests run here as they would on a GPU, and skip without either."""

import numpy as np
import pytest
from _gpu_helpers import cupy_or_skip, host

import pydlk
import pydlk.functional as F
from pydlk import metrics, nn, vision


def _both(model_fn, dtype=pydlk.float64):
    """The same freshly initialised model on the CPU and on the GPU."""
    pydlk.manual_seed(0)
    cpu = model_fn().to(dtype)
    gpu = model_fn().to(dtype)
    gpu.load_state_dict(cpu.state_dict())
    return cpu, gpu.to("cuda")


def _train(model, x, y, steps=3):
    dev = "cuda" if str(next(model.parameters()).device).startswith("cuda") else "cpu"
    opt = pydlk.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(steps):
        loss = F.cross_entropy(model(x.to(dev)), y.to(dev))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_gpu_conv_transpose3d_net_trains_like_the_cpu(rng):
    """ConvTranspose3d built its zero input on the CPU, so a GPU volume net failed at once."""
    cupy_or_skip()

    def net():
        return nn.Sequential(
            nn.Conv3d(2, 4, 3, padding=1),
            nn.ReLU(),
            nn.ConvTranspose3d(4, 3, 3, stride=2, padding=1, output_padding=1),
            nn.AdaptiveAvgPool3d(1),
            nn.Flatten(),
        )

    x = pydlk.tensor(rng.standard_normal((2, 2, 3, 3, 3)))
    y = pydlk.tensor(np.array([0, 2]))
    cpu, gpu = _both(net)
    assert gpu[2](gpu[0](x.cuda())).shape == (2, 3, 6, 6, 6)  # (3 - 1) * 2 - 2 + 3 + 1
    lc, lg = _train(cpu, x, y), _train(gpu, x, y)
    np.testing.assert_allclose(lg, lc, rtol=1e-10)
    for (k, a), b in zip(cpu.state_dict().items(), gpu.state_dict().values()):
        np.testing.assert_allclose(host(b), host(a), rtol=1e-9, atol=1e-12, err_msg=k)


def test_gpu_conv_transpose3d_is_the_scatter_of_its_kernel(rng):
    """With stride = kernel size the windows do not overlap: out[n, o, 2i + a, 2j + b, 2k + c]
    = sum_c x[n, c, i, j, k] w[c, o, a, b, c], with its gradients equal to the CPU's."""
    cp = cupy_or_skip()
    xv, wv = rng.standard_normal((1, 2, 2, 3, 2)), rng.standard_normal((2, 3, 2, 2, 2))
    xc, wc = pydlk.tensor(xv, requires_grad=True), pydlk.tensor(wv, requires_grad=True)
    xg = pydlk.tensor(cp.asarray(xv), requires_grad=True)
    wg = pydlk.tensor(cp.asarray(wv), requires_grad=True)
    yc, yg = F.conv_transpose3d(xc, wc, stride=2), F.conv_transpose3d(xg, wg, stride=2)
    want = np.einsum("ncijk,coabd->noiajbkd", xv, wv).reshape(1, 3, 4, 6, 4)
    np.testing.assert_allclose(host(yg), want, rtol=1e-12)
    np.testing.assert_allclose(host(yg), host(yc), rtol=1e-12)
    (yc * yc).sum().backward()
    (yg * yg).sum().backward()
    np.testing.assert_allclose(host(xg.grad), host(xc.grad), rtol=1e-12)
    np.testing.assert_allclose(host(wg.grad), host(wc.grad), rtol=1e-12)


def test_gpu_fractional_max_pool2d_matches_the_cpu_and_its_windows(rng):
    """FractionalMaxPool2d ran NumPy on the GPU array; the windows follow torch's formula
    start_i = int((i + u) * alpha) - int(u * alpha), alpha = (in - k) / (out - 1), last flush."""
    cp = cupy_or_skip()
    xv = rng.standard_normal((1, 2, 7, 7))
    u = np.array([[[0.3, 0.6], [0.9, 0.1]]])  # (N, C, 2): x then y per plane
    xc = pydlk.tensor(xv, requires_grad=True)
    xg = pydlk.tensor(cp.asarray(xv), requires_grad=True)
    yc = F.fractional_max_pool2d(xc, 2, output_size=3, _random_samples=pydlk.tensor(u))
    yg = F.fractional_max_pool2d(xg, 2, output_size=3, _random_samples=pydlk.tensor(u).cuda())
    assert str(yg.device) == "cuda:0"

    def starts(v):
        alpha = (7 - 2) / 2
        return [int((i + v) * alpha) - int(v * alpha) for i in range(2)] + [5]

    want = np.empty((1, 2, 3, 3))
    for c in range(2):
        for i, r in enumerate(starts(u[0, c, 1])):
            for j, s in enumerate(starts(u[0, c, 0])):
                want[0, c, i, j] = xv[0, c, r : r + 2, s : s + 2].max()
    np.testing.assert_allclose(host(yg), want)
    np.testing.assert_allclose(host(yg), host(yc))
    (yc * yc).sum().backward()
    (yg * yg).sum().backward()
    np.testing.assert_allclose(host(xg.grad), host(xc.grad))
    pydlk.manual_seed(3)  # drawn samples: the module form, moved to the input's device
    ym = nn.FractionalMaxPool2d(2, output_ratio=0.5)(xg)
    pydlk.manual_seed(3)
    np.testing.assert_allclose(host(ym), host(nn.FractionalMaxPool2d(2, output_ratio=0.5)(xc)))


def test_gpu_multilabel_margin_loss_matches_the_cpu_and_its_formula(rng):
    """multilabel_margin_loss built its target mask on the CPU. Per sample:
    sum over targets j (before the first -1) and non-targets i of max(0, 1 - x[j] + x[i]) / C."""
    cp = cupy_or_skip()
    xv = rng.standard_normal((2, 4))
    t = np.array([[3, 0, -1, 1], [1, -1, 0, 0]])
    xc = pydlk.tensor(xv, requires_grad=True)
    xg = pydlk.tensor(cp.asarray(xv), requires_grad=True)
    lc = F.multilabel_margin_loss(xc, pydlk.tensor(t))
    lg = F.multilabel_margin_loss(xg, pydlk.tensor(t).cuda())
    want = 0.0
    for n, targets in enumerate(([3, 0], [1])):
        others = [i for i in range(4) if i not in targets]
        want += sum(max(0.0, 1 - xv[n, j] + xv[n, i]) for j in targets for i in others) / 4
    np.testing.assert_allclose(lg.item(), want / 2, rtol=1e-12)
    np.testing.assert_allclose(lg.item(), lc.item(), rtol=1e-12)
    lc.backward()
    lg.backward()
    np.testing.assert_allclose(host(xg.grad), host(xc.grad), rtol=1e-12)


def test_gpu_box_ops_stay_on_the_gpu_and_match_the_cpu():
    """box_iou, box_area, nms, batched_nms, BoxCoder and grid_anchors refused GPU Tensors."""
    cupy_or_skip()
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
    s = np.array([0.9, 0.8, 0.85, 0.7], np.float32)
    cls = np.array([0, 0, 1, 0])
    bc, sc, cc = pydlk.tensor(b), pydlk.tensor(s), pydlk.tensor(cls)
    bg, sg, cg = bc.cuda(), sc.cuda(), cc.cuda()
    iou = vision.box_iou(bg, bg)
    assert str(iou.device) == "cuda:0"
    np.testing.assert_allclose(host(iou)[0, 1], 50 / 150)  # overlap 5 x 10 of two 100s
    np.testing.assert_allclose(host(iou), host(vision.box_iou(bc, bc)))
    np.testing.assert_allclose(host(vision.box_area(bg)), [100, 100, 100, 100])
    keep = vision.nms(bg, sg, 0.5)  # box 2 overlaps box 0 by 81/119 > 0.5; box 1 by 1/3
    assert str(keep.device) == "cuda:0" and host(keep).tolist() == [0, 1, 3]
    assert host(vision.nms(bc, sc, 0.5)).tolist() == [0, 1, 3]
    kb = vision.batched_nms(bg, sg, cg, 0.3)  # box 2 is alone in its class; 1 loses to 0
    assert str(kb.device) == "cuda:0" and host(kb).tolist() == [0, 2, 3]
    assert host(vision.batched_nms(bc, sc, cc, 0.3)).tolist() == [0, 2, 3]
    coder = vision.BoxCoder((10.0, 10.0, 5.0, 5.0))
    codes = coder.encode(bg[:2], bg[2:4] * 0 + bg[:1])
    np.testing.assert_allclose(host(codes)[1], [5.0, 0.0, 0.0, 0.0])  # 10 * (10 - 5) / 10
    back = coder.decode(codes, bg[2:4] * 0 + bg[:1])
    assert str(back.device) == "cuda:0"
    np.testing.assert_allclose(host(back).reshape(2, 4), b[:2], atol=1e-5)
    base = vision.generate_anchors((32,), (1.0,))
    grid = vision.grid_anchors(base.cuda(), (2, 2), (8, 8))
    assert str(grid.device) == "cuda:0"
    np.testing.assert_allclose(host(grid)[3], [-8, -8, 24, 24])  # cell (1, 1) at (8, 8)


def test_gpu_metrics_take_gpu_outputs():
    """The streaming metrics' update refused GPU Tensors (``.numpy()`` of a device tensor)."""
    cupy_or_skip()
    logits = pydlk.tensor(np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 2.0]]))
    y = pydlk.tensor(np.array([0, 2, 2]))
    acc_g, acc_c = metrics.Accuracy(), metrics.Accuracy()
    acc_g.update(logits.cuda().requires_grad_(), y.cuda())
    acc_c.update(logits, y)
    assert acc_g.compute() == acc_c.compute() == pytest.approx(2 / 3)
    cm = metrics.ConfusionMatrix(num_classes=3)
    cm.update(logits.cuda(), y.cuda())
    np.testing.assert_array_equal(cm.compute(), [[1, 0, 0], [0, 0, 0], [0, 1, 1]])


def test_gpu_whole_model_saved_from_the_gpu_loads_where_map_location_says(tmp_path, rng):
    """torch.save(model) of a GPU model and load(..., map_location='cpu', weights_only=False)
    gave the model back on the GPU: map_location did not reach the pickled module's Tensors."""
    cupy_or_skip()
    pydlk.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 3))
    model = model.cuda()
    x = pydlk.tensor(rng.standard_normal((2, 1, 4, 4)).astype(np.float32)).cuda()
    model(x).sum().backward()
    want = {k: host(v) for k, v in model.state_dict().items()}
    path = tmp_path / "whole.pt"
    pydlk.save(model, path)
    on_cpu = pydlk.load(path, map_location="cpu", weights_only=False)
    for k, v in on_cpu.state_dict().items():
        assert str(v.device) == "cpu" and isinstance(v._data, np.ndarray), k
        np.testing.assert_array_equal(v._data, want[k], err_msg=k)
    assert str(on_cpu[0].weight.grad.device) == "cpu"
    np.testing.assert_allclose(
        host(on_cpu.eval()(x.cpu())), host(model.eval()(x)), rtol=1e-5, atol=1e-6
    )
    back = pydlk.load(path, weights_only=False)  # no map_location: where it was saved
    assert {str(v.device) for v in back.state_dict().values()} == {"cuda:0"}
    by_fn = pydlk.load(path, map_location=lambda s, loc: s, weights_only=False)
    assert str(by_fn[3].weight.device) == "cpu"
    pydlk.save(on_cpu, path)  # and a CPU model onto the GPU
    to_gpu = pydlk.load(path, map_location="cuda", weights_only=False)
    assert str(to_gpu[3].bias.device) == "cuda:0"
    np.testing.assert_array_equal(host(to_gpu[3].bias), want["3.bias"])
