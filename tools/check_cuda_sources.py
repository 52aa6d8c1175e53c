"""Compile-checks every CUDA C source of pydlk._cuda with nvcc, for float and double, on a
machine without a GPU (no CuPy needed: the sources are read from pydlk._cuda._common.SOURCES).

    python tools/check_cuda_sources.py [--arch sm_90] [--nvcc nvcc] [--keep DIR]

Each source is written as ``typedef <T> T;`` + the shared prelude + the kernels, exactly the text
CuPy's NVRTC compiles, and built with ``nvcc -c -arch=<arch> -std=c++14 -Werror
all-warnings``. With ``--nvrtc LIB`` (a libnvrtc.so, e.g. from the nvidia-cuda-nvrtc wheel)
each text is also compiled by NVRTC itself through ctypes, with the options CuPy's RawModule
uses: NVRTC has no standard headers, so this catches what nvcc alone would accept. It also
checks that every kernel name a module declares is defined in its text. Exit status 0 when all
compile.
"""

import argparse
import ctypes
import importlib
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def load_sources():
    import pydlk._cuda as pkg
    from pydlk._cuda import _common

    for m in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"pydlk._cuda.{m.name}")
    return _common.SOURCES


def nvrtc_compile(lib_path, code, arch):
    """(ok, log) of compiling code with NVRTC (-arch=compute_XX --std=c++14, as CuPy does)."""
    lib = ctypes.CDLL(lib_path)
    prog = ctypes.c_void_p()
    rc = lib.nvrtcCreateProgram(ctypes.byref(prog), code.encode(), b"kernel.cu", 0, None, None)
    if rc:
        return False, f"nvrtcCreateProgram failed ({rc})"
    opts = [f"-arch=compute_{arch.split('_')[1]}".encode(), b"--std=c++14"]
    arr = (ctypes.c_char_p * len(opts))(*opts)
    rc = lib.nvrtcCompileProgram(prog, len(opts), arr)
    size = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    buf = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetProgramLog(prog, buf)
    lib.nvrtcDestroyProgram(ctypes.byref(prog))
    return rc == 0, buf.value.decode(errors="replace")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="sm_90")
    ap.add_argument("--nvcc", default=shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc")
    ap.add_argument("--keep", default=None, help="write the .cu files here")
    ap.add_argument("--nvrtc", default=None, help="path of libnvrtc.so: also compile with NVRTC")
    args = ap.parse_args(argv)
    if not os.path.exists(args.nvcc):
        print(f"nvcc not found ({args.nvcc})")
        return 2
    sources = load_sources()
    out = args.keep or tempfile.mkdtemp(prefix="pydlk_cuda_check_")
    os.makedirs(out, exist_ok=True)
    failures = 0
    for src in sources:
        for name in src.names:
            if not re.search(r'extern "C" __global__ void ' + re.escape(name) + r"\(", src.code):
                print(f"FAIL {src.family}: kernel {name} is declared but not defined")
                failures += 1
        for dt in ("float32", "float64"):
            path = os.path.join(out, f"{src.family}_{dt}.cu")
            with open(path, "w") as f:
                f.write(src.full_code(dt))
            cmd = [
                args.nvcc,
                "-c",
                f"-arch={args.arch}",
                "-std=c++14",
                "-Werror",
                "all-warnings",
                "-o",
                path[:-3] + ".o",
                path,
            ]
            r = subprocess.run(cmd, capture_output=True, text=True)
            status = "ok  " if r.returncode == 0 else "FAIL"
            print(f"{status} {src.family:<12} {dt}  ({len(src.names)} kernels)")
            if r.returncode:
                failures += 1
                print(r.stdout + r.stderr)
            if args.nvrtc:
                ok, log = nvrtc_compile(args.nvrtc, src.full_code(dt), args.arch)
                print(f"{'ok  ' if ok else 'FAIL'} {src.family:<12} {dt}  (NVRTC)")
                if not ok:
                    failures += 1
                    print(log)
    print(f"{len(sources)} sources x 2 dtypes, {failures} failure(s); files in {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
