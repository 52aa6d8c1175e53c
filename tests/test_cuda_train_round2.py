"""GPU data pipeline and training workflow against the CPU: batch augmentation of GPU batches
(pydlk.data.augment and augment_extra run on the batch's GPU with the host loops' values),
predict / tta_predict / multi_scale_predict with a GPU model and host data, and the
``pydlk train --device cuda`` command's final test evaluation. Under the host emulation
(tools/run_cuda_tests_on_host.py) these run here; without CuPy they skip."""

import numpy as np
import pytest
from _gpu_helpers import cupy_or_skip, host

import pydlk
from pydlk import nn
from pydlk.data import DataLoader, TensorDataset
from pydlk.data import augment as A
from pydlk.data import augment_extra as AE


def _batch(rng, shape=(4, 3, 8, 8)):
    return rng.standard_normal(shape).astype(np.float32)


TRANSFORMS = {
    "crop": lambda x: A.RandomCrop(6, padding=2),
    "hflip": lambda x: A.RandomHorizontalFlip(),
    "resized_crop": lambda x: A.RandomResizedCrop(5),
    "affine": lambda x: A.RandomAffine(25, (0.2, 0.1)),
    "rotation": lambda x: A.RandomRotation(40),
    "color_jitter": lambda x: A.ColorJitter(0.3, 0.4, 0.5),
    "noise": lambda x: A.GaussianNoise(0.2),
    "cutout": lambda x: A.Cutout(3, p=0.7),
    "pca": lambda x: A.PCAColorAugmentation(0.3).fit(x),
    "short_side": lambda x: AE.RandomShortSideResize(8, 11, crop=7),
    "shear_scale": lambda x: AE.RandomAffineShearScale(20, (0.1, 0.1), (0.8, 1.2), 10),
    "shear_nearest": lambda x: AE.RandomAffineShearScale(
        20, scale=(0.8, 1.2), interpolation="nearest"
    ),
    "compose": lambda x: A.Compose([A.RandomCrop(8, 1), A.RandomHorizontalFlip(), A.Cutout(2)]),
}


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", TRANSFORMS)
def test_gpu_round2_augment_runs_on_the_gpu_with_the_cpu_values(name, channels, rng):
    cp = cupy_or_skip()
    x = _batch(rng, (5, channels, 8, 8))
    t = TRANSFORMS[name](x)
    want = t(x, np.random.default_rng(7))
    assert isinstance(want, np.ndarray)
    for xg in (cp.asarray(x), pydlk.tensor(x).cuda()):
        got = t(xg, np.random.default_rng(7))
        assert isinstance(got, cp.ndarray) and got.dtype == np.float32  # stays on the GPU
        np.testing.assert_allclose(host(got), want, rtol=1e-5, atol=1e-5)
    again = t(cp.asarray(x), np.random.default_rng(7))  # the same seed, the same batch
    np.testing.assert_array_equal(host(again), host(t(cp.asarray(x), np.random.default_rng(7))))


def test_gpu_round2_augment_values_worked_by_hand(rng):
    cp = cupy_or_skip()
    x = _batch(rng)
    xg = cp.asarray(x)
    np.testing.assert_array_equal(host(A.RandomHorizontalFlip(1.0)(xg)), x[..., ::-1])
    np.testing.assert_array_equal(host(A.RandomHorizontalFlip(0.0)(xg)), x)
    # a crop of the whole padded image's size is the zero-padded batch itself
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    np.testing.assert_array_equal(host(A.RandomCrop(12, padding=2)(xg)), padded)
    # brightness b alone scales: contrast and saturation factors are exactly 1
    out = host(A.ColorJitter(brightness=0.0)(xg))
    np.testing.assert_allclose(out, x, rtol=1e-6, atol=1e-6)
    # a 3x3 hole: 9 zeros per channel where the centre lies inside
    cut = host(A.Cutout(3)(cp.asarray(np.ones((2, 1, 9, 9), np.float32)), np.random.default_rng(0)))
    cy, cx, _ = A.Cutout(3).params(np.ones((2, 1, 9, 9)), A._stream(np.random.default_rng(0)))
    for n in range(2):
        rows = range(max(cy[n] - 1, 0), min(cy[n] + 2, 9))
        cols = range(max(cx[n] - 1, 0), min(cx[n] + 2, 9))
        assert (cut[n] == 0).sum() == len(rows) * len(cols)
    # zero std noise changes nothing; the noise of one seed has std about 0.5
    np.testing.assert_array_equal(host(A.GaussianNoise(0.0)(xg)), x)
    z = host(A.GaussianNoise(0.5)(cp.zeros((64, 1, 16, 16), np.float32)))
    assert abs(z.std() - 0.5) < 0.02 and abs(z.mean()) < 0.02


def test_gpu_round2_tta_views_and_crops_stay_on_the_gpu(rng):
    cp = cupy_or_skip()
    x = _batch(rng)
    for a, b in zip(A.tta_views(x, shifts=1), A.tta_views(pydlk.tensor(x).cuda(), shifts=1)):
        assert isinstance(b, cp.ndarray)
        np.testing.assert_array_equal(host(b), a)
    for a, b in zip(AE.ten_crop(x, 5), AE.ten_crop(cp.asarray(x), 5)):
        assert isinstance(b, cp.ndarray)
        np.testing.assert_array_equal(host(b), a)
    got = AE.resize(cp.asarray(x), (5, 6))
    assert isinstance(got, cp.ndarray)
    np.testing.assert_allclose(host(got), AE.resize(x, (5, 6)), rtol=1e-6, atol=1e-6)


