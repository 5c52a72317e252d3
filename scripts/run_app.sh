#!/usr/bin/env bash
# One command: set up the environment if needed, then start the app on its demo data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1
exec .venv/bin/python -m streamlit run app.py --browser.gatherUsageStats false "$@"
