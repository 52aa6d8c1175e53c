"""The file-safety campaign: kill -9 during saves, and crafted files against pydlk.load.

    PYTHONPATH=. python tools/campaign.py            # 60 kills, all the crafted files
    PYTHONPATH=. python tools/campaign.py --kills 200 --flips 1000 --seed 1

(b) Kills: a child process saves a checkpoint (a few MB, every array filled with the save's
    step number) in a loop; it is sent SIGKILL at a random moment. The target must then be
    absent (killed before the first save ended) or load as one whole save (every array holds the
    same step); one more save to the same target must leave no temporary file behind.
(c) Crafted files: hand-made structures, truncations and byte flips of a valid checkpoint,
    foreign zips and pickles, decompression bombs, torch-like files whose pickle calls
    os.system / exec. Each is loaded in a worker process (a crash is counted, not fatal). A
    file must load or raise CheckpointError naming it; anything else is an unclear error; a
    marker file shows whether any crafted payload ran.

Prints the figures and exits non-zero when one of them is not what is guaranteed.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import random
import signal
import subprocess
import sys
import tempfile
import time
import zipfile

import numpy as np

WRITER = r"""
import sys, numpy as np, pydlk
target = sys.argv[1]
base = np.ones(1 << 20, np.float32)
print("ready", flush=True)
step = 0
while True:
    step += 1
    pydlk.save({"step": step, "w": base * step, "opt": {"m": base[: 1 << 18] * step}}, target)
