#!/usr/bin/env bash
# The test command of the README: set-up, then every crate's tests in one cargo
# invocation (one feature set, so nothing is compiled twice).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
./scripts/setup.sh
. scripts/env.sh
cargo test --locked --no-fail-fast --workspace --features sim -- --test-threads 2
