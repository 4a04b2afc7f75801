#!/usr/bin/env bash
# The test command of the README: set-up, then every test of the workspace.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
./scripts/setup.sh
. scripts/env.sh
cargo build --workspace --all-targets --locked
cargo test --workspace --locked --no-fail-fast -- --test-threads 2
