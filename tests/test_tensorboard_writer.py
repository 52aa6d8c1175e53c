"""pydlk.utils.tensorboard.SummaryWriter against torch 2.13's own SummaryWriter: each test makes
the same calls with both writers into two directories, reads the event files back with
tensorboard's loader and compares the events (tags, steps, values, encodings; wall times
cleared unless given), or the projector files byte for byte."""

import glob
import io
import os
import subprocess
import sys
import wave

import numpy as np
import pytest

pytest.importorskip("tensorboard")
torch = pytest.importorskip("torch")

from tensorboard.backend.event_processing.event_file_loader import (  # noqa: E402
    RawEventFileLoader,
)
from tensorboard.compat.proto.event_pb2 import Event  # noqa: E402
from torch.utils.tensorboard import SummaryWriter as TorchWriter  # noqa: E402

import pydlk  # noqa: E402
from pydlk import nn  # noqa: E402
from pydlk.utils.tensorboard import SummaryWriter  # noqa: E402


def _events(logdir, keep_walltime=False):
    """The events of the event files directly in ``logdir`` (file name order), wall times
    cleared unless ``keep_walltime``."""
    out = []
    for f in sorted(glob.glob(os.path.join(str(logdir), "events.out.tfevents.*"))):
        for raw in RawEventFileLoader(f).Load():
            e = Event.FromString(raw)
            if not keep_walltime:
                e.ClearField("wall_time")
            out.append(e)
    return out


def _both(tmp_path, calls, **kwargs):
    """Run ``calls(writer, lib)`` with torch's writer (lib = torch) and pydlk's (lib = pydlk)
    into tmp_path/torch and tmp_path/pydlk, closing both; returns the two directories."""
    dirs = []
    for name, cls, lib in (("torch", TorchWriter, torch), ("pydlk", SummaryWriter, pydlk)):
        d = str(tmp_path / name)
        w = cls(d, **kwargs)
        calls(w, lib)
        w.close()
        dirs.append(d)
    return dirs


def _listing(d):
    """The names in directory ``d``, event files' names cut to ``events``."""
    return sorted("events" if n.startswith("events.out.") else n for n in os.listdir(d))


def _values(events):
    """The summary values of ``events``, in order."""
    return [v for e in events if e.HasField("summary") for v in e.summary.value]


def _pixels(png):
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)))


def test_scalars_match_torch(tmp_path):
    def calls(w, T):
        w.add_scalar("loss", 0.25, 0)
        w.add_scalar("loss", 3, 1)
        w.add_scalar("loss", np.float32(0.1), 2)
        w.add_scalar("acc", T.tensor(0.75), 2)
        w.add_scalar("acc", T.tensor([0.5]), global_step=np.int64(3))
        w.add_scalar("acc/double", T.tensor(1 / 3, dtype=T.float64), 4, new_style=True)
        w.add_scalar("acc/double", 1 / 3, 5, new_style=True, double_precision=True)
        w.add_scalar("timed", 1.0, 6, walltime=1234.5)
        w.add_scalar("bf16", T.tensor(0.1, dtype=T.bfloat16), 7)

    a, b = _both(tmp_path, calls)
    theirs, ours = _events(a), _events(b)
    assert len(ours) == 10
    assert ours == theirs
    assert [v.simple_value for v in _values(ours)[:3]] == pytest.approx([0.25, 3.0, 0.1])
    assert _values(ours)[5].metadata.plugin_data.plugin_name == "scalars"
    assert _values(ours)[6].tensor.double_val == [1 / 3]
    assert _events(b, keep_walltime=True)[-2].wall_time == 1234.5
    assert _values(ours)[-1].simple_value == pytest.approx(0.1, abs=1e-3)


def test_scalars_write_one_subdirectory_per_tag(tmp_path):
    def calls(w, T):
        w.add_scalars("run/loss", {"train": 1.0, "val": T.tensor(2.0)}, 0, walltime=5.0)
        w.add_scalars("run/loss", {"train": 0.5, "val": np.array(1.5)}, 1, walltime=6.0)

    a, b = _both(tmp_path, calls)
    assert _listing(b) == _listing(a)
    subdirs = sorted(d for d in os.listdir(b) if os.path.isdir(os.path.join(b, d)))
    assert subdirs == ["run_loss_train", "run_loss_val"]
    for d in subdirs:
        ours = _events(os.path.join(b, d), keep_walltime=True)
        theirs = _events(os.path.join(a, d), keep_walltime=True)
        assert [e.step for e in ours] == [e.step for e in theirs] == [0, 0, 1]
        assert [e.wall_time for e in ours[1:]] == [5.0, 6.0]
        assert _values(ours) == _values(theirs)
        assert {v.tag for v in _values(ours)} == {"run/loss"}


