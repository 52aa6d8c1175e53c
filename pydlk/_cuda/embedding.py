"""Embedding backward on the GPU, the counterpart of csrc/embedding.cpp: the gradient rows
scatter-added into a zero weight gradient with cupyx's scatter_add (atomic adds)."""

from ._common import check_float, check_int64, cupy


def embedding_backward(grad_output, indices, num_weights):
    """(num_weights, D) zeros with row i of grad_output (N, D) added into row indices[i]."""
    op = "embedding_backward"
    dy = check_float(grad_output, op, "grad_output")
    if dy.ndim != 2:
        raise ValueError(f"{op}: grad_output must be 2-D, got shape {tuple(dy.shape)}")
    idx = check_int64(indices, op, "indices")
    if idx.ndim != 1 or idx.shape[0] != dy.shape[0]:
        raise ValueError(
            f"{op}: indices must hold one index per row of grad_output ({dy.shape[0]}), got "
            f"shape {tuple(idx.shape)}"
        )
    v = int(num_weights)
    if v < 0:
        raise ValueError(f"{op}: num_weights must be in [0, 2**31), got {num_weights}")
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= v):
        raise ValueError(f"{op}: an index is out of range for {v} weight rows")
    cp = cupy()
    import cupyx

    dw = cp.zeros((v, dy.shape[1]), dtype=dy.dtype)
    cupyx.scatter_add(dw, idx, dy)
    return dw