"""


def _child_env() -> dict:
    """The children import the same pydlk as this process (absolute PYTHONPATH, since they
    run in a temporary directory)."""
    import pydlk

    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(pydlk.__file__)))
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def kills(n: int, rng: random.Random, work: str) -> dict:
    import pydlk

    target = os.path.join(work, "ckpt.npz")
    corrupt = leftovers = caught_mid_write = absent = 0
    for _ in range(n):
        if os.path.exists(target):
            os.unlink(target)
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, target],
            stdout=subprocess.PIPE,
            env=_child_env(),
            cwd=work,
        )
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.0, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        if any(".tmp-" in name for name in os.listdir(work)):
            caught_mid_write += 1
        if not os.path.exists(target):
            absent += 1
        else:
            try:
                ck = pydlk.load(target)
                s = ck["step"]
                whole = np.all(np.asarray(ck["w"]) == s) and np.all(np.asarray(ck["opt"]["m"]) == s)
                corrupt += not whole
            except Exception:
                corrupt += 1
        pydlk.save({"step": 0}, target)  # the following save
        leftovers += sum(".tmp-" in name for name in os.listdir(work))
        for name in os.listdir(work):  # start the next round clean whatever happened
            if name != "ckpt.npz":
                os.unlink(os.path.join(work, name))
    return {
        "kills": n,
        "killed mid-write (temporary present)": caught_mid_write,
        "killed before the first save ended": absent,
        "corrupt checkpoints": corrupt,
        "temporaries left after the following save": leftovers,
    }


# ----------------------------------------------------------------------------- crafted files


class _Evil:
    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __reduce__(self):
        return (self.fn, (self.arg,))


def _npz_with_structure(path, meta: bytes, arrays=()):
    members = {f"a{i}": a for i, a in enumerate(arrays)}
    members["__structure__"] = np.frombuffer(meta, np.uint8)
    np.savez(path, **members)


def _torch_like(path, payload: bytes):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", payload)
        zf.writestr("archive/version", "3\n")


def craft(work: str, rng: random.Random, flips: int) -> list[str]:
    """Write the crafted files into work/crafted; return their paths."""
    import pydlk

    d = os.path.join(work, "crafted")
    os.makedirs(d)
    marker = os.path.join(work, "PWNED")
    paths = []

    def p(name):
        paths.append(os.path.join(d, name))
        return paths[-1]

    def obj(o, version=1, fmt="pydlk-checkpoint"):
        return json.dumps({"format": fmt, "version": version, "object": o}).encode()

    one = [np.ones((2, 2), np.float32)]
    structures = [
        obj({"w": {"__array__": -1}}),
        obj({"w": {"__array__": 5}}),
        obj({"w": {"__array__": "0"}}),
        obj({"w": {"__array__": 0}, "v": {"__array__": 0}}),
        obj({"__dict__": 3}),
        obj({"__dict__": [[1]]}),
        obj({"__dict__": [[[1], 2]]}),
        obj({"__tuple__": {"a": 1}}),
        obj({"__scalar__": 0}),
        obj({"__scalar__": [1, 2]}),
        obj({"__list__": 1}),
        obj(1, version=99),
        obj(1, version=-1),
        obj(1, version="1"),
        obj(1, fmt="other"),
        b"[1, 2]",
        b"\xff\xfe{",
        b"{not json",
        b"[" * 100000 + b"]" * 100000,
        b'{"format": "pydlk-checkpoint", "version": 1, "object": ' + b"[" * 600 + b"]" * 600 + b"}",
        b"",
        b"null",
    ]
    for i, meta in enumerate(structures):
        _npz_with_structure(p(f"structure{i}.npz"), meta, one)
    # A valid checkpoint, then truncations and byte flips of it.
    good = p("good.npz")
    pydlk.save({"w": np.arange(1000.0), "b": pydlk.tensor([1.0, 2.0]), "k": (1, "a")}, good)
    data = open(good, "rb").read()
    for i, cut in enumerate(
        sorted(
            {0, 1, 4, 22, 30, 100, len(data) // 2, len(data) - 1}
            | {rng.randrange(len(data)) for _ in range(20)}
        )
    ):
        open(p(f"cut{i}.npz"), "wb").write(data[:cut])
    for i in range(flips):
        b = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        open(p(f"flip{i}.npz"), "wb").write(bytes(b))
    # Foreign files.
    open(p("text.npz"), "wb").write(b"hello, not a checkpoint")
    open(p("random.npz"), "wb").write(bytes(rng.randrange(256) for _ in range(4096)))
    with zipfile.ZipFile(p("foreign.zip"), "w") as zf:
        zf.writestr("readme.txt", "hi")
    np.savez(p("objects.npz"), a=np.array([{}, 1], dtype=object))
    np.save(p("plain.npy"), np.ones(3))
    # Pickles that would run code: plain, and inside torch-like zips.
    payloads = [
        _Evil(os.system, f"touch {marker}"),
        _Evil(exec, f"open({marker!r}, 'w').close()"),
        _Evil(eval, f"open({marker!r}, 'w').close()"),
    ]
    for i, e in enumerate(payloads):
        open(p(f"evil{i}.pt"), "wb").write(pickle.dumps({"w": e}, protocol=2))
        open(p(f"evil{i}.pkl"), "wb").write(pickle.dumps(e, protocol=4))
        _torch_like(p(f"evil_zip{i}.pt"), pickle.dumps({"w": e}, protocol=2))
    for i, (mod, name) in enumerate(
        [("torch._utils", "_load_from_bytes"), ("builtins", "eval"), ("torch", "load")]
    ):
        payload = b"\x80\x02c" + f"{mod}\n{name}\n".encode() + b"X\x01\x00\x00\x001\x85R."
        _torch_like(p(f"hidden{i}.pt"), payload)
    # Decompression bomb (256 MiB of zeros in a small file) and a header that lies.
    with (
        zipfile.ZipFile(p("bomb.npz"), "w", zipfile.ZIP_DEFLATED) as zf,
        zf.open("a.npy", "w", force_zip64=True) as f,
    ):
        np.lib.format.write_array_header_1_0(
            f, {"descr": "|u1", "fortran_order": False, "shape": (256 << 20,)}
        )
        for _ in range(256):
            f.write(bytes(1 << 20))
    with zipfile.ZipFile(p("liar.npz"), "w") as zf, zf.open("a.npy", "w") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f4", "fortran_order": False, "shape": (1 << 30,)}
        )
        f.write(bytes(16))
    return paths


LOADER = r"""
import hashlib, json, os, sys
import numpy as np, pydlk
from pydlk.serialization import CheckpointError