@pytest.mark.parametrize(
    "dtype",
    [
        "float32",
        "float64",
        "float16",
        "bfloat16",
        "int8",
        "uint8",
        "int16",
        "int32",
        "int64",
        "bool",
        "complex64",
        "complex128",
    ],
)
def test_tensor_matches_torch_for_each_dtype(tmp_path, dtype):
    values = np.array([[0.5, -1.25, 3.0], [2.0, 0.0, 7.5]])
    if dtype.startswith("complex"):
        values = values + 1j * values[::-1]

    def calls(w, T):
        t = T.tensor(values).to(getattr(T, dtype))
        w.add_tensor("t", t, 3)

    a, b = _both(tmp_path, calls)
    ours, theirs = _events(b), _events(a)
    assert ours == theirs
    proto = _values(ours)[0].tensor
    assert [d.size for d in proto.tensor_shape.dim] == [2, 3]
    assert _values(ours)[0].metadata.plugin_data.plugin_name == "tensor"


def test_tensor_of_a_numpy_array_and_refusals(tmp_path):
    with TorchWriter(str(tmp_path / "torch")) as tw:
        tw.add_tensor("t", torch.arange(6).reshape(2, 3))
    with SummaryWriter(str(tmp_path / "np")) as w:
        w.add_tensor("t", np.arange(6).reshape(2, 3))
        with pytest.raises(ValueError, match="add_tensor: tensor 't' has unsupported dtype uint16"):
            w.add_tensor("t", np.zeros(3, np.uint16))
        with pytest.raises(TypeError, match="add_tensor: tensor: got list"):
            w.add_tensor("t", [1, 2])
    assert _events(tmp_path / "np") == _events(tmp_path / "torch")


@pytest.mark.parametrize("bins", ["tensorflow", "auto", "fd", "sturges", 7])
def test_histogram_matches_torch(tmp_path, bins, rng):
    values = rng.standard_normal((40, 25)).astype(np.float32)

    def calls(w, T):
        w.add_histogram("w", T.tensor(values), 0, bins=bins)
        w.add_histogram("w", values * 3 + 1, 1, bins=bins)
        w.add_histogram("few", T.tensor([1.0, 1.0, 2.0]), 2, bins=bins)

    a, b = _both(tmp_path, calls)
    ours, theirs = _events(b), _events(a)
    assert ours == theirs
    h = _values(ours)[0].histo
    assert (h.num, h.min, h.max) == (1000, values.min(), values.max())
    assert sum(h.bucket) == 1000 and len(h.bucket) == len(h.bucket_limit)
    assert h.sum == pytest.approx(values.astype(float).sum())


def test_histogram_max_bins_and_raw_match_torch(tmp_path, rng):
    values = rng.uniform(-2, 2, 500)

    def calls(w, T):
        w.add_histogram("m", values, 0, bins=64, max_bins=10)
        w.add_histogram("m", T.tensor(values), 1, bins="tensorflow", max_bins=30)
        w.add_histogram_raw("raw", -1.0, 2.0, 6, 3.5, 9.25, [0.0, 1.0, 2.0], [1, 3, 2], 5)

    a, b = _both(tmp_path, calls)
    ours = _events(b)
    assert ours == _events(a)
    # 64 buckets merged 6 by 6 (padded to 66) and the empty one on the left, as torch's
    assert len(_values(ours)[0].histo.bucket) == 12
    raw = _values(ours)[2].histo
    assert (list(raw.bucket_limit), list(raw.bucket)) == ([0.0, 1.0, 2.0], [1, 3, 2])


