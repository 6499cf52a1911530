#!/usr/bin/env bash
# Set up (first time) and run the demo: synthetic cohort -> full study -> report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/brainuad demo --out "${1:-demo_out}"