def flat(o):
    if isinstance(o, dict):
        return "{" + ",".join(repr(k) + ":" + flat(v) for k, v in o.items()) + "}"
    if isinstance(o, (list, tuple)):
        return type(o).__name__ + "[" + ",".join(flat(v) for v in o) + "]"
    if isinstance(o, (np.ndarray, pydlk.Tensor)):
        a = np.asarray(o)
        return f"{type(o).__name__}({a.dtype},{a.shape},{a.tobytes().hex()})"
    return repr(o)

for line in sys.stdin:
    path = line.strip()
    name = os.path.basename(path)
    try:
        obj = pydlk.load(path, max_bytes=64 << 20)
        res = "loaded " + hashlib.sha256(flat(obj).encode()).hexdigest()
    except CheckpointError as e:
        res = "clear" if name in str(e) else "unclear: " + str(e)[:200]
    except Exception as e:
        res = f"unclear: {type(e).__name__}: {str(e)[:200]}"
    print(json.dumps([path, res]), flush=True)
"""


def crafted(work: str, rng: random.Random, flips: int) -> dict:
    paths = craft(work, rng, flips)
    results: dict[str, str] = {}
    crashes = 0
    todo = list(paths)
    while todo:
        proc = subprocess.Popen(
            [sys.executable, "-c", LOADER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=_child_env(),
            cwd=work,
            text=True,
        )
        out, _ = proc.communicate("\n".join(todo) + "\n", timeout=600)
        for line in out.splitlines():
            path, res = json.loads(line)
            results[path] = res
        todo = [q for q in todo if q not in results]
        if proc.returncode != 0 and todo:
            crashes += 1
            results[todo.pop(0)] = f"crash (rc {proc.returncode})"
    good = results[os.path.join(work, "crafted", "good.npz")]
    assert good.startswith("loaded"), good
    loaded = [os.path.basename(k) for k, v in results.items() if v.startswith("loaded")]
    unclear = {
        os.path.basename(k): v for k, v in results.items() if v.startswith(("unclear", "crash"))
    }
    return {
        "crafted files tried": len(paths),
        "refused with an error naming the file": sum(v == "clear" for v in results.values()),
        "loaded": len(loaded),
        # a damaged copy of good.npz must be refused or give back exactly what was saved
        "loaded, but not the saved content (silent corruption)": sum(
            v.startswith("loaded") and v != good
            for k, v in results.items()
            if os.path.basename(k).startswith(("cut", "flip"))
        ),
        "loaded files": loaded,
        "unclear errors": len(unclear) - crashes,
        "crashes": crashes,
        "crafted code executed": int(os.path.exists(os.path.join(work, "PWNED"))),
        "unclear": unclear,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=60)
    ap.add_argument("--flips", type=int, default=300, help="byte-flipped copies of a checkpoint")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    figures = {"date": time.strftime("%Y-%m-%d"), "seed": args.seed}
    with tempfile.TemporaryDirectory() as work:
        os.makedirs(os.path.join(work, "kills"))
        t = time.monotonic()
        figures["kill -9 during saves"] = kills(args.kills, rng, os.path.join(work, "kills"))
        figures["crafted files"] = crafted(work, rng, args.flips)
        figures["seconds"] = round(time.monotonic() - t)
    print(json.dumps(figures, indent=2))
    k, c = figures["kill -9 during saves"], figures["crafted files"]
    bad = (
        k["corrupt checkpoints"]
        or k["temporaries left after the following save"]
        or c["unclear errors"]
        or c["crashes"]
        or c["crafted code executed"]
        or c["loaded, but not the saved content (silent corruption)"]
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
