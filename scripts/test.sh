#!/usr/bin/env bash
# One command: set up the environment if needed, then run the whole test suite
# (core, AppTest UI, and the real-browser test when Chromium is available).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "test: installing Debian's chromium for the browser test" >&2
  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
    || echo "test: chromium could not be installed; the browser test will be skipped" >&2
fi
if ! java -version >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "test: installing openjdk-17-jre-headless for the Spark tests" >&2
  (apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null) \
    || echo "test: Java could not be installed; the Spark tests will be skipped" >&2
fi
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 TRANSFORMERS_OFFLINE=1
# static checks first (seconds): lint (incl. no streamlit import in churn_core), format, types
.venv/bin/python -m ruff check .
.venv/bin/python -m ruff format --check .
.venv/bin/python -m mypy  # churn_core, configured in pyproject.toml
exec .venv/bin/python -m pytest -ra "$@"
