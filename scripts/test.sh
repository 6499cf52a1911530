#!/usr/bin/env bash
# Set up (first time) and run the default test suite (the `slow` marker is deselected).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -q "$@"
