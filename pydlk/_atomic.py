"""One way to write a file: never half-written, never losing the old one.

``atomic_write(path)`` yields a temporary file in the target's directory; when the block ends
normally the file is flushed, fsynced and renamed over ``path`` (``os.replace`` is atomic on one
file system), and the directory is fsynced so the rename survives a crash. If the block raises,
the temporary file is removed and whatever was at ``path`` is left untouched.

Temporaries are named ``.<name>.tmp-<pid>-<random>``, so a process killed mid-write (``kill -9``
runs no cleanup) leaves one that the next write to the same target recognises and removes once
its writer's pid is gone. The file gets the permissions an ordinary ``open`` would give: a new
file ``0666 & ~umask``, a file written over keeps its mode (``mkstemp``'s 0600 would lock other
readers out of every checkpoint and log).
"""

import contextlib
import os
import secrets


def _tmp_prefix(path):
    return "." + os.path.basename(path) + ".tmp-"


def _pid_alive(pid):
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temporaries(path):
    """Delete temporaries that killed writers left for ``path`` (their pid no longer runs);
    returns the names removed."""
    directory = os.path.dirname(os.path.abspath(path))
    prefix = _tmp_prefix(path)
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(prefix):
            continue
        pid, _, rand = name[len(prefix) :].partition("-")
        if not (pid.isdigit() and rand) or _pid_alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(directory, name))
            removed.append(name)
    return removed


def _open_tmp(path, directory):
    try:
        mode = os.stat(path).st_mode & 0o7777  # writing over a file keeps its mode
    except FileNotFoundError:
        mode = None
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = os.path.join(directory, f"{_tmp_prefix(path)}{os.getpid()}-{secrets.token_hex(4)}")
        try:
            fd = os.open(tmp, flags, 0o666)  # the umask applies, as for any new file
            break
        except FileExistsError:
            continue
    if mode is not None:
        with contextlib.suppress(OSError):
            os.fchmod(fd, mode)
    return fd, tmp


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Yield a file object for ``path``'s replacement; see the module docstring."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    remove_stale_temporaries(path)
    fd, tmp = _open_tmp(path, directory)
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