def test_image_formats_match_torch(tmp_path, rng):
    chw = rng.uniform(0, 1, (3, 5, 7)).astype(np.float32)
    hwc8 = rng.integers(0, 256, (6, 4, 3), dtype=np.uint8)
    rgba = rng.uniform(-0.2, 1.2, (4, 3, 5))
    gray = rng.uniform(0, 1, (1, 4, 4))
    hw = rng.uniform(0, 1, (5, 6))

    def calls(w, T):
        w.add_image("chw", T.tensor(chw), 0)
        w.add_image("hwc", hwc8, 1, dataformats="HWC")
        w.add_image("rgba", T.tensor(rgba), 2)
        w.add_image("gray", T.tensor(gray), 3)
        w.add_image("hw", hw, 4, dataformats="HW")

    a, b = _both(tmp_path, calls)
    ours, theirs = _values(_events(b)), _values(_events(a))
    assert [v.tag for v in ours] == ["chw", "hwc", "rgba", "gray", "hw"]
    for o, t in zip(ours, theirs):
        assert (o.image.width, o.image.height, o.image.colorspace) == (
            t.image.width,
            t.image.height,
            t.image.colorspace,
        )
        np.testing.assert_array_equal(
            _pixels(o.image.encoded_image_string), _pixels(t.image.encoded_image_string)
        )
    assert (ours[0].image.width, ours[0].image.height, ours[0].image.colorspace) == (7, 5, 3)
    np.testing.assert_array_equal(_pixels(ours[1].image.encoded_image_string), hwc8)
    assert ours[2].image.colorspace == 4
    assert _events(b) == _events(a)  # Pillow writes the same PNG bytes for both


def test_images_are_tiled_as_torch_tiles_them(tmp_path, rng):
    batch = rng.uniform(0, 1, (10, 3, 4, 5)).astype(np.float32)
    gray = rng.integers(0, 256, (3, 1, 6, 2), dtype=np.uint8)

    def calls(w, T):
        w.add_images("batch", T.tensor(batch), 0)
        w.add_images("gray", gray, 1)
        w.add_images("nhwc", T.tensor(batch.transpose(0, 2, 3, 1).copy()), 2, dataformats="NHWC")

    a, b = _both(tmp_path, calls)
    ours = _values(_events(b))
    assert _events(b) == _events(a)
    # 8 images a row: 2 rows of 8 columns, the second row's last six black
    assert (ours[0].image.width, ours[0].image.height) == (5 * 8, 4 * 2)
    px = _pixels(ours[0].image.encoded_image_string)
    np.testing.assert_array_equal(px[4:, 10:], 0)
    expected = (batch[9].transpose(1, 2, 0) * 255).clip(0, 255).astype(np.uint8)
    np.testing.assert_array_equal(px[4:8, 5:10], expected)
    np.testing.assert_array_equal(_pixels(ours[2].image.encoded_image_string), px)


def test_image_with_boxes_matches_torch(tmp_path, rng):
    img = rng.uniform(0, 0.5, (3, 32, 40)).astype(np.float32)
    boxes = np.array([[2, 3, 20, 25], [10, 5, 30, 30]], dtype=np.float32)

    def calls(w, T):
        w.add_image_with_boxes("b", T.tensor(img), T.tensor(boxes), 0, labels=["cat", "dog"])
        w.add_image_with_boxes("b", T.tensor(img), T.tensor(boxes), 1, labels="one")
        w.add_image_with_boxes("b", img.transpose(1, 2, 0), boxes, 2, rescale=2, dataformats="HWC")

    a, b = _both(tmp_path, calls)
    ours = _events(b)
    assert ours == _events(a)
    px = [_pixels(v.image.encoded_image_string) for v in _values(ours)]
    assert px[0].shape == (32, 40, 3) and px[2].shape == (64, 80, 3)
    np.testing.assert_array_equal(px[1][14, 2], [255, 0, 0])  # the first box's left edge
    assert not np.array_equal(px[0], px[1])  # labels drawn on the first only


def test_images_without_pillow_use_the_zlib_encoder(tmp_path, rng, monkeypatch):
    from pydlk.utils.tensorboard import _convert

    img = rng.uniform(0, 1, (3, 9, 11))
    rgba = rng.integers(0, 256, (5, 4, 4), dtype=np.uint8)
    a, _ = _both(
        tmp_path, lambda w, T: (w.add_image("i", img), w.add_image("a", rgba, 1, dataformats="HWC"))
    )
    monkeypatch.setattr(_convert, "_pil_image", lambda: None)
    with SummaryWriter(str(tmp_path / "zlib")) as w:
        w.add_image("i", img)
        w.add_image("a", rgba, 1, dataformats="HWC")
    with pytest.raises(ImportError, match="rescale != 1 needs Pillow"):
        _convert.encode_png(np.zeros((2, 2, 3), np.uint8), rescale=2)
    ours, theirs = _values(_events(tmp_path / "zlib")), _values(_events(a))
    assert ours[0].image.encoded_image_string != theirs[0].image.encoded_image_string
    for o, t in zip(ours, theirs):
        assert o.image.encoded_image_string.startswith(b"\x89PNG\r\n\x1a\n")
        assert (o.image.width, o.image.height, o.image.colorspace) == (
            t.image.width,
            t.image.height,
            t.image.colorspace,
        )
        np.testing.assert_array_equal(
            _pixels(o.image.encoded_image_string), _pixels(t.image.encoded_image_string)
        )


