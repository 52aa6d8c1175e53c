"""torch's layouts: ``pydlk.strided`` (dense) and ``pydlk.sparse_coo``."""

from __future__ import annotations


class layout:  # noqa: N801  (torch's name for the type)
    """How a tensor stores its elements (torch.layout): ``pydlk.strided`` for a dense array,
    ``pydlk.sparse_coo`` for coordinates and values."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"pydlk.{self.name}"

    def __reduce__(self) -> str:
        return self.name  # pickled by reference: the module attribute of that name


strided = layout("strided")
sparse_coo = layout("sparse_coo")
