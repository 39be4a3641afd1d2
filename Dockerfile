# ageshift on the CPU: `ageshift` is the entrypoint, ageshift[all] and its weight-only packages are installed.
#
#   docker build -t ageshift .                                    # base image: python:3.11-slim
#   docker build --build-arg BASE_IMAGE=ageshift-debian:bookworm -t ageshift .   # any Debian/Ubuntu base
#   docker run --rm -v "$PWD:/work" ageshift translate identity photo.jpg out.png --direction older
#   docker run --rm -p 127.0.0.1:7860:7860 ageshift serve --host 0.0.0.0 --port 7860 --model identity
#
# `serve` binds 127.0.0.1 by default, which inside a container no one outside it can reach: pass
# `--host 0.0.0.0` (it then listens on every interface *of the container*) and publish the port with -p;
# `-p 127.0.0.1:7860:7860` keeps it reachable from this host only. scripts/docker-smoke-test.sh builds
# and checks the image with docker or podman.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

# How pip gets the CPU build of torch (e.g. "--find-links /wheels torch==2.13.0+cpu" for a local wheel).
ARG TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu torch"
ARG EXTRAS=all
# A CA bundle for pip behind a TLS-inspecting proxy (mounted at build time); unset by default.
ARG PIP_CERT
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# A bare Debian base (made with debootstrap) has no Python; OpenCV (the MTCNN face detector) needs libGL
# and GLib. A virtual environment keeps pip away from the system Python of Debian bases (PEP 668).
RUN set -eux; \
    packages="libgl1 libglib2.0-0"; \
    if ! command -v python3 >/dev/null; then packages="$packages python3 python3-venv ca-certificates"; fi; \
    apt-get update; \
    apt-get install -y --no-install-recommends $packages; \
    rm -rf /var/lib/apt/lists/*; \
    python3 -m venv /opt/venv

# The CPU build of torch first, so ageshift's `torch` requirement does not pull the CUDA wheels.
RUN pip install ${TORCH_PIP_ARGS}

WORKDIR /opt/ageshift
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install ".[${EXTRAS}]" && ageshift install-assets && rm -rf /opt/ageshift/build

RUN useradd --create-home --uid 1000 ageshift && mkdir -p /work && chown ageshift /work
USER ageshift
WORKDIR /work
EXPOSE 7860
ENTRYPOINT ["ageshift"]
CMD ["--help"]
