#!/usr/bin/env bash
# The main command of the README: set-up, build, then the end-to-end towel-folding
# demo on the embedded defaults. Extra arguments go to `kotoba demo`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
./scripts/setup.sh
. scripts/env.sh
cargo build --locked --features sim --bin kotoba
exec "$CARGO_TARGET_DIR/debug/kotoba" demo "$@"
