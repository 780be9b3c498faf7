#!/usr/bin/env bash
# Checks that the build picks DJL's PyTorch native jar for each platform: the native-* profiles
# of pom.xml (activated by OS and CPU, simulated here through the os.name/os.arch of Maven's own
# JVM, or named with -P) and the -Dpytorch.native.classifier override. Resolves only the
# dependency tree (the POM is shared by all classifiers), so no native jar is downloaded.
# Usage: scripts/check-native-profiles.sh   (from anywhere; exits non-zero on the first mismatch)
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
check() { # expected classifier, MAVEN_OPTS, extra Maven arguments...
    local want="$1" opts="$2"
    shift 2
    rm -f "$out"
    MAVEN_OPTS="$opts" mvn -B -ntp -q "$@" dependency:tree -pl diffusion-djl \
        -Dincludes=ai.djl.pytorch:pytorch-native-cpu -DoutputFile="$out" >/dev/null
    if ! grep -q "ai.djl.pytorch:pytorch-native-cpu:jar:$want:" "$out"; then
        echo "native profiles: expected $want for [$opts $*], got:" >&2
        cat "$out" >&2
        exit 1
    fi
    echo "native profiles: $want for [${opts:-this machine} $*]"
}
check linux-x86_64 "-Dos.name=Linux -Dos.arch=amd64"
check linux-aarch64 "-Dos.name=Linux -Dos.arch=aarch64"
check osx-aarch64 "-Dos.name=MacOSX -Dos.arch=aarch64"
# Maven itself does not start with a faked Windows os.name; the profile is named instead.
check win-x86_64 "" -Pnative-win-x86_64
check win-x86_64 "" -Dpytorch.native.classifier=win-x86_64
