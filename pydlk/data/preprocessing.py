"""Preprocessing as the lectures describe it, each with ``fit`` / ``transform`` and a
``state_dict`` so the statistics travel with a checkpoint.

* ``MeanSubtraction``: subtract the mean image (per pixel) or the per-channel mean.
* ``Standardize``: per-channel (NCHW) or per-feature zero mean, unit variance.
* ``PCAWhitening``: rotate into the covariance's eigenbasis, keep ``n_components``, divide by
  sqrt(eigenvalue + eps).
* ``ZCAWhitening``: PCA whitening rotated back to pixel space (U diag(1/sqrt(l+eps)) U^T), so
  whitened images still look like images.
Statistics are computed in float64; ``transform`` returns float32.
"""

import numpy as np


class _Fitted:
    _state: tuple[str, ...] = ()  # the fitted attributes, first one None until fit()

    def fit_transform(self, x):
        return self.fit(x).transform(x)

    def _need_fit(self):
        if getattr(self, self._state[0]) is None:
            raise RuntimeError(f"{type(self).__name__}: call fit() before transform()")

    def state_dict(self):
        return {k: getattr(self, k) for k in self._state}

    def load_state_dict(self, state):
        for k in self._state:
            v = state[k]
            setattr(self, k, None if v is None else np.asarray(v))
        return self


def _flat(x):
    x = np.asarray(x, np.float64)
    if x.ndim < 2:
        raise ValueError(f"expected a batch (N, ...), got shape {x.shape}")
    return x.reshape(len(x), -1)


class MeanSubtraction(_Fitted):
    """Subtract the training set's mean image (``per_channel=True``: one mean per channel of
    (N, C, ...) data). ``fit(x)`` learns it in float64; calling the object applies it.
    No torch counterpart (torchvision's Normalize takes fixed values).
    """

    _state = ("mean",)

    def __init__(self, per_channel=False):
        self.per_channel = per_channel
        self.mean = None

    def fit(self, x):
        x = np.asarray(x, np.float64)
        axes = (0,) + tuple(range(2, x.ndim)) if self.per_channel else (0,)
        self.mean = x.mean(axis=axes, keepdims=True)[0]
        return self

    def transform(self, x):
        self._need_fit()
        return (np.asarray(x, np.float64) - self.mean).astype(np.float32)


class Standardize(_Fitted):
    """Per channel for image batches (N, C, H, W); per feature for (N, D)."""

    _state = ("mean", "std")

    def __init__(self, eps=1e-8):
        self.eps = eps
        self.mean = self.std = None

    def fit(self, x):
        x = np.asarray(x, np.float64)
        axes = (0,) + tuple(range(2, x.ndim))
        self.mean = x.mean(axis=axes, keepdims=True)[0]
        self.std = x.std(axis=axes, keepdims=True)[0]
        return self

    def transform(self, x):
        self._need_fit()
        return ((np.asarray(x, np.float64) - self.mean) / (self.std + self.eps)).astype(np.float32)


class PCAWhitening(_Fitted):
    """Output (N, n_components): decorrelated features with unit variance."""

    _state = ("mean", "components", "scale")

    def __init__(self, n_components=None, eps=1e-5):
        self.n_components, self.eps = n_components, eps
        self.mean = self.components = self.scale = None

    def fit(self, x):
        x = _flat(x)
        self.mean = x.mean(0)
        xc = x - self.mean
        cov = xc.T @ xc / len(x)
        lam, U = np.linalg.eigh(cov)  # ascending
        order = np.argsort(lam)[::-1]
        lam, U = lam[order], U[:, order]
        k = self.n_components or len(lam)
        if not 1 <= k <= len(lam):
            raise ValueError(f"PCAWhitening: n_components must be in 1..{len(lam)}, got {k}")
        self.components = U[:, :k]
        self.scale = 1.0 / np.sqrt(np.maximum(lam[:k], 0) + self.eps)
        return self

    def transform(self, x):
        self._need_fit()
        return (((_flat(x) - self.mean) @ self.components) * self.scale).astype(np.float32)


class ZCAWhitening(_Fitted):
    """Output has the input's shape; covariance is (nearly) the identity."""

    _state = ("mean", "W")

    def __init__(self, eps=1e-5):
        self.eps = eps
        self.mean = self.W = None

    def fit(self, x):
        x = _flat(x)
        self.mean = x.mean(0)
        xc = x - self.mean
        lam, U = np.linalg.eigh(xc.T @ xc / len(x))
        self.W = (U * (1.0 / np.sqrt(np.maximum(lam, 0) + self.eps))) @ U.T
        return self

    def transform(self, x):
        self._need_fit()
        shape = np.shape(x)
        return ((_flat(x) - self.mean) @ self.W).reshape(shape).astype(np.float32)