def test_figure_matches_torch(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def figure(k):
        fig = plt.figure(figsize=(2, 1.5), dpi=40)
        plt.plot([0, 1, 2], [k, 2 * k, 0])
        return fig

    def calls(w, T):
        w.add_figure("fig", figure(1), 0)
        w.add_figure("figs", [figure(1), figure(2)], 1)
        kept = figure(3)
        w.add_figure("kept", kept, 2, close=False)
        assert plt.fignum_exists(kept.number)
        plt.close(kept)

    a, b = _both(tmp_path, calls)
    ours, theirs = _values(_events(b)), _values(_events(a))
    assert [(v.image.width, v.image.height) for v in ours] == [(80, 60), (160, 60), (80, 60)]
    for o, t in zip(ours, theirs):
        np.testing.assert_array_equal(
            _pixels(o.image.encoded_image_string), _pixels(t.image.encoded_image_string)
        )
    assert plt.get_fignums() == []


def test_text_audio_mesh_and_custom_scalars_match_torch(tmp_path, rng):
    sound = np.sin(np.linspace(0, 40, 300)).astype(np.float32) * 0.8
    vertices = rng.uniform(-1, 1, (1, 5, 3)).astype(np.float32)
    colors = rng.integers(0, 256, (1, 5, 3), dtype=np.uint8)
    faces = np.array([[[0, 1, 2], [2, 3, 4]]])
    layout = {
        "Losses": {
            "both": ["Multiline", ["loss/train", "loss/val"]],
            "band": ["Margin", ["acc", "acc_lo", "acc_hi"]],
        }
    }

    def calls(w, T):
        w.add_text("note", "**lr** = 0.1", 0)
        w.add_audio("snd", T.tensor(sound[None]), 1, sample_rate=8000)
        w.add_mesh(
            "m",
            T.tensor(vertices),
            colors=T.tensor(colors),
            faces=T.tensor(faces),
            config_dict={"camera": {"fov": 75}},
            global_step=2,
        )
        w.add_mesh("points", vertices, global_step=3)
        w.add_custom_scalars(layout)
        w.add_custom_scalars_multilinechart(["a", "b"], category="c", title="t")
        w.add_custom_scalars_marginchart(["v", "lo", "hi"])

    a, b = _both(tmp_path, calls)
    ours = _events(b)
    assert ours == _events(a)
    vals = _values(ours)
    assert vals[0].tag == "note/text_summary" and vals[0].tensor.string_val == [b"**lr** = 0.1"]
    with wave.open(io.BytesIO(vals[1].audio.encoded_audio_string)) as wav:
        frames = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
    np.testing.assert_array_equal(frames, (sound * 32767).astype("<i2"))
    assert [v.tag for v in vals[2:5]] == ["m_VERTEX", "m_FACE", "m_COLOR"]
    assert vals[-1].tag == "custom_scalars__config__"


def test_audio_out_of_range_is_clipped_with_a_warning(tmp_path):
    loud = np.array([0.5, -2.0, 3.0, 0.0])
    a, _ = _both(tmp_path, lambda w, T: None)
    tw = TorchWriter(str(tmp_path / "t2"))
    tw.add_audio("a", torch.tensor(loud))
    tw.close()
    with SummaryWriter(str(tmp_path / "p2")) as w:
        with pytest.warns(UserWarning, match="add_audio: audio amplitude out of range"):
            w.add_audio("a", pydlk.tensor(loud))
        with pytest.raises(ValueError, match="add_audio: snd_tensor should be 1-dimensional"):
            w.add_audio("a", np.zeros((2, 3)))
    ours = _values(_events(tmp_path / "p2"))
    assert ours == _values(_events(tmp_path / "t2"))
    with wave.open(io.BytesIO(ours[0].audio.encoded_audio_string)) as wav:
        frames = np.frombuffer(wav.readframes(4), "<i2")
    np.testing.assert_array_equal(frames, [16383, -32767, 32767, 0])


def test_pr_curves_match_torch(tmp_path, rng):
    labels = rng.integers(0, 2, 100)
    predictions = rng.uniform(0, 1, 100).astype(np.float32)
    weights = rng.uniform(0.5, 1.5, 100)
    counts = [[10.0, 6, 2], [8.0, 3, 0], [0.0, 5, 8], [0.0, 4, 8], [0.55, 0.66, 1.0], [1, 0.6, 0.2]]

    def calls(w, T):
        w.add_pr_curve("pr", T.tensor(labels), T.tensor(predictions), 0)
        w.add_pr_curve("pr", labels, predictions, 1, num_thresholds=300, weights=weights)
        w.add_pr_curve("few", labels, predictions, 2, num_thresholds=11)
        w.add_pr_curve_raw(
            "raw", *[T.tensor(np.array(c)) for c in counts], global_step=3, num_thresholds=3
        )

    a, b = _both(tmp_path, calls)
    ours = _events(b)
    assert ours == _events(a)
    vals = _values(ours)
    assert [d.size for d in vals[0].tensor.tensor_shape.dim] == [6, 127]  # capped at 127
    assert [d.size for d in vals[2].tensor.tensor_shape.dim] == [6, 11]
    tp = np.array(vals[2].tensor.float_val).reshape(6, 11)[0]
    assert tp[0] == labels.sum()


def test_hparams_match_torch(tmp_path):
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    hp = {"lr": 0.1, "bs": 32, "opt": "adam", "nesterov": True, "skip": None}
    metrics = {"hparam/accuracy": 0.9, "hparam/loss": 0.25}
    discrete = {"bs": [16, 32, 64], "opt": ["adam", "sgd"]}

    def calls(w, T):
        w.add_hparams(dict(hp, wd=T.tensor([1e-4])), metrics, discrete, run_name="r1")
        w.add_hparams({"lr": 0.2}, {"hparam/accuracy": 0.8}, run_name="r2", global_step=7)

    a, b = _both(tmp_path, calls)
    assert _listing(b) == _listing(a) == ["events", "r1", "r2"]
    for run in ("r1", "r2"):
        ours = _values(_events(os.path.join(b, run)))
        theirs = _values(_events(os.path.join(a, run)))
        assert [v.tag for v in ours] == [v.tag for v in theirs]
        for o, t in zip(ours, theirs):
            assert o.metadata.plugin_data.plugin_name == t.metadata.plugin_data.plugin_name
            mine = HParamsPluginData.FromString(o.metadata.plugin_data.content)
            want = HParamsPluginData.FromString(t.metadata.plugin_data.content)
            assert mine == want
            assert o.simple_value == t.simple_value
    first = HParamsPluginData.FromString(
        _values(_events(os.path.join(b, "r1")))[1].metadata.plugin_data.content
    )
    assert dict(first.session_start_info.hparams)["opt"].string_value == "adam"
    assert dict(first.session_start_info.hparams)["wd"].number_value == pytest.approx(1e-4)
    assert "skip" not in first.session_start_info.hparams
    assert [e.step for e in _events(os.path.join(b, "r2"))][1:] == [7, 7, 7, 7]


def test_embedding_files_match_torch_byte_for_byte(tmp_path, rng):
    mat = rng.standard_normal((6, 4)).astype(np.float32)
    imgs = rng.uniform(0, 1, (6, 3, 5, 5)).astype(np.float32)
    rows = [[f"p{i}", i % 2] for i in range(6)]

    def calls(w, T):
        w.add_embedding(T.tensor(mat), metadata=list(range(6)), label_img=T.tensor(imgs))
        w.add_embedding(
            mat * 2, metadata=rows, metadata_header=["name", "odd"], global_step=3, tag="feat/x"
        )
        w.add_embedding(T.tensor(mat[:2]), global_step=4, tag="plain")

    a, b = _both(tmp_path, calls)
    files = sorted(
        os.path.relpath(p, b)
        for p in glob.glob(os.path.join(b, "**"), recursive=True)
        if os.path.isfile(p) and "tfevents" not in p
    )
    assert files == [
        "00000/default/metadata.tsv",
        "00000/default/sprite.png",
        "00000/default/tensors.tsv",
        "00003/feat%2fx/metadata.tsv",
        "00003/feat%2fx/tensors.tsv",
        "00004/plain/tensors.tsv",
        "projector_config.pbtxt",
    ]
    for f in files:
        with open(os.path.join(a, f), "rb") as x, open(os.path.join(b, f), "rb") as y:
            assert y.read() == x.read(), f
    with open(os.path.join(b, "00003/feat%2fx/metadata.tsv")) as f:
        assert f.read().splitlines()[:2] == ["name\todd", "p0\t0"]
    with open(os.path.join(b, "00000/default/sprite.png"), "rb") as f:
        sprite = _pixels(f.read())
    assert sprite.shape == (15, 15, 3)  # 3 images a row, squared


def test_embedding_refuses_mismatched_arguments(tmp_path):
    with SummaryWriter(str(tmp_path)) as w:
        with pytest.raises(AssertionError, match="add_embedding: metadata has 2 labels for 3"):
            w.add_embedding(np.zeros((3, 2)), metadata=[1, 2])
        with pytest.raises(ValueError, match="add_embedding: label_img has 1 images for 3"):
            w.add_embedding(np.zeros((3, 2)), label_img=np.zeros((1, 3, 2, 2)))
        with pytest.raises(ValueError, match="add_embedding: mat should be 2-D"):
            w.add_embedding(np.zeros(3))
        with pytest.raises(ValueError, match="metadata_header has 1 columns"):
            w.add_embedding(np.zeros((1, 2)), metadata=[["a", "b"]], metadata_header=["h"])
        assert not os.path.exists(tmp_path / "00000" / "default" / "tensors.tsv")
        w.add_embedding(np.zeros((1, 2)))
        with pytest.warns(UserWarning, match="add_embedding: .* exists"):
            w.add_embedding(np.ones((1, 2)))


def test_purge_step_matches_torch(tmp_path):
    def calls(w, T):
        w.add_scalar("x", 1.0, 10)

    a, b = _both(tmp_path, calls, purge_step=5)
    ours = _events(b)
    assert ours == _events(a)
    assert [(e.step, e.session_log.status) for e in ours[1:3]] == [(5, 0), (5, 1)]


def test_graph_is_the_module_tree(tmp_path):
    class TNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(4, 3)
            self.blk = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU())
            self.bn = torch.nn.BatchNorm1d(2)
            self.skip = torch.nn.Linear(4, 2)

        def forward(self, x):
            return self.skip(x) + self.bn(self.blk(torch.relu(self.fc1(x))))

    class PNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(4, 3)
            self.blk = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
            self.bn = nn.BatchNorm1d(2)
            self.skip = nn.Linear(4, 2)

        def forward(self, x):
            return self.skip(x) + self.bn(self.blk(pydlk.relu(self.fc1(x))))

    x = np.ones((5, 4), np.float32)
    a, b = str(tmp_path / "torch"), str(tmp_path / "pydlk")
    with TorchWriter(a) as w, pytest.warns(DeprecationWarning, match="jit.trace"):
        w.add_graph(TNet(), torch.tensor(x))
    pnet = PNet()
    with SummaryWriter(b) as w:
        w.add_graph(pnet, pydlk.tensor(x))
    assert pnet.training  # the eval mode of the run is undone
    ours, theirs = _events(b), _events(a)
    assert [e.tagged_run_metadata.tag for e in ours[2:]] == ["step1"]
    assert ours[2] == theirs[2]  # the run metadata: one CPU device
    from tensorboard.compat.proto.graph_pb2 import GraphDef

    g, tg = GraphDef.FromString(ours[1].graph_def), GraphDef.FromString(theirs[1].graph_def)
    by_name = {n.name: n for n in g.node}

    def shapes(n):
        return [[d.size for d in s.dim] for s in n.attr["_output_shapes"].list.shape]

    io_ours = sorted((n.name.split("/")[0], shapes(n)) for n in g.node if n.op == "IO Node")
    io_theirs = sorted((n.name.split("/")[0], shapes(n)) for n in tg.node if n.op == "IO Node")
    assert io_ours == io_theirs == [("input", [[5, 4]]), ("output", [[5, 2]])]
    # every scope of torch's traced ops is a scope of ours
    scopes = {n.name.rsplit("/", 1)[0] for n in tg.node if n.op.startswith("aten::")}
    assert scopes - {"TNet"} <= {n.name.rsplit("/", 1)[0].replace("PNet", "TNet") for n in g.node}
    assert by_name["PNet/Linear[fc1]/output"].op == "Linear"
    assert list(by_name["PNet/Linear[fc1]/output"].input) == [
        "input/input.1",
        "PNet/Linear[fc1]/weight",
        "PNet/Linear[fc1]/bias",
    ]
    assert shapes(by_name["PNet/Linear[fc1]/weight"]) == [[3, 4]]
    assert shapes(by_name["PNet/BatchNorm1d[bn]/running_mean"]) == [[2]]
    # F.relu between fc1 and blk is no node: blk's first layer reads fc1's output
    assert (
        list(by_name["PNet/Sequential[blk]/Linear[0]/output"].input)[0] == "PNet/Linear[fc1]/output"
    )
    # skip reads the model's input though fc1's branch ran last; the sum is drawn from bn
    assert list(by_name["PNet/Linear[skip]/output"].input)[0] == "input/input.1"
    assert list(by_name["output/output.1"].input) == ["PNet/BatchNorm1d[bn]/output"]


