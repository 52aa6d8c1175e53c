"""``pydlk.jit``: torch.jit's names, for the model code and scripts that call them.

pydlk has no TorchScript compiler: every model runs eagerly as Python, and each op already
calls a compiled kernel. So:

* ``script(m)`` and ``trace(m, example_inputs)`` return ``m`` itself (a Module or a
  function). ``trace`` runs the example once under ``no_grad`` with ``is_tracing()`` True, as
  torch's tracer does, checks the inputs and outputs as torch's does (Tensors, nested
  tuples/lists of them; dicts out only with ``strict=False``), and raises whatever the model
  raises. ``trace_module`` does the same per method; ``freeze`` checks eval mode, as torch's,
  and ``optimize_for_inference`` switches to it; both return the module.
* ``is_scripting()`` is always False and ``is_tracing()`` True only while ``trace`` runs its
  example, so model code takes its eager branch, which is the branch that runs.
* ``ignore``, ``unused``, ``export``, ``script_method``, ``interface``, ``annotate``,
  ``Final``, ``Attribute`` keep their meaning for Python: functions and classes come back
  unchanged (marked as torch marks them), ``annotate(T, v)`` is ``v``. ``isinstance(obj,
  List[int])`` checks container element types. ``fork(fn, *args)`` runs ``fn`` at once and
  returns a finished ``Future`` for ``wait``, as torch's fork does outside TorchScript.
* ``save(m, f)`` / ``load(f, map_location=None)`` keep the whole module object (see
  ``pydlk/jit/_serialization.py``): written atomically with the umask's permissions as
  ``pydlk.save`` writes; loaded without running code from the file, the tensors on their
  saved devices or on ``map_location``; ``_extra_files`` as torch's.

As in torch 2.13, which deprecates TorchScript, ``script``, ``trace``, ``trace_module``,
``freeze``, ``optimize_for_inference``, ``save``, ``load``, ``fork`` and ``interface`` warn
(DeprecationWarning, shown by default only for calls from ``__main__``).

What differs from torch:

* There is no graph and no TorchScript code. A module from ``script``/``trace`` has no
  ``.graph``, ``.inlined_graph``, ``.code`` or ``.code_with_constants`` (AttributeError
  naming the attribute and why), nor ``.save`` (use ``pydlk.jit.save(m, f)``); a function
  from them is the plain function. A traced model keeps its data-dependent control flow
  (torch's trace records one path).
* Nothing ``script``/``trace`` returns is a ``ScriptModule`` or ``ScriptFunction``; the
  classes exist for ``isinstance`` checks (which answer False, so code takes its eager path)
  and for subclassing (``class M(pydlk.jit.ScriptModule)``).
* A ``jit.save`` file names each module's Python class, which must be importable (and already
  imported) where it is loaded; torch's archive carries TorchScript code instead. Files from
  ``torch.jit.save`` cannot be loaded (save a ``state_dict`` instead). Only Modules are saved.
"""

from __future__ import annotations

from ._frontend import (
    Attribute,
    Error,
    Final,
    Future,
    ScriptWarning,
    TracerWarning,
    TracingCheckError,
    annotate,
    enable_onednn_fusion,
    export,
    fork,
    fuser,
    ignore,
    interface,
    is_scripting,
    is_tracing,
    isinstance,
    onednn_fusion_enabled,
    optimized_execution,
    script_if_tracing,
    script_method,
    set_fusion_strategy,
    strict_fusion,
    unused,
    wait,
)
from ._frontend import _overload as _overload  # torch.jit's private names model code uses
from ._frontend import _overload_method as _overload_method
from ._frontend import _unwrap_optional as _unwrap_optional
from ._script import (
    RecursiveScriptModule,
    ScriptFunction,
    ScriptModule,
    TopLevelTracedModule,
    TracedModule,
    freeze,
    optimize_for_inference,
    run_frozen_optimizations,
    script,
    trace,
    trace_module,
)
from ._serialization import load, save

__all__ = [
    "Attribute",
    "Error",
    "Final",
    "Future",
    "RecursiveScriptModule",
    "ScriptFunction",
    "ScriptModule",
    "ScriptWarning",
    "TopLevelTracedModule",
    "TracedModule",
    "TracerWarning",
    "TracingCheckError",
    "annotate",
    "enable_onednn_fusion",
    "export",
    "fork",
    "freeze",
    "fuser",
    "ignore",
    "interface",
    "is_scripting",
    "is_tracing",
    "isinstance",
    "load",
    "onednn_fusion_enabled",
    "optimize_for_inference",
    "optimized_execution",
    "run_frozen_optimizations",
    "save",
    "script",
    "script_if_tracing",
    "script_method",
    "set_fusion_strategy",
    "strict_fusion",
    "trace",
    "trace_module",
    "unused",
    "wait",
]
