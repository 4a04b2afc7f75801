#!/usr/bin/env bash
# Installs everything kotoba's demo and tests need on a fresh machine, idempotently:
# the Python peers used for cross-checks, and whatever each part's own setup
# script brings (MuJoCo library, text model, ...). Safe to run again.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating Python venv in .venv"
  python3 -m venv .venv
fi
stamp=.venv/.kotoba-requirements
want="$(cat scripts/requirements-ci.txt)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing Python peers (scripts/requirements-ci.txt)"
  .venv/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements-ci.txt
  printf '%s' "$want" > "$stamp"
fi

# Parts with their own set-up (each idempotent).
for s in scripts/setup_mujoco.sh scripts/setup_text_model.sh; do
  if [ -x "$s" ]; then
    "$s"
  fi
done