def test_graph_runs_the_model_and_refuses_non_modules(tmp_path):
    class Broken(nn.Module):
        def forward(self, x):
            raise RuntimeError("broken forward")

    with SummaryWriter(str(tmp_path)) as w:
        with pytest.raises(RuntimeError, match="broken forward"):
            w.add_graph(Broken(), pydlk.ones(2))
        with pytest.raises(TypeError, match="add_graph: model should be a pydlk.nn.Module"):
            w.add_graph(lambda x: x, pydlk.ones(2))
        model = nn.Linear(2, 2)
        w.add_graph(model, (pydlk.ones(1, 2),))
        assert not model._forward_hooks and not model._forward_pre_hooks
    assert len([e for e in _events(tmp_path) if e.graph_def]) == 1


def test_video_needs_moviepy(tmp_path):
    vid = np.random.default_rng(0).uniform(0, 1, (3, 4, 3, 8, 6))
    with SummaryWriter(str(tmp_path)) as w:
        try:
            import moviepy  # noqa: F401
        except ImportError:
            with pytest.raises(ImportError, match="add_video needs moviepy"):
                w.add_video("v", vid)
            return
        w.add_video("v", pydlk.tensor(vid), 1, fps=2)
    img = _values(_events(tmp_path))[0].image
    assert img.encoded_image_string[:6] in (b"GIF89a", b"GIF87a")
    # 3 videos padded to 4 and tiled in torch's one row of 4; 4 frames
    assert (img.height, img.width, img.colorspace) == (8, 24, 3)
    from PIL import Image

    assert Image.open(io.BytesIO(img.encoded_image_string)).n_frames == 4


