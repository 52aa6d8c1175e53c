#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer run of the kernel tests and the binding fuzz test.
#
#   tools/sanitize.sh                 # the default test files below
#   tools/sanitize.sh tests/test_x.py # any pytest arguments instead
#
# Builds _C and _augment with -DPYDLK_SANITIZE=ON in build/asan, writing the modules into a
# temporary copy of the package (build/asan/pkg/pydlk), so the normal dev build next to the
# sources is left as it is; pytest then runs with PYTHONPATH at that copy. Python itself is not
# instrumented, so the sanitizer runtimes are preloaded; leak detection is off because CPython
# keeps objects alive at exit by design.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-/work/venv/bin/python}
[ -x "$PY" ] || PY=python3
PKG=build/asan/pkg
rm -rf "$PKG" && mkdir -p "$PKG"
# The Python sources only: the compiled modules come from the sanitizer build.
(cd . && tar cf - --exclude='*.so' --exclude='__pycache__' pydlk) | tar xf - -C "$PKG"
cmake -S . -B build/asan -G Ninja -DPython_EXECUTABLE="$PY" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPYDLK_SANITIZE=ON -DPYDLK_PACKAGE_DIR="$PWD/$PKG/pydlk"
cmake --build build/asan
if [ $# -eq 0 ]; then
  set -- tests/test_conv2d.py tests/test_linear.py tests/test_pool2d.py tests/test_norm.py \
    tests/test_loss.py tests/test_rnn.py tests/test_bind_regressions.py tests/test_fuzz.py
fi
# The pytest entry point, not `python -m pytest`: -m puts the working directory (and so the
# normal build's pydlk) ahead of PYTHONPATH. The worker children of test_fuzz inherit all this.
PYTEST="$(dirname "$PY")/pytest"
[ -x "$PYTEST" ] || PYTEST=pytest
# Python is not instrumented: the sanitizer runtimes are preloaded for every step below
export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# (run from inside the copy: `python -c` puts the working directory ahead of PYTHONPATH)
(cd "$PKG" && "$PY" -c 'import sys, pydlk._C as c; sys.exit("/build/asan/" not in c.__file__)') \
  || { echo "sanitize.sh: the ASan build is not the pydlk._C imported" >&2; exit 1; }
PYTHONPATH="$PWD/$PKG" "$PYTEST" -q -p no:cacheprovider "$@"