def test_gpu_round2_loader_transform_of_a_gpu_dataset(rng):
    cp = cupy_or_skip()
    x, y = _batch(rng, (6, 1, 8, 8)), np.arange(6)
    t = A.Compose([A.RandomHorizontalFlip(), A.RandomCrop(8, 1)])

    def batches(ds):
        return list(DataLoader(ds, batch_size=3, transform=t, seed=5))

    want = batches(TensorDataset(x, y))
    got = batches(TensorDataset(pydlk.tensor(x).cuda(), pydlk.tensor(y).cuda()))
    for (wx, wy), (gx, gy) in zip(want, got):
        assert str(gx.device) == "cuda:0" and isinstance(gx._data, cp.ndarray)
        np.testing.assert_array_equal(host(gx), host(wx))
        np.testing.assert_array_equal(host(gy), host(wy))


def _model(device):
    pydlk.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(64, 3))
    return m.to(device)


def test_gpu_round2_predict_moves_host_batches_to_a_gpu_model(rng):
    cupy_or_skip()
    from pydlk.train import predict, tta_predict

    x = _batch(rng, (7, 1, 4, 4))
    mc, mg = _model("cpu"), _model("cuda")
    want = predict(mc, x, batch_size=3)
    with pydlk.no_grad():  # the model by hand, on the host
        np.testing.assert_allclose(want, host(mc(pydlk.tensor(x))), rtol=1e-6)
    loader = DataLoader(TensorDataset(x, np.zeros(7, np.int64)), batch_size=3)
    for data in (x, pydlk.tensor(x), pydlk.tensor(x).cuda(), loader):
        got = predict(mg, data, batch_size=3)
        assert isinstance(got, np.ndarray)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    want_tta = tta_predict(mc, x, shifts=1)
    np.testing.assert_allclose(want_tta.sum(1), 1.0, rtol=1e-6)
    for data in (x, pydlk.tensor(x).cuda()):
        np.testing.assert_allclose(tta_predict(mg, data, shifts=1), want_tta, rtol=1e-5, atol=1e-6)


def test_gpu_round2_multi_scale_predict_with_a_gpu_model(rng):
    cupy_or_skip()
    x = _batch(rng, (3, 1, 6, 6))

    def model(device):
        pydlk.manual_seed(1)
        m = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        return m.to(device)

    want = AE.multi_scale_predict(model("cpu"), x, scales=[4, 6])
    np.testing.assert_allclose(want.sum(1), 1.0, rtol=1e-6)
    got = AE.multi_scale_predict(model("cuda"), x, scales=[4, 6])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_gpu_round2_cli_train_on_cuda_evaluates_the_test_set_there(tmp_path, capsys):
    cupy_or_skip()
    from pydlk.cli import main

    args = ["train", "--epochs", "1", "--no-progress", "--augment", "basic"]
    assert main([*args, "--device", "cuda", "--out", str(tmp_path / "g")]) == 0
    gpu = capsys.readouterr().out
    assert main([*args, "--device", "cpu", "--out", str(tmp_path / "c")]) == 0
    cpu = capsys.readouterr().out

    def acc(out):
        line = next(s for s in out.splitlines() if s.startswith("test accuracy"))
        return float(line.split()[2].rstrip("%"))

    assert 10.0 < acc(gpu) <= 100.0  # better than a guess among 10 classes
    assert abs(acc(gpu) - acc(cpu)) < 5.0  # the same run up to float rounding
    assert (tmp_path / "g" / "digits-lenet5" / "best.npz").exists()


def test_gpu_round2_streams_as_torch_cuda_streams(rng):
    cp = cupy_or_skip()
    C = pydlk.cuda
    x = pydlk.tensor(_batch(rng, (2, 3)))
    xg = x.cuda()
    s = C.Stream()
    assert s.device == pydlk.device("cuda", 0) and isinstance(s.cuda_stream, int)
    s.wait_stream(C.current_stream())  # torch's side-stream idiom
    with C.stream(s):
        assert C.current_stream() == s  # the block's work is queued on s
        yg = (xg * 2 + 1).relu()
    assert C.current_stream() != s
    C.current_stream().wait_stream(s)
    ev = s.record_event()
    ev.wait()
    ev.synchronize()
    assert s.query() and ev.query()
    s.synchronize()
    start, end = C.Event(enable_timing=True), C.Event(enable_timing=True)
    start.record(s)
    end.record(C.current_stream())
    end.synchronize()
    assert start.elapsed_time(end) >= 0.0
    with C.stream(None):  # torch: None leaves the current stream as it is
        pass
    assert isinstance(C.default_stream(), C.Stream)
    want = np.maximum(host(x) * 2 + 1, 0)  # by hand
    assert isinstance(yg._data, cp.ndarray)
    np.testing.assert_array_equal(host(yg), want)
    np.testing.assert_array_equal(host(yg), host((x * 2 + 1).relu()))
