#!/usr/bin/env bash
# Lint and type-check the tree: ruff (lint and format check), clang-format on csrc, mypy.
# Runs every check, then exits non-zero if any failed. The tools are taken from next to the
# Python in $PY (default .venv/bin/python), the one `pip install '.[test]'` filled.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
BIN="$(dirname "$PY")"
failed=()

check() {  # check NAME COMMAND...
  local name=$1
  shift
  echo "== $name"
  if ! "$@"; then
    failed+=("$name")
  fi
}

for tool in ruff mypy clang-format; do
  if [ ! -x "$BIN/$tool" ]; then
    echo "tools/lint.sh: $BIN/$tool not found (install the test extra: pip install '.[test]')" >&2
    exit 2
  fi
done

check "ruff check" "$BIN/ruff" check .
check "ruff format" "$BIN/ruff" format --check .
check "clang-format" "$BIN/clang-format" --dry-run --Werror csrc/*.cpp csrc/*.h
# the files and options are in pyproject.toml's [tool.mypy]
check "mypy" "$BIN/mypy" --python-executable "$PY"

if [ ${#failed[@]} -gt 0 ]; then
  echo "tools/lint.sh: failed: ${failed[*]}" >&2
  exit 1
fi
echo "tools/lint.sh: all checks passed"
