#!/usr/bin/env bash
# What the device machine runs for issue 19 (GPU inference, proven), in the repo root, after
# scripts/gpu/assemble-carry.sh made .gpu-carry/ on a build machine and the run tool carried it:
#
#   OUT=/some/folder scripts/gpu/device-check.sh
#
# Phases, each timed: the device's torch (Python) -> the jlinked JRE -> DJL's PyTorch JNI built
# with cmake against that torch -> the JNI placed in DJL's cache -> `jdiffusion info`, a GPU smoke
# run, CPU vs GPU images from the same seed (compared with pngdiff.py), GPU/CPU timings and a
# float16 run, then the side-by-side benchmark: `jdiffusion bench` (SD 1.5-shaped UNet step, VAE
# decode, 20-step pipeline, peak GPU memory; float32 and float16) and diffusers_bench.py, the same
# on diffusers v0.27.2 and the device's torch, joined by bench_ratio.py. Writes $OUT/log
# (everything), $OUT/summary.txt (one line a phase), $OUT/jni-build.log, the contact sheets, the
# bench tables (bench-*.txt, bench-*.md, bench-ratio.md) and $OUT/libdjl_torch.so.gz (to carry
# next time and skip the build, see JNI_SO). Never stops at the first failure: every phase that
# can still run, runs.
#
# Overrides (environment), mostly to rehearse on a machine without GPU or Python torch:
#   TORCH_LIB, TORCH_VERSION, TORCH_FLAVOR, TORCH_CMAKE, TORCH_ABI  skip the Python probe
#   JNI_SO=path       use this libdjl_torch.so (plain or .gz) instead of building one
#   JNI_GXX=1         build with plain g++ at once (otherwise only if cmake's configure fails);
#                     TORCH_INCLUDE overrides <torch>/include
#   PT_VERSION=...    passed to cmake (DJL's build.sh uses V1_13_X for torch 1.13..2.1)
#   JNI_ONLY=1        stop after building the JNI (JNI_BUILD_TIMEOUT: seconds, 330)
#   DEVICE=gpu:0      the --device of the GPU runs (cpu for a rehearsal)
#   BENCH_LATENT=64 BENCH_STEPS=20 BENCH_REPEAT=3  sizes of the side-by-side benchmark
#   BENCH_UNET=file   a small UNet config.json instead of SD 1.5's (rehearsals)
#   BENCH_DTYPES="fp32 fp16"  the types benchmarked (a CPU rehearsal with torch < 2: fp32)
#   NO_BENCH=1        skip the benchmark phases
#   WORK=/tmp/jdiffusion-gpu  scratch folder
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CARRY="$ROOT/.gpu-carry"
: "${OUT:?set OUT to the folder for results}"
WORK="${WORK:-/tmp/jdiffusion-gpu}"
DEVICE="${DEVICE:-gpu:0}"
DJL_VERSION="0.36.0"
MAIN="dev.jdiffusion.examples.cli.Main"
T0=$(date +%s)
mkdir -p "$OUT" "$WORK"

summary() { echo "$*" >> "$OUT/summary.txt"; echo ">>> $*"; }
phase() { PHASE="$1"; PHASE_T=$(date +%s); echo; echo "=== [+$((PHASE_T - T0))s] $PHASE"; }
# done_phase STATUS [detail]: one summary line with the phase's time.
done_phase() { summary "$(printf '%-12s %-4s %4ss  %s' "$PHASE" "$1" "$(( $(date +%s) - PHASE_T ))" "${2:-}")"; }

probe_torch() {
    phase torch
    if [[ -n "${TORCH_LIB:-}" ]]; then
        echo "torch from the environment: TORCH_LIB=$TORCH_LIB TORCH_VERSION=${TORCH_VERSION:-?}"
        TORCH_FLAVOR="${TORCH_FLAVOR:-cpu}"; TORCH_ABI="${TORCH_ABI:-1}"; CUDART="${CUDART:-}"
        TORCH_CMAKE="${TORCH_CMAKE:-}"
        done_phase ok "from environment, flavor $TORCH_FLAVOR"
        return
    fi
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    local vars
    if ! vars="$(python3 - <<'EOF'
import os, shlex, torch
cuda = torch.version.cuda
ok = torch.cuda.is_available()
if ok:
    torch.zeros(1, device="cuda")  # loads the CUDA runtime, so /proc/self/maps names it
maps = [l.split()[-1] for l in open("/proc/self/maps") if "libcudart" in l]
values = {
    "TORCH_VERSION_FULL": torch.__version__,
    "TORCH_VERSION": torch.__version__.split("+")[0],
    "TORCH_LIB": os.path.join(os.path.dirname(torch.__file__), "lib"),
    "TORCH_CMAKE": torch.utils.cmake_prefix_path,
    "TORCH_ABI": str(int(torch.compiled_with_cxx11_abi())),
    "TORCH_FLAVOR": "cu" + cuda.replace(".", "") if cuda else "cpu",
    "TORCH_GPU": torch.cuda.get_device_name(0) if ok else "none",
    "CUDART": maps[0] if maps else "",
}
for k, v in values.items():
    print(f"{k}={shlex.quote(v)}")
EOF
)"; then
        done_phase FAIL "python3 -c 'import torch' failed: no torch to build against"
        return 1
    fi
    eval "$vars"
    echo "$vars"
    cmake --version | head -1; command -v nvcc >/dev/null && nvcc --version | tail -1; g++ --version | head -1
    done_phase ok "torch $TORCH_VERSION_FULL ($TORCH_FLAVOR, cxx11 abi $TORCH_ABI) on $TORCH_GPU"
}

