"""BLEU (Papineni et al., 2002) with sacrebleu's smoothing methods (Chen and Cherry, 2014).

Scores are in [0, 1] (NLTK's and torchtext's scale; sacrebleu reports 100 times this).
Sentences are token lists (a string is split on whitespace; no other tokenisation is done).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from typing import TypeAlias

__all__ = ["bleu", "corpus_bleu", "sentence_bleu"]

# A sentence: a token list, or a string split on whitespace.
Sentence: TypeAlias = str | Sequence[Hashable]

# each method's default smooth_value ('none' and 'exp' use none: their 0.0 is never read)
_SMOOTHING: dict[str, float] = {"none": 0.0, "floor": 0.1, "add-k": 1.0, "exp": 0.0}


def _tokens(s: Sentence) -> Sequence[Hashable]:
    return s.split() if isinstance(s, str) else list(s)


def _ngrams(tokens: Sequence[Hashable], n: int) -> Counter[tuple[Hashable, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _stats(
    candidate: Sentence, references: Sequence[Sentence], max_n: int
) -> tuple[list[int], list[int], int, int]:
    """Clipped n-gram matches and candidate n-gram totals per order, candidate length and the
    closest reference length (ties: the shorter)."""
    cand = _tokens(candidate)
    refs = [_tokens(r) for r in references]
    if not refs:
        raise ValueError("bleu: need at least one reference")
    correct, total = [0] * max_n, [0] * max_n
    for n in range(1, max_n + 1):
        c = _ngrams(cand, n)
        best: Counter[tuple[Hashable, ...]] = Counter()
        for r in refs:
            best |= _ngrams(r, n)  # elementwise max: clip by the most any one reference has
        correct[n - 1] = sum(min(k, best[g]) for g, k in c.items())
        total[n - 1] = max(len(cand) - n + 1, 0)
    ref_len = min((len(r) for r in refs), key=lambda L: (abs(L - len(cand)), L))
    return correct, total, len(cand), ref_len


def _score(
    correct: Sequence[int],
    total: Sequence[int],
    sys_len: int,
    ref_len: int,
    max_n: int,
    smoothing: str,
    smooth_value: float | None,
    effective_order: bool,
) -> float:
    if smoothing not in _SMOOTHING:
        raise ValueError(f"bleu: smoothing must be one of {sorted(_SMOOTHING)}, got {smoothing!r}")
    if smooth_value is None:
        smooth_value = _SMOOTHING[smoothing]
    # float: add-k smoothing adds smooth_value to the counts
    matches: list[float] = list(correct)
    totals: list[float] = list(total)
    if sys_len < ref_len:
        bp = math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0
    else:
        bp = 1.0
    precisions = [0.0] * max_n
    exp_factor = 1.0
    order = max_n
    # sacrebleu's compute_bleu, step by step
    for n in range(1, max_n + 1):
        if smoothing == "add-k" and n > 1:
            matches[n - 1] += smooth_value
            totals[n - 1] += smooth_value
        if totals[n - 1] == 0:
            break
        if effective_order:
            order = n
        if matches[n - 1] == 0:
            if smoothing == "exp":
                exp_factor *= 2
                precisions[n - 1] = 1.0 / (exp_factor * totals[n - 1])
            elif smoothing == "floor":
                precisions[n - 1] = smooth_value / totals[n - 1]
        else:
            precisions[n - 1] = matches[n - 1] / totals[n - 1]
    if any(p == 0 for p in precisions[:order]):
        return 0.0
    return bp * math.exp(sum(math.log(p) for p in precisions[:order]) / order)


def sentence_bleu(
    candidate: Sentence,
    references: Sequence[Sentence],
    max_n: int = 4,
    smoothing: str = "none",
    smooth_value: float | None = None,
    effective_order: bool = False,
) -> float:
    """BLEU of one candidate against its references: the geometric mean of the clipped n-gram
    precisions for n = 1..max_n times the brevity penalty ``exp(1 - r/c)`` when the candidate
    (length c) is shorter than the closest reference (length r).

    ``smoothing`` (sacrebleu's names) for orders with no match: 'none' (BLEU is 0), 'floor'
    (precision ``smooth_value / total``, default 0.1), 'add-k' (add ``smooth_value``, default
    1, to matches and totals of orders n >= 2), 'exp' (the k-th order with no match gets
    ``1 / (2**k * total)``, Chen and Cherry's method 3 / NIST geometric sequence).
    ``effective_order`` averages only over the orders the candidate has n-grams for."""
    c, t, sl, rl = _stats(candidate, references, max_n)
    return _score(c, t, sl, rl, max_n, smoothing, smooth_value, effective_order)


bleu = sentence_bleu


def corpus_bleu(
    candidates: Sequence[Sentence],
    references: Sequence[Sequence[Sentence]],
    max_n: int = 4,
    smoothing: str = "none",
    smooth_value: float | None = None,
) -> float:
    """Corpus BLEU: matches, totals and lengths summed over the sentences before the precisions
    and the brevity penalty are taken (not the mean of sentence scores).
    ``references[i]`` is the list of references for ``candidates[i]``."""
    if len(candidates) != len(references):
        raise ValueError(
            f"corpus_bleu: {len(candidates)} candidates but {len(references)} reference lists"
        )
    C, T, S, R = [0] * max_n, [0] * max_n, 0, 0
    for cand, refs in zip(candidates, references):
        c, t, sl, rl = _stats(cand, refs, max_n)
        C = [a + b for a, b in zip(C, c)]
        T = [a + b for a, b in zip(T, t)]
        S, R = S + sl, R + rl
    return _score(C, T, S, R, max_n, smoothing, smooth_value, False)
