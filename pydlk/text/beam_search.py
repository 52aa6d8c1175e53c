"""Beam search decoding with GNMT length normalisation (Wu et al., 2016)."""

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["beam_search", "gnmt_length_penalty"]


def gnmt_length_penalty(length: int, alpha: float) -> float:
    """``lp(Y) = ((5 + |Y|) / 6) ** alpha``; alpha = 0 is no normalisation, 1 divides by about
    the length."""
    return ((5.0 + length) / 6.0) ** alpha


def beam_search(
    step_fn: Callable[[list[list[int]]], np.ndarray],
    start: Sequence[int],
    beam_size: int,
    max_len: int,
    eos: int,
    alpha: float = 0.0,
) -> list[tuple[list[int], float, float]]:
    """Keep the ``beam_size`` best partial sequences by total log-probability; a sequence ends
    at ``eos`` or after ``max_len`` generated tokens. Finished sequences are ranked by
    ``log P(Y) / lp(|Y|)`` (GNMT length penalty, ``|Y|`` the generated tokens with eos).

    ``step_fn(prefixes)`` gets a list of token lists (each starting with ``start``) and returns
    log-probabilities (len(prefixes), V) of the next token. Returns a list of
    ``(tokens, score, log_prob)``, best first, at most ``beam_size`` long; tokens exclude the
    ``start`` prefix. The search stops early once no live beam can overtake the best finished
    one (exact for alpha = 0, where scores only fall)."""
    if beam_size < 1 or max_len < 1:
        raise ValueError(
            f"beam_search: beam_size and max_len must be >= 1, got {beam_size}, {max_len}"
        )
    prefix = list(start)
    alive: list[tuple[list[int], float]] = [([], 0.0)]
    finished: list[tuple[list[int], float, float]] = []
    for t in range(max_len):
        logp = np.asarray(step_fn([prefix + s for s, _ in alive]), np.float64)
        if logp.ndim != 2 or logp.shape[0] != len(alive):
            raise ValueError(
                f"beam_search: step_fn must return ({len(alive)}, V) "
                f"log-probabilities, got {logp.shape}"
            )
        total = np.array([lp for _, lp in alive])[:, None] + logp
        flat = np.argsort(-total, axis=None, kind="stable")[: 2 * beam_size]
        nxt: list[tuple[list[int], float]] = []
        for f in flat:
            b, tok = divmod(int(f), logp.shape[1])
            seq, score = alive[b][0] + [tok], float(total[b, tok])
            if tok == eos or t == max_len - 1:
                finished.append((seq, score / gnmt_length_penalty(len(seq), alpha), score))
            elif len(nxt) < beam_size:
                nxt.append((seq, score))
        alive = nxt
        finished.sort(key=lambda h: -h[1])
        finished = finished[:beam_size]
        if not alive:
            break
        if (
            alpha == 0
            and len(finished) == beam_size
            and max(s for _, s in alive) <= finished[-1][1]
        ):
            break
    return finished
