# Sourced by the project's scripts: one cargo target directory outside the clone,
# reused by the demo, the tests and CI when it exists, so nothing is built twice.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kotoba/target}"
mkdir -p "$CARGO_TARGET_DIR"