# untar_xz FILE DIR: unpacks a .txz with xz, or with Python's tarfile where there is no xz.
untar_xz() {
    mkdir -p "$2"
    if command -v xz >/dev/null; then
        tar -xJf "$1" -C "$2"
    else
        python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$1" "$2"
    fi
}

unpack_jre() {
    phase jre
    rm -rf "$WORK/jre"
    untar_xz "$CARRY/jre.txz" "$WORK"
    JAVA="$WORK/jre/bin/java"
    if "$JAVA" -version; then done_phase ok "$("$JAVA" -version 2>&1 | head -1)"; else done_phase FAIL; return 1; fi
}

build_jni() {
    phase jni-build
    JNI_BUILT=""
    if [[ -n "${JNI_SO:-}" ]]; then
        JNI_BUILT="$JNI_SO"
        done_phase skip "JNI_SO=$JNI_SO"
        return
    fi
    local src="$CARRY/jni-src/engines/pytorch/pytorch-native" bld="$WORK/jni-build"
    local args=(-S "$src" -B "$bld" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TORCH_CMAKE"
        -DJAVA_INCLUDE_PATH="$CARRY/jni-include" -DJAVA_INCLUDE_PATH2="$CARRY/jni-include"
        -DJAVA_JVM_LIBRARY="$WORK/jre/lib/server/libjvm.so"
        "-DCMAKE_CXX_FLAGS=-D_GLIBCXX_USE_CXX11_ABI=$TORCH_ABI")
    [[ -n "${PT_VERSION:-}" ]] && args+=(-DPT_VERSION="$PT_VERSION")
    if [[ "$TORCH_FLAVOR" == cu* ]]; then
        args+=(-DUSE_CUDA=ON)
        if command -v nvcc >/dev/null; then
            local cuda_root; cuda_root="$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")"
            args+=(-DCUDAToolkit_ROOT="$cuda_root" -DCUDA_TOOLKIT_ROOT_DIR="$cuda_root")
        fi
    fi
    rm -rf "$bld"
    echo "cmake ${args[*]}"
    if [[ "${JNI_GXX:-0}" == 1 ]]; then
        echo "JNI_GXX=1: skipping cmake" > "$OUT/jni-build.log"
        build_jni_gxx "$src" "$bld" || return 1
    elif ! timeout 150 cmake "${args[@]}" > "$OUT/jni-build.log" 2>&1; then
        tail -40 "$OUT/jni-build.log"
        summary "jni-cmake   FAIL cmake configure failed (see jni-build.log); trying plain g++"
        build_jni_gxx "$src" "$bld" || return 1
    else
        grep -iE 'warning|error|torch|cuda' "$OUT/jni-build.log" | head -20
        if ! timeout "${JNI_BUILD_TIMEOUT:-330}" cmake --build "$bld" -j "$(nproc)" >> "$OUT/jni-build.log" 2>&1; then
            grep -E 'error|Error' "$OUT/jni-build.log" | head -40
            # Errors in USE_CUDA code (CUDA headers not found, say) go away without it.
            summary "jni-cmake   FAIL cmake build failed (first errors above); trying plain g++"
            mv "$OUT/jni-build.log" "$WORK/jni-cmake.log"
            { echo "cmake build failed; its errors:"; grep -E 'error' "$WORK/jni-cmake.log" | head -100; } > "$OUT/jni-build.log"
            build_jni_gxx "$src" "$bld" || return 1
        else
            JNI_BUILT="$bld/libdjl_torch.so"
        fi
    fi
    readelf -d "$JNI_BUILT" | grep -E 'NEEDED|RPATH|RUNPATH'
    LD_LIBRARY_PATH="$TORCH_LIB" ldd "$JNI_BUILT" | grep 'not found'
    gzip -9 -c "$JNI_BUILT" > "$OUT/libdjl_torch.so.gz"
    done_phase ok "$(du -h "$JNI_BUILT" | cut -f1) libdjl_torch.so, sha256 $(sha256sum "$JNI_BUILT" | cut -c1-16)"
}

