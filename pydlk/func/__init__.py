"""torch.func: composable function transforms on pydlk's autograd.

``grad``, ``grad_and_value``, ``vjp``, ``jvp``, ``jacrev``, ``jacfwd`` and ``hessian`` work on
pydlk's reverse-mode tape (``jvp`` by the double-vjp trick, ``jacfwd`` by reverse mode);
``linearize`` keeps the graph so each jvp is one backward pass; ``functionalize`` runs its
function eagerly; ``vmap`` runs its function once per slice and stacks the results (pydlk
has no batching rules);
``functional_call`` runs a Module with swapped-in parameters and buffers, and
``stack_module_state`` stacks several models' parameters for an ensemble under ``vmap``.
Together they give torch's per-sample-gradient recipe::

    from pydlk.func import functional_call, grad, vmap

    def loss(params, buffers, x, y):
        out = functional_call(model, (params, buffers), (x.unsqueeze(0),))
        return F.cross_entropy(out, y.unsqueeze(0))

    per_sample = vmap(grad(loss), in_dims=(None, None, 0, 0))(params, buffers, xs, ys)
"""

from ._eager import grad, grad_and_value, hessian, jacfwd, jacrev, jvp, vjp
from ._functional_call import functional_call, stack_module_state
from ._linearize import functionalize, linearize
from ._vmap import vmap

__all__ = [
    "functional_call",
    "functionalize",
    "grad",
    "grad_and_value",
    "hessian",
    "jacfwd",
    "jacrev",
    "jvp",
    "linearize",
    "stack_module_state",
    "vjp",
    "vmap",
]
