"""``pydlk.backends.cudnn``: torch.backends.cudnn's switches, for GPU convolutions.

``enabled`` (default True): GPU convolutions use cuDNN (through ``nvidia-cudnn-frontend``) where
it is installed; False makes them im2col + cuBLAS (``pydlk.cuda`` kernels'
``conv2d_backend()`` says which ran). ``is_available()`` says whether the frontend imports.

Accepted so that scripts that set them run, with no effect on pydlk: ``benchmark`` (the
frontend picks each convolution's engine by its heuristics, once per shape, whatever this
says), ``deterministic`` (pydlk's own GPU kernels give the same results run to run except
where their docstrings say they use atomics; cuDNN's engine choice is not restricted), and
``allow_tf32``.
"""

import importlib

enabled = True
benchmark = False
deterministic = False
allow_tf32 = True


def _frontend():
    try:
        return importlib.import_module("cudnn")
    except Exception:  # not installed, or no matching cuDNN library
        return None


def is_available() -> bool:
    """Whether NVIDIA's cuDNN frontend imports here (whatever ``enabled`` says)."""
    return _frontend() is not None


def version() -> int | None:
    """cuDNN's version number (e.g. 91900), or None without the frontend."""
    cudnn = _frontend()
    return int(cudnn.backend_version()) if cudnn is not None else None
