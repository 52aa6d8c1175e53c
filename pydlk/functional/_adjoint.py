"""A linear map given by two array functions, the map and its adjoint, as a differentiable op
of any order: its backward is the adjoint, and the adjoint's backward is the map again.

For the backward of ops that are linear in their incoming gradient (pooling, padding, masks
fixed by the forward) under create_graph=True: ``LinearMap.apply(dy, grad_fn, forward_fn)``
records ``grad_fn(dy)`` so that it can be differentiated again."""

from ..autograd import Function


class LinearMap(Function):
    """``y = f(x)`` with ``f`` linear; ``f_adj`` its adjoint (``<f(x), g> = <x, f_adj(g)>``).
    Both take and return arrays; neither may depend on values that change later."""

    op_name = "linear_map"

    @staticmethod
    def forward(ctx, x, f, f_adj):
        ctx.maps = (f, f_adj)
        return f(x)

    @staticmethod
    def backward(ctx, g):
        return ctx.maps[1](g), None, None

    @staticmethod
    def backward_graph(ctx, inputs, g):
        f, f_adj = ctx.maps
        return LinearMap.apply(g, f_adj, f), None, None
