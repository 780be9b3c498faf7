#!/usr/bin/env bash
# Copies a trained model folder into the examples' resources as the shipped default model and
# writes files.txt ("SHA256 relative/path" per file), which DefaultModel uses to unpack and verify it.
# Usage: scripts/ship-default-model.sh MODEL_DIR NOTICE_FILE
set -euo pipefail
cd "$(dirname "$0")/.."
src="$1"
notice="$2"
dst=diffusion-examples/src/main/resources/dev/jdiffusion/examples/model/emoji
rm -rf "$dst"
mkdir -p "$dst"
cp -r "$src"/. "$dst"/
cp "$notice" "$dst/NOTICE"
( cd "$dst" && find . -type f ! -name files.txt | sed 's|^\./||' | LC_ALL=C sort \
    | while read -r f; do echo "$(sha256sum "$f" | cut -d' ' -f1) $f"; done > files.txt )
du -sh "$dst"
