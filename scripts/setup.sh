#!/usr/bin/env bash
# Create .venv (if needed), install the pinned requirements (only when they changed) and the
# project itself in editable mode (only when pyproject.toml or the checkout's path changed), so
# `churn` and `python bench/x.py` work. Idempotent: a second run does nothing (well under 1 s).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PY --version)" >&2
  "$PY" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing requirements (first time: about 3 minutes)" >&2
  # torch==2.13.0+cpu comes from a local wheel here, or from PyTorch's CPU index elsewhere:
  # set PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu if pip cannot find it.
  .venv/bin/python -m pip install --disable-pip-version-check -q -r requirements.txt
  echo "$want" > "$stamp"
fi
pkg_stamp=.venv/.package.sha256
pkg_want=$( (cat pyproject.toml; pwd) | sha256sum | cut -d' ' -f1)
if [ "$(cat "$pkg_stamp" 2>/dev/null)" != "$pkg_want" ]; then
  echo "setup: installing the project (pip install -e . --no-deps)" >&2
  .venv/bin/python -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
  echo "$pkg_want" > "$pkg_stamp"
fi
