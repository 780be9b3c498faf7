#!/usr/bin/env bash
# Assembles .gpu-carry/: everything the device machine needs to run jdiffusion on its GPU, since
# that machine has no Java, no network and no DJL CUDA natives (issue 19). Run on a build machine
# with JDK 17 (javac, jdeps, jlink) and the project's Maven dependencies:
#
#   scripts/gpu/assemble-carry.sh [--no-build] [--djl-git-dir DIR] [--diffusers-git-dir DIR]
#                                 [--hub-git-dir DIR]
#
# Contents of .gpu-carry/ (ignored by git; carried to the device with the run tool's `carry`):
#   jre.txz               a jlinked Java runtime for the CLI (modules from jdeps), xz-compressed
#                         (jlink --compress=0 then xz: 17 MB instead of 31 MB as .tgz of a
#                         --compress=2 image)
#   lib/jdiffusion-slim.jar  the shaded CLI jar without the bundled PyTorch CPU natives and DJL's
#                         prebuilt JNI (pytorch/*, native/lib/*, jnilib/*): the device uses its
#                         own torch and a JNI built there; also without the shipped model
#                         (the device puts diffusion-examples/src/main/resources, which travels
#                         with the working tree, on the class path) and without JNA's natives
#                         for other platforms than linux-x86-64
#   jni-src/              DJL v0.36.0's PyTorch JNI sources (only what cmake needs) plus the JNI
#                         header generated here from PyTorchLibrary.java (the device has no javac)
#   jni-include/          jni.h and jni_md.h of this JDK
#   prebuilt/cu128-libdjl_torch.so.gz  DJL's own cu128 JNI for torch 2.7.1, tried only if the
#                         source build fails (a different torch is unlikely to accept it)
#   python/diffusers-src.txz, python/hub-src.txz  src/ of diffusers v0.27.2 and huggingface_hub
#                         v0.22.2 (pure Python, Apache-2.0) for scripts/gpu/diffusers_bench.py
#   MANIFEST.txt          versions and SHA-256 of what was carried
# Fails when the folder plus the working tree that travels with it (tracked and untracked files
# git does not ignore) exceeds LIMIT_MIB (62 MiB; the run tool's limit is 64 MiB for both).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CARRY="$ROOT/.gpu-carry"
LIMIT_MIB="${LIMIT_MIB:-62}"
DJL_TAG="v0.36.0"
DJL_GIT_DIR="${DJL_GIT_DIR:-/work/.mirror/deepjavalibrary+djl/repo}"
DIFFUSERS_TAG="v0.27.2"
DIFFUSERS_GIT_DIR="${DIFFUSERS_GIT_DIR:-/work/.mirror/huggingface+diffusers/repo}"
HUB_TAG="v0.22.2"
HUB_GIT_DIR="${HUB_GIT_DIR:-/work/.mirror/huggingface+huggingface_hub/repo}"
BUILD=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --no-build) BUILD=0 ;;
        --djl-git-dir) DJL_GIT_DIR="$2"; shift ;;
        --diffusers-git-dir) DIFFUSERS_GIT_DIR="$2"; shift ;;
        --hub-git-dir) HUB_GIT_DIR="$2"; shift ;;
        *) echo "unknown argument: $1 (expected --no-build, --djl-git-dir DIR," \
                "--diffusers-git-dir DIR or --hub-git-dir DIR)" >&2; exit 2 ;;
    esac
    shift
done

for tool in javac jdeps jlink zip xz mvn git; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool (needs a JDK 17, zip, maven, git)" >&2; exit 1; }
done
# need_tag GIT_DIR TAG REPO OPTION: fails unless the clone has the tag.
need_tag() {
    if ! git --git-dir="$1" rev-parse -q --verify "$2^{commit}" >/dev/null; then
        echo "no $3 git mirror with tag $2 at $1: clone github.com/$3 (bare is fine) and pass $4 DIR" >&2
        exit 1
    fi
}
need_tag "$DJL_GIT_DIR" "$DJL_TAG" deepjavalibrary/djl --djl-git-dir
need_tag "$DIFFUSERS_GIT_DIR" "$DIFFUSERS_TAG" huggingface/diffusers --diffusers-git-dir
need_tag "$HUB_GIT_DIR" "$HUB_TAG" huggingface/huggingface_hub --hub-git-dir
JAVA_HOME="${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}"
[[ -f "$JAVA_HOME/include/jni.h" ]] || { echo "no jni.h under JAVA_HOME=$JAVA_HOME" >&2; exit 1; }

cd "$ROOT"
if [[ $BUILD == 1 ]]; then
    echo "== building the project (mvn package -DskipTests)"
    mvn -B -ntp -q package -DskipTests
fi
JAR="$ROOT/diffusion-examples/target/jdiffusion.jar"
[[ -f "$JAR" ]] || { echo "no CLI jar at $JAR: build the project first" >&2; exit 1; }
echo "CLI jar: $(du -h "$JAR" | cut -f1) (bundles the PyTorch CPU natives)"

rm -rf "$CARRY"
mkdir -p "$CARRY/lib" "$CARRY/jni-include" "$CARRY/prebuilt" "$CARRY/python"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

