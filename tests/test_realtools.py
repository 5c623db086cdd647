"""tests/realtools.py: a missing real tool skips with the reason, or fails when CI requires the tools."""

from __future__ import annotations

from pathlib import Path

import pytest

import realtools


def test_missing_tool_skips_with_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENPOLICY_TOOLS", str(tmp_path))
    monkeypatch.delenv("GENPOLICY_REQUIRE_REAL_TOOLS", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"real sops not built .*sops-3\.13\.3/sops.*real-tools sops"):
        realtools.require("sops")


def test_missing_tool_fails_when_required(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENPOLICY_TOOLS", str(tmp_path))
    monkeypatch.setenv("GENPOLICY_REQUIRE_REAL_TOOLS", "1")
    with pytest.raises(pytest.fail.Exception, match="GENPOLICY_REQUIRE_REAL_TOOLS=1"):
        realtools.require("helm")


def test_a_built_tool_is_found_and_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENPOLICY_TOOLS", str(tmp_path))
    monkeypatch.setattr(realtools, "USED", set())
    binary = tmp_path / "kubeseal-0.36.6" / "kubeseal"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    assert realtools.require("kubeseal").path == binary
    assert realtools.summary() == "real tools run: kubeseal 0.36.6"
