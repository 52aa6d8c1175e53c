"""One way to write a file: never half-written, never losing the old one.

``atomic_write(path)`` yields a temporary file in the target's directory; when the block ends
normally the file is flushed, fsynced and renamed over ``path`` (``os.replace`` is atomic on one
file system), and the directory is fsynced so the rename survives a crash. If the block raises,
the temporary file is removed and whatever was at ``path`` is left untouched.
"""
import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"newline": ""})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
