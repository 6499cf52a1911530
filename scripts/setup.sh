#!/usr/bin/env bash
# Create .venv and install brainuad with its test tools. Idempotent: re-running is quick.
# PyTorch: the CPU build torch==2.13.0 is installed first so that pip never pulls a CUDA build;
# set BRAINUAD_TORCH="" to keep whatever torch the environment already has (e.g. a CUDA build).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${BRAINUAD_VENV:-.venv}
TORCH_SPEC=${BRAINUAD_TORCH-torch==2.13.0}
stamp="$VENV/.brainuad-installed"
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ]; then
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
export PIP_DISABLE_PIP_VERSION_CHECK=1
if [ -n "$TORCH_SPEC" ]; then
  "$VENV/bin/python" -m pip install -q "$TORCH_SPEC"
fi
"$VENV/bin/python" -m pip install -q -e '.[dev]'
touch "$stamp"
echo "brainuad installed in $VENV"
