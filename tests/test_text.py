"""word2vec SGNS, GloVe, perplexity, BLEU and beam search against hand-worked cases and NumPy."""

import itertools
import math

import numpy as np
import pytest
from conftest import t64

import pydlk
from pydlk import text


def _sig(x):
    return 1 / (1 + np.exp(-x))


def test_negative_sampling_distribution(rng):
    p = text.negative_sampling_distribution([16, 1, 0, 81])
    ref = np.array([8, 1, 0, 27]) / 36.0  # 16**.75 = 8, 81**.75 = 27
    np.testing.assert_allclose(p, ref, rtol=1e-12)
    draws = text.sample_negatives(p, 200000, rng)
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / 200000, ref, atol=5e-3)
    with pytest.raises(ValueError, match="negative_sampling_distribution"):
        text.negative_sampling_distribution([0, 0])


def test_skipgram_pairs():
    c, o = text.skipgram_pairs([5, 6, 7], window=1)
    assert sorted(zip(c.tolist(), o.tolist())) == [(5, 6), (6, 5), (6, 7), (7, 6)]
    c, o = text.skipgram_pairs([1, 2, 3, 4], window=2)
    assert len(c) == 2 * (3 + 2)


def test_sgns_loss_formula_and_gradient(rng):
    m = text.SkipGramNegativeSampling(7, 3, dtype=np.float64)
    m.in_embed.data[...] = rng.standard_normal((7, 3))
    m.out_embed.data[...] = rng.standard_normal((7, 3))
    c, o, neg = np.array([0, 3, 3]), np.array([1, 2, 6]), rng.integers(0, 7, (3, 4))
    V, U = m.in_embed.detach().numpy(), m.out_embed.detach().numpy()
    ref = np.mean(
        [
            -np.log(_sig(U[o[b]] @ V[c[b]])) - np.log(_sig(-(U[neg[b]] @ V[c[b]]))).sum()
            for b in range(3)
        ]
    )
    np.testing.assert_allclose(float(m(c, o, neg)), ref, rtol=1e-12)

    # differentiate through the module's parameters via finite differences on their values
    loss = m(c, o, neg)
    loss.backward()
    gv, gu = np.array(m.in_embed.grad), np.array(m.out_embed.grad)
    eps = 1e-6
    for P, G in ((m.in_embed, gv), (m.out_embed, gu)):
        num = np.zeros_like(G)
        for idx in np.ndindex(G.shape):
            old = np.asarray(P)[idx]
            P.data[idx] = old + eps
            lp = float(m(c, o, neg))
            P.data[idx] = old - eps
            lm = float(m(c, o, neg))
            P.data[idx] = old
            num[idx] = (lp - lm) / (2 * eps)
        np.testing.assert_allclose(G, num, atol=1e-8)


def test_glove_loss_and_gradient(rng):
    tokens = [0, 1, 2, 0, 1]
    X = text.cooccurrence_matrix(tokens, 3, window=2)
    # pairs at distance 1: (0,1) x2, (1,2), (2,0); distance 2 (weight 1/2): (0,2), (1,0), (2,1)
    assert X[0, 1] == 2 + 0.5 and X[1, 0] == X[0, 1] and X[0, 2] == 1 + 0.5 and X[1, 2] == 1.5
    np.testing.assert_allclose(text.glove_weight([50, 100, 300], 100, 0.75), [0.5**0.75, 1, 1])
    wi, wj = t64(rng.standard_normal((5, 3))), t64(rng.standard_normal((5, 3)))
    bi, bj = t64(rng.standard_normal(5)), t64(rng.standard_normal(5))
    x = rng.uniform(1, 200, 5)
    f = np.minimum((x / 100) ** 0.75, 1)
    ref = (
        f
        * ((np.asarray(wi) * np.asarray(wj)).sum(1) + np.asarray(bi) + np.asarray(bj) - np.log(x))
        ** 2
    ).sum()
    np.testing.assert_allclose(float(text.glove_loss(wi, wj, bi, bj, x)), ref, rtol=1e-12)
    assert pydlk.gradcheck(lambda a, b, c, d: text.glove_loss(a, b, c, d, x), (wi, wj, bi, bj))
    with pytest.raises(ValueError, match="glove_loss: x_ij"):
        text.glove_loss(wi, wj, bi, bj, np.zeros(5))
    m = text.GloVe(3, 2, dtype=np.float64)
    i, j = np.nonzero(X)
    assert float(m(i, j, X[i, j])) > 0 and m.embeddings().shape == (3, 2)


def test_perplexity(rng):
    logits = rng.standard_normal((2, 5, 7))
    t = rng.integers(0, 7, (2, 5))
    t[0, 0] = -100
    lp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.take_along_axis(lp, np.maximum(t, 0)[..., None], -1)[..., 0]
    ref = math.exp(nll[t != -100].mean())
    assert text.perplexity(logits, t) == pytest.approx(ref, rel=1e-12)
    assert text.perplexity(nll[t != -100]) == pytest.approx(ref, rel=1e-12)
    # a uniform model over V words has perplexity V
    assert text.perplexity(np.zeros((4, 9)), np.arange(4)) == pytest.approx(9)
    torch = pytest.importorskip("torch")
    ce = torch.nn.functional.cross_entropy(
        torch.tensor(logits).reshape(-1, 7), torch.tensor(t).reshape(-1)
    ).item()
    assert text.perplexity(ce) == pytest.approx(ref, rel=1e-12)


H1 = (
    "It is a guide to action which ensures that the military always obeys the commands of the party"
)
R1 = "It is a guide to action that ensures that the military will forever heed Party commands"
R2 = (
    "It is the guiding principle which guarantees the military forces always being under the "
    "command of the Party"
)
R3 = "It is the practical guide for the army always to heed the directions of the party"
H2 = "he read the book because he was interested in world history"
R2A = "he was interested in world history because he read the book"


