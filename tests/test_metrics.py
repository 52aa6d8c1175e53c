"""pydlk.metrics against hand-written NumPy references, and their use in fit/evaluate."""

import itertools

import numpy as np
import pytest

import pydlk
from pydlk import metrics as M
from pydlk import models, nn, optim
from pydlk.data import DataLoader, TensorDataset
from pydlk.datasets import digits
from pydlk.train import evaluate, fit


def _ref_prf(y, p, C):
    """Per-class precision/recall/F1 and support by explicit counting (zero_division=0)."""
    P, R, F, S = [], [], [], []
    for c in range(C):
        tp = sum(1 for a, b in zip(y, p) if a == c and b == c)
        npred = sum(1 for b in p if b == c)
        ntrue = sum(1 for a in y if a == c)
        pr = tp / npred if npred else 0.0
        rc = tp / ntrue if ntrue else 0.0
        P.append(pr), R.append(rc), F.append(2 * pr * rc / (pr + rc) if pr + rc else 0.0)
        S.append(ntrue)
    return np.array(P), np.array(R), np.array(F), np.array(S)


@pytest.fixture
def scores():
    rng = np.random.default_rng(0)
    out = rng.normal(size=(97, 5)).astype(np.float32)
    y = rng.integers(0, 5, 97)
    y[:3] = 4  # every class present, one with no predictions is possible
    return out, y


def _streamed(metric, out, y, chunks=(0, 10, 40, 97)):
    for a, b in itertools.pairwise(chunks):
        metric.update(out[a:b], y[a:b])
    return metric.compute()


@pytest.mark.parametrize("average", ["macro", "micro", "weighted"])
def test_precision_recall_f1_match_counting(scores, average):
    out, y = scores
    p = out.argmax(1)
    P, R, F, S = _ref_prf(list(y), list(p), 5)
    red = {
        "macro": lambda v: v.mean(),
        "weighted": lambda v: (v * S).sum() / S.sum(),
        "micro": lambda v: (p == y).mean(),
    }[average]
    for cls, ref in ((M.Precision, P), (M.Recall, R), (M.F1Score, F)):
        got = _streamed(cls(5, average=average), out, y)
        assert got == pytest.approx(red(ref)), (cls.__name__, average)


def test_accuracy_topk_confusion_and_errors(scores):
    out, y = scores
    assert _streamed(M.Accuracy(), out, y) == pytest.approx((out.argmax(1) == y).mean())
    top3 = np.argsort(-out, 1)[:, :3]
    ref = np.mean([y[i] in top3[i] for i in range(len(y))])
    assert _streamed(M.TopKAccuracy(3), out, y) == pytest.approx(ref)
    assert M.TopKAccuracy(5).name == "top5_accuracy" and M.Accuracy().name == "accuracy"
    cm = _streamed(M.ConfusionMatrix(5), out, y)
    ref = np.zeros((5, 5), int)
    for a, b in zip(y, out.argmax(1)):
        ref[a, b] += 1
    np.testing.assert_array_equal(cm, ref)
    t = out[:, 0] * 2
    assert _streamed(M.MeanAbsoluteError(), out[:, :1], t) == pytest.approx(
        np.mean(np.abs(out[:, 0] - t))
    )
    assert _streamed(M.MeanSquaredError(), out[:, 0], t) == pytest.approx(
        np.mean((out[:, 0] - t) ** 2), rel=1e-6
    )
    with pytest.raises(ValueError, match="average"):
        M.F1Score(5, average="samples")


def test_binary_logits_threshold_at_zero():
    out = np.array([[2.0], [-1.0], [0.5], [-0.1]], np.float32)
    y = np.array([1, 0, 0, 0])
    assert _streamed(M.Accuracy(), out, y, (0, 2, 4)) == pytest.approx(0.75)


def test_states_merge_by_summing(scores):
    out, y = scores
    whole = M.F1Score(5)
    whole.update(out, y)
    a, b = M.F1Score(5), M.F1Score(5)
    a.update(out[:50], y[:50])
    b.update(out[50:], y[50:])
    merged = M.merge(M.F1Score(5), [a.state, b.state])
    assert merged.compute() == pytest.approx(whole.compute())
    a.reset()
    assert a.state["_s_cm"].sum() == 0


def _digits():
    x, y = digits("train")
    xv, yv = digits("val")
    return (
        DataLoader(TensorDataset(x, y), batch_size=256, shuffle=True),
        DataLoader(TensorDataset(xv, yv), batch_size=512),
        xv,
        yv,
    )


def test_fit_and_evaluate_log_metrics():
    pydlk.manual_seed(0)
    train, val, xv, yv = _digits()
    model = models.MLP(64, (32,), 10)
    opt = optim.Adam(model.parameters(), lr=3e-3)
    ms = [M.TopKAccuracy(5), M.F1Score(10), M.ConfusionMatrix(10)]
    h = fit(model, nn.CrossEntropyLoss(), opt, train, val, epochs=2, verbose=False, metrics=ms)
    assert {"top5_accuracy", "f1", "val_top5_accuracy", "val_f1"} <= set(h.history)
    assert "confusion_matrix" not in h.history  # an array: read from the object
    assert ms[2].compute().sum() == len(yv)  # left holding the last validation pass
    res = evaluate(model, nn.CrossEntropyLoss(), val, metrics=[M.F1Score(10)])
    pred = pydlk.train.predict(model, xv).argmax(1)
    _, _, F, _ = _ref_prf(list(yv), list(pred), 10)
    assert res["f1"] == pytest.approx(F.mean(), abs=1e-6)
    assert res["f1"] == pytest.approx(h["val_f1"][-1], abs=1e-6)


def test_binary_outputs_log_an_accuracy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(128, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32).reshape(-1, 1)
    pydlk.manual_seed(0)
    model = nn.Linear(4, 1)
    res = evaluate(model, nn.BCEWithLogitsLoss(), DataLoader(TensorDataset(x, y), batch_size=32))
    out = np.asarray(np.asarray(model(pydlk.Tensor(x))))
    assert res["accuracy"] == pytest.approx(((out > 0) == (y > 0.5)).mean())


def test_fit_takes_a_torch_dataloader():
    torch = pytest.importorskip("torch")
    x, y = digits("train")
    ds = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    loader = torch.utils.data.DataLoader(ds, batch_size=256, shuffle=False)
    pydlk.manual_seed(0)
    model = models.MLP(64, (32,), 10)
    h = fit(
        model,
        nn.CrossEntropyLoss(),
        optim.SGD(model.parameters(), lr=0.1),
        loader,
        epochs=2,
        verbose=False,
    )
    assert h["loss"][1] < h["loss"][0]
    ref = evaluate(model, nn.CrossEntropyLoss(), DataLoader(TensorDataset(x, y), batch_size=256))
    got = evaluate(model, nn.CrossEntropyLoss(), loader)
    assert got["accuracy"] == pytest.approx(ref["accuracy"])
    assert got["loss"] == pytest.approx(ref["loss"], rel=1e-5)