# build_jni_gxx SRC BUILD: the same sources compiled with g++ directly, without torch's cmake
# config (whose CUDA detection is the likeliest thing to fail) and without USE_CUDA, which only
# adds torchCudaEmptyCache and a side stream for TorchScript modules; CUDA tensors still work
# since DJL loads libtorch_cuda.so, which registers the CUDA kernels. TORCH_INCLUDE overrides
# <torch>/include.
build_jni_gxx() {
    local src="$1" bld="$2" inc="${TORCH_INCLUDE:-$(dirname "$TORCH_LIB")/include}"
    rm -rf "$bld"; mkdir -p "$bld"
    local flags=(-O2 -fPIC -std=c++17 "-D_GLIBCXX_USE_CXX11_ABI=$TORCH_ABI" -I"$inc"
        -I"$inc/torch/csrc/api/include" -I"$CARRY/jni-include" -I"$src/build/include"
        -I"$CARRY/jni-src/api/src/main/native")
    [[ -n "${PT_VERSION:-}" ]] && flags+=(-D"$PT_VERSION")
    echo "g++ ${flags[*]}" | tee -a "$OUT/jni-build.log"
    if ! ls "$src"/src/main/native/*.cc | timeout "${JNI_BUILD_TIMEOUT:-330}" xargs -P "$(nproc)" -I{} \
            sh -c 'g++ "$@" -c "{}" -o "'"$bld"'/$(basename "{}" .cc).o"' _ "${flags[@]}" >> "$OUT/jni-build.log" 2>&1; then
        grep -E 'error' "$OUT/jni-build.log" | head -40
        done_phase FAIL "g++ compile failed (first errors above; all in jni-build.log)"
        return 1
    fi
    local libs=(-ltorch -ltorch_cpu -lc10)
    if ! g++ -shared -o "$bld/libdjl_torch.so" "$bld"/*.o -L"$TORCH_LIB" "${libs[@]}" \
            -Wl,-rpath,'$ORIGIN' >> "$OUT/jni-build.log" 2>&1; then
        tail -20 "$OUT/jni-build.log"
        done_phase FAIL "g++ link failed (see jni-build.log)"
        return 1
    fi
    JNI_BUILT="$bld/libdjl_torch.so"
}

place_jni() {
    phase jni-place
    local so="$1"
    export DJL_CACHE_DIR="$WORK/djl-cache"
    local dir="$DJL_CACHE_DIR/pytorch/$TORCH_VERSION-$TORCH_FLAVOR-linux-x86_64"
    rm -rf "$DJL_CACHE_DIR"; mkdir -p "$dir"
    if [[ "$so" == *.gz ]]; then gzip -dc "$so" > "$dir/$DJL_VERSION-libdjl_torch.so"; else cp "$so" "$dir/$DJL_VERSION-libdjl_torch.so"; fi
    # DJL finds the CUDA runtime with JNA as "cudart": point it at the file torch itself loads.
    rm -rf "$WORK/cudart"; mkdir -p "$WORK/cudart"
    [[ -n "${CUDART:-}" ]] && ln -s "$CUDART" "$WORK/cudart/libcudart.so"
    echo "JNI at $dir/$DJL_VERSION-libdjl_torch.so; PYTORCH_LIBRARY_PATH=$TORCH_LIB; cudart ${CUDART:-none}"
    done_phase ok "$dir"
}

# jd ARGS...: the CLI on the jlinked JRE, the slim jar and the shipped model's resource folder,
# with DJL pointed at the device's torch and the JNI in its cache. Never downloads. JD_TIMEOUT
# (seconds) limits the run.
jd() {
    timeout "${JD_TIMEOUT:-300}" env -u ENGINE_CACHE_DIR DJL_OFFLINE=true DJL_CACHE_DIR="$WORK/djl-cache" \
        PYTORCH_LIBRARY_PATH="$TORCH_LIB" PYTORCH_VERSION="$TORCH_VERSION" \
        PYTORCH_FLAVOR="$TORCH_FLAVOR" JDIFFUSION_CACHE="$WORK/jd-cache" \
        LD_LIBRARY_PATH="$TORCH_LIB${CUDART:+:$(dirname "$CUDART")}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        "$JAVA" -Djna.library.path="$WORK/cudart" ${JAVA_OPTS:-} \
        -cp "$CARRY/lib/jdiffusion-slim.jar:$ROOT/diffusion-examples/src/main/resources" "$MAIN" "$@"
}

# gen NAME TIMEOUT ARGS...: one generate run; its "done in" line goes to the summary.
gen() {
    local name="$1" limit="$2"; shift 2
    phase "$name"
    local log="$WORK/$name.out"
    JD_TIMEOUT="$limit" jd generate "$@" > "$log" 2>&1
    local rc=$?
    grep -vE '^generating step' "$log"
    local took; took="$(grep -oE 'done in [0-9.]+ s' "$log" | tail -1)"
    if [[ $rc == 0 ]]; then done_phase ok "$took: generate $*"; else done_phase FAIL "rc $rc: generate $*"; fi
    return $rc
}

compare() {
    phase "$1"
    local res; res="$(python3 "$ROOT/scripts/gpu/pngdiff.py" "$2" "$3" --max-mean "$4" 2>&1)"
    local rc=$?
    echo "$res"
    if [[ $rc == 0 ]]; then done_phase ok "$res"; else done_phase FAIL "$res"; fi
}

main() {
    echo "device-check for issue 19, $(date -u +%FT%TZ) on $(hostname), $(nproc) cores"
    [[ -f "$CARRY/MANIFEST.txt" ]] || { summary "no .gpu-carry/ here: run scripts/gpu/assemble-carry.sh and carry it"; return 1; }
    head -5 "$CARRY/MANIFEST.txt"
    rm -f "$OUT/summary.txt"
    probe_torch || return 1
    unpack_jre || return 1
    local so
    if build_jni; then
        so="$JNI_BUILT"
    elif [[ "$TORCH_FLAVOR" == cu* ]]; then
        echo "falling back to DJL's prebuilt cu128 JNI (built for torch 2.7.1: undefined symbols likely)"
        so="$CARRY/prebuilt/cu128-libdjl_torch.so.gz"
    else
        return 1
    fi
    [[ "${JNI_ONLY:-0}" == 1 ]] && return 0
    place_jni "$so"

    phase info
    if JD_TIMEOUT=60 jd info; then
        done_phase ok "info (reads configs only; TODO: info --check loads on CPU, it has no --device)"
    else
        done_phase FAIL "info"
    fi

    # Smoke: the engine loads the device's torch, sees the GPU, runs two steps; debug log shows
    # which native files were loaded.
    JAVA_OPTS="-Dorg.slf4j.simpleLogger.defaultLogLevel=debug" \
        gen smoke 120 --device "$DEVICE" --steps 2 --seed 1 -o "$WORK/smoke.png" || {
        grep -E 'LibUtils|UnsatisfiedLinkError|undefined symbol|Exception' "$WORK/smoke.out" | head -30
        summary "stopping: the engine does not run on $DEVICE"
        return 1
    }
    grep -E 'LibUtils - Loading native library' "$WORK/smoke.out" | sed 's/.*library: //' | tr '\n' ' '; echo

    # Same seed, same settings on CPU and GPU: the noise is drawn on the CPU (TorchCpuNoise), so
    # the images must agree up to floating-point differences (cuDNN may use TF32 convolutions).
    gen cpu-images 180 --device cpu --seed 13 -n 4 --sheet "$WORK/cpu-sheet.png" -o "$WORK/cpu"
    gen gpu-images 120 --device "$DEVICE" --seed 13 -n 4 --sheet "$WORK/gpu-sheet.png" -o "$WORK/gpu"
    compare cpu-vs-gpu "$WORK/cpu-sheet.png" "$WORK/gpu-sheet.png" 1.0

    # Throughput: the "done in" lines (generation only, after the model is loaded).
    gen cpu-time-16 180 --device cpu --seed 21 -n 16 -o "$WORK/t-cpu"
    gen gpu-time-16 120 --device "$DEVICE" --seed 21 -n 16 -o "$WORK/t-gpu16"
    gen gpu-time-64 150 --device "$DEVICE" --seed 21 -n 64 --scale 1 -o "$WORK/t-gpu64"
    gen gpu-half 120 --device "$DEVICE" --half --seed 13 -n 4 --sheet "$WORK/gpu-half-sheet.png" -o "$WORK/half" \
        && compare half-vs-fp32 "$WORK/gpu-sheet.png" "$WORK/gpu-half-sheet.png" 4.0

    [[ "${NO_BENCH:-0}" == 1 ]] || bench
}

# The side-by-side benchmark: jdiffusion's bench and diffusers_bench.py on the same shapes.
bench() {
    local latent="${BENCH_LATENT:-64}" steps="${BENCH_STEPS:-20}" repeat="${BENCH_REPEAT:-3}"
    local dtypes="${BENCH_DTYPES:-fp32 fp16}" pydevice d
    case "$DEVICE" in
        gpu) pydevice=cuda ;;
        gpu:*) pydevice="cuda:${DEVICE#gpu:}" ;;
        *) pydevice=cpu ;;
    esac
    # The options both sides take; jdiffusion also needs a work folder and a tokenizer.
    local pycommon=(--only unet-sd15,vae,pipeline-sd15 --batch 2 --latent-size "$latent"
        --steps "$steps" --repeat "$repeat" --warmup 1)
    [[ -n "${BENCH_UNET:-}" ]] && pycommon+=(--unet-config "$BENCH_UNET")
    local common=("${pycommon[@]}" --work "$WORK/bench"
        --tokenizer "$ROOT/diffusion-djl/src/test/resources/fixtures/clip")
    local pairs=()
    for d in $dtypes; do
        phase "bench-jd-$d"
        local half=(); [[ $d == fp16 ]] && half=(--half)
        JD_TIMEOUT=300 jd bench --device "$DEVICE" "${half[@]}" "${common[@]}" > "$OUT/bench-jdiffusion-$d.txt" 2>&1
        local rc=$?
        grep -E '^(device|UNet|SD 1.5|forward|[0-9]+ steps|steps per|peak GPU|FAILED|writing)' "$OUT/bench-jdiffusion-$d.txt"
        if [[ $rc == 0 ]] && ! grep -q '| failed |' "$OUT/bench-jdiffusion-$d.txt"; then
            done_phase ok "$(grep -E '^\| (unet-sd15|pipeline-sd15) \| (forward batch 2|steps per)' "$OUT/bench-jdiffusion-$d.txt" | awk -F'|' '{printf "%s %s %s; ", $3, $4, $5}')"
        else
            done_phase FAIL "rc $rc (see bench-jdiffusion-$d.txt)"
        fi
        pairs+=("$d" "$OUT/bench-jdiffusion-$d.txt" "$OUT/bench-diffusers-$d.md")
    done

    phase bench-py-src
    rm -rf "$WORK/py"; mkdir -p "$WORK/py"
    local ok=1 f
    for f in diffusers hub; do
        untar_xz "$CARRY/python/$f-src.txz" "$WORK/py/$f" || ok=0
    done
    if [[ $ok == 1 ]]; then done_phase ok "$(grep -E '^(diffusers|huggingface_hub) ' "$CARRY/MANIFEST.txt" | tr '\n' ' ')"; else done_phase FAIL "no diffusers sources in .gpu-carry/python"; return 1; fi

    phase bench-diffusers
    PYTHONPATH="$ROOT/scripts/reference:$WORK/py/diffusers/src:$WORK/py/hub/src" HF_HUB_OFFLINE=1 \
        timeout 300 python3 "$ROOT/scripts/gpu/diffusers_bench.py" --device "$pydevice" \
        --dtype "$(echo $dtypes | tr ' ' ,)" "${pycommon[@]}" --markdown "$OUT/bench-diffusers-{dtype}.md" \
        > "$OUT/bench-diffusers.log" 2>&1
    local rc=$?
    grep -vE '^\|' "$OUT/bench-diffusers.log" | grep -vE '^\s+(File|\^)' | tail -60
    if [[ $rc == 0 ]]; then done_phase ok "$(grep -E '^(diffusers|device) ' "$OUT/bench-diffusers.log" | head -2 | tr '\n' ' ')"; else done_phase FAIL "rc $rc (see bench-diffusers.log)"; fi

    phase bench-ratio
    if python3 "$ROOT/scripts/gpu/bench_ratio.py" "${pairs[@]}" > "$OUT/bench-ratio.md" 2>&1; then
        cat "$OUT/bench-ratio.md"
        done_phase ok "bench-ratio.md: $(grep -cE '^\| (unet|vae|pipeline)' "$OUT/bench-ratio.md") rows"
    else
        cat "$OUT/bench-ratio.md"
        done_phase FAIL "no figures to join"
    fi
}

main 2>&1 | tee -a "$OUT/log"
RC=${PIPESTATUS[0]}
for f in cpu-sheet.png gpu-sheet.png gpu-half-sheet.png; do
    [[ -f "$WORK/$f" ]] && cp "$WORK/$f" "$OUT/$f"
done
{ echo; echo "total $(( $(date +%s) - T0 ))s, exit $RC"; } | tee -a "$OUT/log" >> "$OUT/summary.txt"
exit $RC
