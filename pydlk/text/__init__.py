"""Language-model and translation toolbox: word2vec (SGNS), GloVe, BLEU, beam search, perplexity."""

from .beam_search import beam_search, gnmt_length_penalty
from .bleu import bleu, corpus_bleu, sentence_bleu
from .glove import GloVe, cooccurrence_matrix, glove_loss, glove_weight
from .metrics import perplexity
from .word2vec import (
    SkipGramNegativeSampling,
    negative_sampling_distribution,
    sample_negatives,
    skipgram_pairs,
)

__all__ = [
    "GloVe",
    "SkipGramNegativeSampling",
    "beam_search",
    "bleu",
    "cooccurrence_matrix",
    "corpus_bleu",
    "glove_loss",
    "glove_weight",
    "gnmt_length_penalty",
    "negative_sampling_distribution",
    "perplexity",
    "sample_negatives",
    "sentence_bleu",
    "skipgram_pairs",
]
