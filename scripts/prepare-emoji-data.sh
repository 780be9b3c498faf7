#!/usr/bin/env bash
# Fetches the Noto emoji images (npm package emoji-datasource-google@16.0.0; images Apache-2.0,
# flags public domain) and writes the image + caption training folder of the default model.
# Usage: scripts/prepare-emoji-data.sh [OUT_DIR]   (default: data/emoji)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-data/emoji}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
( cd "$work" && npm pack --silent emoji-datasource-google@16.0.0 >/dev/null && tar xzf emoji-datasource-google-16.0.0.tgz )
jar=diffusion-examples/target/jdiffusion.jar
[ -f "$jar" ] || mvn -B -ntp -q package -DskipTests
java -cp "$jar" dev.jdiffusion.examples.data.EmojiDataPrep "$work/package" "$out"
