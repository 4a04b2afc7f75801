#!/usr/bin/env bash
# Installs the MuJoCo 3.17.0 C library that kotoba-sim (mujoco-rs 7.0.0) links against,
# plus the Debian packages for headless (EGL, CPU-only) rendering.
#
# The library comes from the PyPI wheel `mujoco==3.17.0` (pinned in
# scripts/requirements-sim.txt): `mujoco/libmujoco.so.3.17.0` and `mujoco/include/` are
# unpacked into
#   <repo>/.cache/mujoco-3.17.0/{lib,include}        (default; `/.cache/` is gitignored)
# with `lib/libmujoco.so -> libmujoco.so.3.17.0`, which is what mujoco-rs's build script
# wants in MUJOCO_DYNAMIC_LINK_DIR. Nothing is downloaded from anywhere but PyPI and apt.
#
# Idempotent: skips the download when the library is already there, and skips apt when
# the EGL packages are already installed. The last line printed is
#   MUJOCO_DYNAMIC_LINK_DIR=<absolute lib dir>
# Usage: scripts/setup_mujoco.sh [TARGET_DIR]   (env: PYTHON, SKIP_APT=1)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
version=3.17.0
target="${1:-$repo/.cache/mujoco-$version}"
lib="$target/lib"

# --- headless rendering: Mesa's EGL device (llvmpipe) --------------------------------
egl_pkgs=(libegl1 libegl-mesa0 libgl1-mesa-dri)
if [[ "${SKIP_APT:-0}" != 1 ]] && command -v dpkg-query >/dev/null; then
    missing=()
    for p in "${egl_pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        sudo=""
        [[ $(id -u) -ne 0 ]] && sudo="sudo"
        echo "installing ${missing[*]} for headless rendering ..."
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
    else
        echo "EGL packages already installed (${egl_pkgs[*]})"
    fi
fi

# --- the MuJoCo library --------------------------------------------------------------
if [[ -s "$lib/libmujoco.so.$version" && -L "$lib/libmujoco.so" && -s "$target/include/mujoco/mujoco.h" ]]; then
    echo "MuJoCo $version already installed in $target"
else
    python="${PYTHON:-python3}"
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    echo "downloading the mujoco==$version wheel from PyPI ..."
    "$python" -m pip download --quiet --no-deps --only-binary=:all: \
        -r "$here/requirements-sim.txt" -d "$work/wheel"

    # Unpack into a sibling folder, then rename, so an interrupted run never leaves a
    # half-written folder that the check above would accept.
    mkdir -p "$(dirname "$target")"
    stage="$(mktemp -d "$(dirname "$target")/.mujoco-$version.XXXXXX")"
    chmod 755 "$stage"
    "$python" - "$work/wheel" "$stage" "$version" <<'PY'
import pathlib, sys, zipfile
wheel_dir, stage, version = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
(wheel,) = wheel_dir.glob("mujoco-*.whl")
so = f"mujoco/libmujoco.so.{version}"
with zipfile.ZipFile(wheel) as z:
    (stage / "lib").mkdir(parents=True)
    out = stage / "lib" / pathlib.PurePosixPath(so).name
    out.write_bytes(z.read(so))
    out.chmod(0o755)
    n = 0
    for name in z.namelist():
        if not name.startswith("mujoco/include/") or name.endswith("/"):
            continue
        rel = pathlib.PurePosixPath(name[len("mujoco/"):])
        if rel.is_absolute() or ".." in rel.parts:
            sys.exit(f"refusing odd path in wheel: {name}")
        dst = stage.joinpath(*rel.parts)
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(z.read(name))
        n += 1
print(f"unpacked {so} and {n} headers")
PY
    ln -s "libmujoco.so.$version" "$stage/lib/libmujoco.so"
    rm -rf "$target"
    mv "$stage" "$target"
    echo "MuJoCo $version installed in $target"
fi

echo "MUJOCO_DYNAMIC_LINK_DIR=$(cd "$lib" && pwd)"
