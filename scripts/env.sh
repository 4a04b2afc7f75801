# Sourced by the project's scripts. Exports:
# - CARGO_TARGET_DIR: one target directory per clone (<repo>/target), shared by
#   the demo and the tests so nothing is built twice. Not shared between
#   clones: test binaries embed their checkout's path (CARGO_MANIFEST_DIR), the
#   binary an rpath to its checkout's MuJoCo, and cargo would reuse them.
# - MUJOCO_DYNAMIC_LINK_DIR / LD_LIBRARY_PATH: the MuJoCo library that
#   scripts/setup_mujoco.sh unpacked from the PyPI wheel.
kotoba_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$kotoba_root/target}"
export MUJOCO_DYNAMIC_LINK_DIR="${MUJOCO_DYNAMIC_LINK_DIR:-$kotoba_root/.cache/mujoco-3.17.0/lib}"
export LD_LIBRARY_PATH="$MUJOCO_DYNAMIC_LINK_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
mkdir -p "$CARGO_TARGET_DIR"
