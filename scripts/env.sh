# Sourced by the project's scripts: one cargo target directory outside the clone,
# reused by the demo, the tests and CI when it exists, so nothing is built twice;
# and the MuJoCo library that scripts/setup_mujoco.sh unpacked from the PyPI wheel.
kotoba_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kotoba/target}"
export MUJOCO_DYNAMIC_LINK_DIR="${MUJOCO_DYNAMIC_LINK_DIR:-$kotoba_root/.cache/mujoco-3.17.0/lib}"
export LD_LIBRARY_PATH="$MUJOCO_DYNAMIC_LINK_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
mkdir -p "$CARGO_TARGET_DIR"
