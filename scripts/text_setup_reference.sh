#!/usr/bin/env bash
# Installs the Python reference for kotoba-text (torch + sentence-transformers from PyPI)
# into the project venv .venv/. Used by `kotoba bench text` and scripts/text_golden.py;
# not needed by CI. Idempotent: does nothing when the packages import already.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
if "$venv/bin/python" -c "import torch, sentence_transformers" 2>/dev/null; then
    echo "text reference already installed in $venv"
    exit 0
fi
echo "installing torch + sentence-transformers into $venv (large download) ..."
"$venv/bin/pip" install --quiet -r "$repo/scripts/requirements-text-reference.txt"
"$venv/bin/python" -c "import torch, sentence_transformers"
echo "text reference installed in $venv"
