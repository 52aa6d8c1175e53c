"""What the child processes of tests/test_torch_compat_round9_mp.py run. A spawned child
imports the module its function lives in, so these live apart from the test file (which
imports torch) to keep the children quick."""

import os
import signal
import sys


def scaled_into_queue(i, queue, t):
    """Put ``(i, t * (i + 1))`` (a leaf that requires grad) and ``t``'s own grad on the queue."""
    import pydlk

    out = pydlk.tensor(t.detach().numpy() * (i + 1), requires_grad=True)
    queue.put((i, out, t.requires_grad, None if t.grad is None else t.grad.numpy().tolist()))


def raise_in_one(i):
    """Child 1 raises; child 0 returns."""
    if i == 1:
        raise ValueError(f"child {i} failed on purpose")


def exit_with(i, code):
    """Child 0 exits with ``code`` without raising."""
    if i == 0:
        sys.exit(code)


def kill_self(i):
    """Child 0 dies by SIGKILL."""
    if i == 0:
        os.kill(os.getpid(), signal.SIGKILL)


def add_one(i, folder):
    """Write a marker file named after ``i``."""
    with open(os.path.join(folder, f"done-{i}"), "w") as f:
        f.write(str(os.getpid()))


def double(t):
    """A Pool worker: the tensor's values doubled, as a new pydlk Tensor."""
    import pydlk

    return pydlk.tensor(t.numpy() * 2)