echo "== slim jar (without pytorch/*, native/lib/*, jnilib/*)"
unzip -q -j -o "$JAR" 'jnilib/linux-x86_64/cu128/libdjl_torch.so' -d "$TMP/cu128"
gzip -9 -c "$TMP/cu128/libdjl_torch.so" > "$CARRY/prebuilt/cu128-libdjl_torch.so.gz"
cp "$JAR" "$CARRY/lib/jdiffusion-slim.jar"
zip -q -d "$CARRY/lib/jdiffusion-slim.jar" 'pytorch/*' 'native/lib/*' 'jnilib/*' \
    'dev/jdiffusion/examples/model/*' 'com/sun/jna/aix-*' 'com/sun/jna/win32-*' \
    'com/sun/jna/sunos-*' 'com/sun/jna/darwin*' 'com/sun/jna/*bsd-*' 'com/sun/jna/linux-[!x]*' \
    'com/sun/jna/linux-x86/*' >/dev/null
unzip -l "$CARRY/lib/jdiffusion-slim.jar" 'com/sun/jna/linux-x86-64/libjnidispatch.so' >/dev/null \
    || { echo "slim jar lost JNA's linux-x86-64 native" >&2; exit 1; }

echo "== jlinked runtime"
MODULES="$(jdeps --multi-release 17 --ignore-missing-deps --print-module-deps "$CARRY/lib/jdiffusion-slim.jar")"
# jdk.unsupported: sun.misc.Unsafe users found only by reflection; jdk.zipfs: jar file systems.
MODULES="$MODULES,jdk.unsupported,jdk.zipfs"
echo "modules: $MODULES"
# --compress=0: xz compresses the uncompressed image far better than jlink's zip does.
jlink --add-modules "$MODULES" --strip-debug --no-header-files --no-man-pages --compress=0 \
      --output "$TMP/jre"
"$TMP/jre/bin/java" -version 2>&1 | head -1
tar -C "$TMP" -cf - jre | xz -9 -T0 > "$CARRY/jre.txz"

echo "== DJL $DJL_TAG PyTorch JNI sources"
git --git-dir="$DJL_GIT_DIR" archive "$DJL_TAG" \
    engines/pytorch/pytorch-native/CMakeLists.txt \
    engines/pytorch/pytorch-native/build.sh \
    engines/pytorch/pytorch-native/src/main/native \
    api/src/main/native \
    engines/pytorch/pytorch-engine/src/main/java/ai/djl/pytorch/jni/PyTorchLibrary.java \
    | tar -x -C "$TMP" --one-top-level=djl
mkdir -p "$CARRY/jni-src"
cp -r "$TMP/djl/api" "$CARRY/jni-src/"
mkdir -p "$CARRY/jni-src/engines/pytorch"
cp -r "$TMP/djl/engines/pytorch/pytorch-native" "$CARRY/jni-src/engines/pytorch/"
# The header build.sh makes with javac -h; CMakeLists.txt includes <source>/build/include.
M2="${M2_REPO:-$HOME/.m2/repository}"
CP="$M2/ai/djl/api/0.36.0/api-0.36.0.jar:$M2/ai/djl/pytorch/pytorch-engine/0.36.0/pytorch-engine-0.36.0.jar"
javac -cp "$CP" -h "$CARRY/jni-src/engines/pytorch/pytorch-native/build/include" -d "$TMP/classes" \
      "$TMP/djl/engines/pytorch/pytorch-engine/src/main/java/ai/djl/pytorch/jni/PyTorchLibrary.java"
cp "$JAVA_HOME/include/jni.h" "$JAVA_HOME/include/linux/jni_md.h" "$CARRY/jni-include/"

echo "== diffusers $DIFFUSERS_TAG and huggingface_hub $HUB_TAG sources"
git --git-dir="$DIFFUSERS_GIT_DIR" archive "$DIFFUSERS_TAG" src | xz -9 -T0 > "$CARRY/python/diffusers-src.txz"
git --git-dir="$HUB_GIT_DIR" archive "$HUB_TAG" src | xz -9 -T0 > "$CARRY/python/hub-src.txz"

{
    echo "assembled $(date -u +%FT%TZ) from $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet || echo ' (dirty)')"
    echo "djl sources: $DJL_TAG $(git --git-dir="$DJL_GIT_DIR" rev-parse "$DJL_TAG^{commit}") (Apache-2.0, github.com/deepjavalibrary/djl)"
    echo "diffusers $DIFFUSERS_TAG $(git --git-dir="$DIFFUSERS_GIT_DIR" rev-parse "$DIFFUSERS_TAG^{commit}") (Apache-2.0)"
    echo "huggingface_hub $HUB_TAG $(git --git-dir="$HUB_GIT_DIR" rev-parse "$HUB_TAG^{commit}") (Apache-2.0)"
    echo "jre: $("$TMP/jre/bin/java" -version 2>&1 | head -1); modules $MODULES"
    (cd "$CARRY" && find . -type f ! -name MANIFEST.txt | sort | xargs sha256sum)
} > "$CARRY/MANIFEST.txt"

SIZE_KIB="$(du -sk "$CARRY" | cut -f1)"
TREE_KIB="$(( $(git -C "$ROOT" ls-files -z -co --exclude-standard | (cd "$ROOT" && xargs -0 -r stat -c %s 2>/dev/null) | awk '{s+=$1} END {print s+0}') / 1024 ))"
echo "== .gpu-carry: $((SIZE_KIB / 1024)) MiB ($SIZE_KIB KiB); working tree that travels too:" \
     "$((TREE_KIB / 1024)) MiB; together $(((SIZE_KIB + TREE_KIB) / 1024)) MiB (limit $LIMIT_MIB MiB)"
du -sh "$CARRY"/* | sed 's/^/   /'
if (( SIZE_KIB + TREE_KIB > LIMIT_MIB * 1024 )); then
    echo "FAIL: .gpu-carry plus the working tree is over $LIMIT_MIB MiB; the run tool carries" \
         "at most 64 MiB in all (ignore or remove large untracked files, or carry less)" >&2
    exit 1
fi