def test_bleu_documented_values():
    # the worked examples of NLTK's bleu_score documentation
    assert text.sentence_bleu(H1, [R1, R2, R3]) == pytest.approx(0.5045666840058485, rel=1e-12)
    assert text.corpus_bleu([H1, H2], [[R1, R2, R3], [R2A]]) == pytest.approx(
        0.5920778868801042, rel=1e-12
    )


def test_bleu_hand_worked():
    # Papineni et al.: "the the the the the the the" vs two references: unigram precision 2/7
    cand = "the the the the the the the"
    refs = ["the cat is on the mat", "there is a cat on the mat"]
    assert text.sentence_bleu(cand, refs, max_n=1) == pytest.approx(2 / 7)
    # cand "the cat sat" vs "the cat sat on": p1 = 1, p2 = 1, c=3 < r=4: bp = e^(1 - 4/3)
    assert text.sentence_bleu("the cat sat", ["the cat sat on"], max_n=2) == pytest.approx(
        math.exp(1 - 4 / 3)
    )
    # 4-gram precision 0 without smoothing gives 0
    c, r = "a b c d x", "a b c y d"
    assert text.sentence_bleu(c, [r]) == 0.0
    # p1 = 4/5, p2 = 2/4, p3 = 1/3 (a b c), p4 = 0/2
    p = [4 / 5, 2 / 4, 1 / 3]
    floor = math.exp((sum(map(math.log, p)) + math.log(0.1 / 2)) / 4)
    assert text.sentence_bleu(c, [r], smoothing="floor") == pytest.approx(floor)
    expo = math.exp((sum(map(math.log, p)) + math.log(1 / (2 * 2))) / 4)
    assert text.sentence_bleu(c, [r], smoothing="exp") == pytest.approx(expo)
    addk = math.exp((math.log(4 / 5) + math.log(3 / 5) + math.log(2 / 4) + math.log(1 / 3)) / 4)
    assert text.sentence_bleu(c, [r], smoothing="add-k") == pytest.approx(addk)
    # effective order: a 2-word candidate is scored on orders 1 and 2 only
    assert text.sentence_bleu("a b", ["a b"], effective_order=True) == pytest.approx(1.0)
    assert text.sentence_bleu("a b", ["a b"]) == 0.0
    with pytest.raises(ValueError, match="smoothing"):
        text.sentence_bleu("a", ["a"], smoothing="nope")


def test_bleu_vs_sacrebleu_and_nltk():
    sacrebleu = pytest.importorskip("sacrebleu")
    for s in ("none", "floor", "exp", "add-k"):
        ref = sacrebleu.sentence_bleu("a b c d x", ["a b c y d"], smooth_method=s).score / 100
        assert text.sentence_bleu("a b c d x", ["a b c y d"], smoothing=s) == pytest.approx(ref)


# ---------------------------------------------------------------- beam search on a toy decoder
EOS = 0
# After the start token: a (0.6) or b (0.4). After a: eos/a/b at 1/3 each. After b: eos 0.9.
# Greedy takes a (best first step) and ends with probability 0.6 * 1/3 = 0.2 at most, while
# "b eos" has 0.36.


def _probs(prefix):
    last = prefix[-1]
    if len(prefix) == 1:
        p = [0.0, 0.6, 0.4]
    elif last == 1:
        p = [1 / 3, 1 / 3, 1 / 3]
    elif last == 2:
        p = [0.9, 0.05, 0.05]
    else:
        p = [1.0, 0.0, 0.0]
    with np.errstate(divide="ignore"):
        return np.log(np.array(p))


def _step(prefixes):
    return np.stack([_probs(p) for p in prefixes])


def _brute(max_len, alpha):
    best = None
    for L in range(1, max_len + 1):
        for seq in itertools.product(range(3), repeat=L):
            if EOS in seq[:-1] or (seq[-1] != EOS and L < max_len):
                continue
            lp, prefix = 0.0, [9]
            for tok in seq:
                lp += _probs(prefix)[tok]
                prefix.append(tok)
            s = lp / text.gnmt_length_penalty(L, alpha)
            if best is None or s > best[1]:
                best = (list(seq), s)
    return best


def test_beam_search_beats_greedy():
    greedy = text.beam_search(_step, [9], beam_size=1, max_len=4, eos=EOS)[0]
    beam = text.beam_search(_step, [9], beam_size=3, max_len=4, eos=EOS)[0]
    assert greedy[0][0] == 1 and greedy[2] < math.log(0.21)
    assert beam[0] == [2, EOS] and beam[2] == pytest.approx(math.log(0.36))
    best = _brute(4, 0.0)
    assert beam[0] == best[0] and beam[1] == pytest.approx(best[1])


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0, 3.0])
def test_beam_search_length_penalty(alpha):
    out = text.beam_search(_step, [9], beam_size=9, max_len=4, eos=EOS, alpha=alpha)
    best = _brute(4, alpha)
    assert out[0][0] == best[0] and out[0][1] == pytest.approx(best[1])
    assert text.gnmt_length_penalty(7, alpha) == pytest.approx(2.0**alpha)
    scores = [s for _, s, _ in out]
    assert scores == sorted(scores, reverse=True)


def test_beam_search_errors():
    with pytest.raises(ValueError, match="beam_search: beam_size"):
        text.beam_search(_step, [9], 0, 4, EOS)
    with pytest.raises(ValueError, match="beam_search: step_fn"):
        text.beam_search(lambda p: np.zeros(3), [9], 2, 4, EOS)