def test_close_flushes_and_a_write_after_close_opens_a_new_file(tmp_path):
    counts = []
    for cls, d in ((TorchWriter, tmp_path / "t"), (SummaryWriter, tmp_path / "p")):
        w = cls(str(d), max_queue=1000, flush_secs=1000)
        w.add_scalar("x", 1.0, 0)
        w.flush()
        n_flushed = len(_events(d))
        w.close()
        w.close()  # a second close does nothing
        w.add_scalar("x", 2.0, 1)
        w.close()
        counts.append((n_flushed, len(glob.glob(str(d / "events.*"))), len(_events(d))))
    assert counts[1] == counts[0] == (2, 2, 4)
    with SummaryWriter(str(tmp_path / "ctx")) as w:
        w.add_text("t", "x")
    assert w.all_writers is None
    assert [v.tag for v in _values(_events(tmp_path / "ctx"))] == ["t/text_summary"]


def test_default_log_dir_and_files_only_in_it(tmp_path, monkeypatch):
    import re
    import socket

    monkeypatch.chdir(tmp_path)
    w = SummaryWriter(comment="_lr0.1")
    w.add_scalar("x", 1.0)
    w.add_scalars("m", {"a": 1.0})
    w.add_hparams({"lr": 0.1}, {"acc": 1.0}, run_name="hp")
    w.add_embedding(np.zeros((2, 2)))
    w.close()
    logdir = w.get_logdir()
    pattern = r"runs/[A-Z][a-z]{2}\d{2}_\d{2}-\d{2}-\d{2}_" + re.escape(socket.gethostname())
    assert re.fullmatch(pattern + r"_lr0\.1", logdir.replace(os.sep, "/"))
    assert os.listdir(tmp_path) == ["runs"] and os.listdir(tmp_path / "runs") == [
        os.path.basename(logdir)
    ]
    assert _listing(logdir) == ["00000", "events", "hp", "m_a", "projector_config.pbtxt"]


