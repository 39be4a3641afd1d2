#!/usr/bin/env bash
# Build the ageshift image and smoke-test it: translate a photo, then serve the page and fetch it.
#
#   scripts/docker-smoke-test.sh                  # docker, else podman; base image python:3.11-slim
#   scripts/docker-smoke-test.sh --debootstrap    # first build a local Debian base (no registry needed)
#   ENGINE=podman BASE_IMAGE=my/base IMAGE=ageshift:test scripts/docker-smoke-test.sh
#   BUILD_VOLUMES=/opt/wheels:/wheels:ro TORCH_PIP_ARGS="--find-links /wheels torch==2.13.0+cpu" \
#       scripts/docker-smoke-test.sh --debootstrap   # torch from a local wheel (no download.pytorch.org)
#   (add BUILD_VOLUMES=".../ca.crt:/ca.crt:ro" PIP_CERT_IN_BUILD=/ca.crt behind a TLS-inspecting proxy;
#   BUILD_EVEN_IF_NO_RUN=1 builds even where the engine cannot start containers, then skips the run checks)
#
# Exit codes: 0 passed; 1 a check failed; 77 no working container engine (the test that runs this skips).
# --debootstrap makes `ageshift-debian:bookworm` from Debian's archive with debootstrap (root needed) and
# uses it as the BASE_IMAGE build argument, for machines that reach the Debian archive but no registry.
set -euo pipefail
cd "$(dirname "$0")/.."

skip() { echo "skip: $*" >&2; exit 77; }
fail() { echo "FAILED: $*" >&2; exit 1; }

debootstrap_base=false
for argument in "$@"; do
    case "$argument" in
        --debootstrap) debootstrap_base=true ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) fail "unknown argument $argument" ;;
    esac
done

ENGINE=${ENGINE:-}
if [[ -z "$ENGINE" ]]; then
    for candidate in docker podman; do
        if command -v "$candidate" >/dev/null 2>&1 && "$candidate" info >/dev/null 2>&1; then
            ENGINE=$candidate
            break
        fi
    done
fi
[[ -n "$ENGINE" ]] || skip "no working docker or podman (installed: $(command -v docker podman | tr '\n' ' ')none reachable)"
"$ENGINE" info >/dev/null 2>&1 || skip "$ENGINE is installed but does not work here ($ENGINE info fails)"

IMAGE=${IMAGE:-ageshift:smoke-test}
PORT=${PORT:-17860}
BASE_IMAGE=${BASE_IMAGE:-}
work=$(mktemp -d)
container=""
cleanup() {
    [[ -n "$container" ]] && "$ENGINE" rm -f "$container" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

if $debootstrap_base; then
    command -v debootstrap >/dev/null 2>&1 || skip "--debootstrap needs debootstrap (apt-get install debootstrap)"
    BASE_IMAGE=ageshift-debian:bookworm
    if ! "$ENGINE" image exists "$BASE_IMAGE" 2>/dev/null && ! "$ENGINE" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
        echo "== building the base image $BASE_IMAGE with debootstrap"
        debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
            bookworm "$work/rootfs" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$work/debootstrap.log" 2>&1 \
            || { tail -20 "$work/debootstrap.log"; fail "debootstrap"; }
        tar -C "$work/rootfs" -c . | "$ENGINE" import - "$BASE_IMAGE" >/dev/null
        rm -rf "$work/rootfs"
    fi
fi

# Before the long build: is the base image here (or can it be pulled), and can this engine start containers?
base=${BASE_IMAGE:-python:3.11-slim}
if ! "$ENGINE" image inspect "$base" >/dev/null 2>&1; then
    "$ENGINE" pull "$base" >/dev/null 2>&1 \
        || skip "base image $base is not here and cannot be pulled (no registry?); try --debootstrap"
fi
if ! probe=$("$ENGINE" run --rm --entrypoint /bin/sh "$base" -c true 2>&1); then
    [[ -n "${BUILD_EVEN_IF_NO_RUN:-}" ]] || skip "$ENGINE cannot start containers here: $(tail -1 <<<"$probe")"
    echo "warning: $ENGINE cannot start containers here; building only (BUILD_EVEN_IF_NO_RUN)" >&2
fi

echo "== building $IMAGE with $ENGINE${BASE_IMAGE:+ (BASE_IMAGE=$BASE_IMAGE)}"
build_arguments=()
[[ -n "$BASE_IMAGE" ]] && build_arguments+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
[[ -n "${TORCH_PIP_ARGS:-}" ]] && build_arguments+=(--build-arg "TORCH_PIP_ARGS=$TORCH_PIP_ARGS")
[[ -n "${PIP_CERT_IN_BUILD:-}" ]] && build_arguments+=(--build-arg "PIP_CERT=$PIP_CERT_IN_BUILD")
# BUILD_VOLUMES="/opt/wheels:/wheels:ro ...": folders mounted during the build (podman), e.g. a local wheel.
for volume in ${BUILD_VOLUMES:-}; do build_arguments+=(-v "$volume"); done
# podman's chroot isolation builds where the OCI runtime cannot start containers (no cgroup or rlimit
# rights, e.g. inside another container); BUILD_ISOLATION=oci restores the default.
[[ "$(basename "$ENGINE")" == podman ]] && build_arguments+=(--isolation "${BUILD_ISOLATION:-chroot}")
"$ENGINE" build "${build_arguments[@]}" -t "$IMAGE" . || fail "image build"

echo "== the entrypoint is ageshift"
if ! help_text=$("$ENGINE" run --rm "$IMAGE" --help 2>&1); then
    if grep -qiE "OCI|cgroup|permission denied|runtime" <<<"$help_text"; then
        skip "the image $IMAGE built, but $ENGINE cannot start containers here: $(tail -1 <<<"$help_text")"
    fi
    fail "ageshift --help: $help_text"
fi
grep -q "translate" <<<"$help_text" || fail "ageshift --help does not list translate"

echo "== translate a photo"
chmod 777 "$work"  # the container runs as an unprivileged user
"$ENGINE" run --rm --entrypoint python -v "$work:/work" "$IMAGE" -c \
    "import numpy; from PIL import Image; Image.fromarray(numpy.random.default_rng(0).integers(0, 256, (96, 80, 3), dtype=numpy.uint8)).save('/work/photo.png')" \
    || fail "writing a test photo"
"$ENGINE" run --rm -v "$work:/work" "$IMAGE" translate identity photo.png translated.png --direction older || fail "translate"
[[ -s "$work/translated.png" ]] || fail "translate wrote no image"

echo "== serve on 0.0.0.0 inside the container, published on 127.0.0.1:$PORT"
container=$("$ENGINE" run -d -p "127.0.0.1:$PORT:7860" "$IMAGE" serve --host 0.0.0.0 --port 7860 --model identity)
page=""
for _ in $(seq 1 120); do
    if page=$(curl -fsS "http://127.0.0.1:$PORT/" 2>/dev/null) && [[ -n "$page" ]]; then
        break
    fi
    sleep 1
done
[[ -n "$page" ]] || { "$ENGINE" logs "$container" | tail -30; fail "the page did not answer on port $PORT"; }
grep -qi "<html" <<<"$page" || fail "the answer on port $PORT is not an HTML page"
echo "smoke test passed: $IMAGE"
