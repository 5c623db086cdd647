"""Two renders of one folder never interleave: a render parked between plan and apply (issue 19, item 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli
from genpolicy import writer
from genpolicy.errors import WriteError
from genpolicy.pipeline import RenderOptions, render


def test_render_parked_between_plan_and_apply_writes_nothing(plain_spec: Path, plain_env: dict[str, str]) -> None:
    out = plain_spec.parent / "out"
    assert run_cli("render", plain_spec, env=plain_env).code == 0
    plain_spec.write_text(plain_spec.read_text().replace("[alpha, beta]", "[alpha, gamma]"))
    parked = render(RenderOptions(plain_spec, environ=plain_env))  # planned, e.g. --diff into a slow pipe
    other = plain_spec.parent / "other.yaml"
    other.write_text(plain_spec.read_text().replace("[alpha, gamma]", "[alpha, delta]"))
    assert run_cli("render", other, env=plain_env).code == 0
    before = {str(p): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(WriteError, match="changed while rendering"):
        writer.apply(parked.plan)
    assert {str(p): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    record = json.loads((out / writer.OWNED_FILE).read_text())["files"]
    assert all((out / rel).is_file() for rel in record), "the owned record matches the files"
    assert run_cli("render", plain_spec, env=plain_env).code == 0, "later renders still work"
    assert (out / "prod/namespaces/gamma.yaml").is_file() and not (out / "prod/namespaces/delta.yaml").exists()
