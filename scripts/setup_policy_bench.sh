#!/usr/bin/env bash
# Installs the PyTorch reference used by `kotoba bench policy` into /work/main/.venv
# (or $KOTOBA_VENV). Bench-only: CI does not run this. Idempotent.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${KOTOBA_VENV:-$root/.venv}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if "$venv/bin/python" -c "import torch" 2>/dev/null; then
    echo "torch already installed: $("$venv/bin/python" -c 'import torch; print(torch.__version__)')"
    exit 0
fi
"$venv/bin/python" -m pip install --quiet -r "$root/scripts/requirements-policy-bench.txt"
"$venv/bin/python" -c "import torch; print('torch', torch.__version__)"