def test_bad_arguments_name_the_method_and_argument(tmp_path):
    with SummaryWriter(str(tmp_path)) as w:
        with pytest.raises(AssertionError, match="add_scalar: scalar_value should contain one"):
            w.add_scalar("x", pydlk.tensor([1.0, 2.0]))
        with pytest.raises(ValueError, match="add_scalar: scalar_value should contain one"):
            w.add_scalar("x", np.zeros(3))
        with pytest.raises(NotImplementedError, match="add_scalar: scalar_value: got list"):
            w.add_scalar("x", [1.0])
        with pytest.raises(TypeError, match="add_histogram: values: got object"):
            w.add_histogram("h", object())
        with pytest.raises(ValueError, match="add_histogram: values has no element"):
            w.add_histogram("h", np.zeros(0))
        with pytest.raises(ValueError, match="add_histogram_raw: bucket_limits and bucket_counts"):
            w.add_histogram_raw("h", 0, 1, 2, 1, 1, [1.0, 2.0], [1])
        with pytest.raises(AssertionError, match="add_image: dataformats 'CHW' has 3 dim"):
            w.add_image("i", np.zeros((4, 4)))
        with pytest.raises(ValueError, match="add_image: dataformats may use each letter once"):
            w.add_image("i", np.zeros((3, 4, 4)), dataformats="CCW")
        with pytest.raises(ValueError, match="add_images: expected a batch .* 1 or 3 channels"):
            w.add_images("i", np.zeros((2, 2, 4, 4)))
        with pytest.raises(TypeError, match="add_hparams: hparam_dict and metric_dict"):
            w.add_hparams([("lr", 0.1)], {})
        with pytest.raises(ValueError, match=r"add_hparams: hparam_dict\['f'\] should be one of"):
            w.add_hparams({"f": [1]}, {})
        with pytest.raises(TypeError, match=r"hparam_domain_discrete\[lr\] should be a list"):
            w.add_hparams({"lr": 0.1}, {}, {"lr": [1, 2]})
        with pytest.raises(
            AssertionError, match="add_custom_scalars_marginchart: tags should be 3"
        ):
            w.add_custom_scalars_marginchart(["a"])
        with pytest.raises(TypeError, match="add_text: text_string should be a str"):
            w.add_text("t", 3)
    assert [v for v in _values(_events(tmp_path))] == []


