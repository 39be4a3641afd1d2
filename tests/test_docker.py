"""The Docker image: scripts/docker-smoke-test.sh builds it and checks translate and serve, where an engine works.

Building the image installs torch and ageshift[all] (several minutes, network to the package indexes), so
the test is slow; without a working docker or podman it is skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "docker-smoke-test.sh"
SKIPPED = 77


def working_engine() -> tuple[str | None, str]:
    """(the first of docker/podman whose ``info`` works, or None; why none works)."""
    reasons = []
    for name in ("docker", "podman"):
        if shutil.which(name) is None:
            reasons.append(f"{name} not installed")
            continue
        try:
            result = subprocess.run([name, "info"], capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            reasons.append(f"{name} info timed out")
            continue
        if result.returncode == 0:
            return name, ""
        last = (result.stderr.strip().splitlines() or ["fails"])[-1]
        reasons.append(f"{name} info: {last[:160]}")
    return None, "; ".join(reasons)


def test_dockerfile_takes_the_base_image_as_a_build_argument():
    text = (ROOT / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim" in text and "FROM ${BASE_IMAGE}" in text
    assert 'ENTRYPOINT ["ageshift"]' in text and "install-assets" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".git" in ignored and ".venv" in ignored


@pytest.mark.slow
def test_image_builds_translates_and_serves():
    engine, reason = working_engine()
    if engine is None:
        pytest.skip(f"no working container engine: {reason}")
    arguments = ["--debootstrap"] if os.environ.get("AGESHIFT_DOCKER_DEBOOTSTRAP") else []
    result = subprocess.run(
        ["bash", str(SCRIPT), *arguments],
        env={**os.environ, "ENGINE": engine},
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if result.returncode == SKIPPED:
        pytest.skip(result.stderr.strip().splitlines()[-1])
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "smoke test passed" in result.stdout
