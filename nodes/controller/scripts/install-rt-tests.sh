#!/usr/bin/env bash
# Installs cyclictest (Debian/Ubuntu package rt-tests), the peer that
# `kotoba bench rt` compares against. Bench-only: CI does not need it.
set -euo pipefail
if command -v cyclictest >/dev/null 2>&1; then
  echo "cyclictest already installed: $(command -v cyclictest)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends rt-tests
command -v cyclictest