def test_tensors_that_require_grad_and_numbers_are_accepted(tmp_path, rng):
    v = rng.standard_normal(20).astype(np.float32)

    def calls(w, T):
        p = T.tensor(v, requires_grad=True)
        w.add_histogram("p", p * 2, 0)
        w.add_scalar("s", (p * p).sum(), 0)
        w.add_scalar("n", True, 1)

    a, b = _both(tmp_path, calls)
    ours = _events(b)
    assert ours == _events(a)
    assert _values(ours)[2].simple_value == 1.0


def test_gpu_tensors_are_copied_to_the_host(tmp_path, rng):
    from _gpu_helpers import cupy_or_skip

    cupy_or_skip()
    img = rng.uniform(0, 1, (3, 4, 5)).astype(np.float32)
    vals = rng.standard_normal(50).astype(np.float32)
    dirs = []
    for name, device in (("cpu", "cpu"), ("gpu", "cuda")):
        with SummaryWriter(str(tmp_path / name)) as w:
            w.add_scalar("s", pydlk.tensor(1.5, device=device), 0)
            w.add_histogram("h", pydlk.tensor(vals, device=device, requires_grad=True), 0)
            w.add_image("i", pydlk.tensor(img, device=device), 0)
            w.add_tensor("t", pydlk.tensor(vals, device=device), 0)
            w.add_embedding(pydlk.tensor(img[0], device=device), metadata=list("abcd"))
        dirs.append(tmp_path / name)
    assert _events(dirs[1]) == _events(dirs[0])
    assert len(_values(_events(dirs[1]))) == 4
    for f in ("00000/default/tensors.tsv", "00000/default/metadata.tsv"):
        assert (dirs[1] / f).read_bytes() == (dirs[0] / f).read_bytes()


def test_import_needs_tensorboard_and_import_pydlk_does_not_import_it(monkeypatch, tmp_path):
    import pydlk.utils

    assert pydlk.utils.tensorboard.SummaryWriter is SummaryWriter
    code = (
        "import sys, pydlk, pydlk.utils; print('tensorboard' in sys.modules, "
        "'pydlk.utils.tensorboard' in sys.modules)"
    )
    # the pydlk this test imported (installed, or a build in the checkout): run from elsewhere,
    # so a checkout's sources without their compiled kernels cannot shadow it
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(pydlk.__file__)))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env,
        check=True,
    ).stdout  # fmt: skip
    assert out.split() == ["False", "False"]
    for name in [m for m in sys.modules if m == "tensorboard" or m.startswith("tensorboard.")]:
        monkeypatch.delitem(sys.modules, name)
    for name in [m for m in sys.modules if m.startswith("pydlk.utils.tensorboard")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(ImportError, match=r"pip install 'pydlk\[tensorboard\]'"):
        import pydlk.utils.tensorboard  # noqa: F401
    monkeypatch.delattr(pydlk.utils, "tensorboard")
    assert not hasattr(pydlk.utils, "tensorboard")
    with pytest.raises(AttributeError, match=r"pip install 'pydlk\[tensorboard\]'"):
        pydlk.utils.tensorboard
