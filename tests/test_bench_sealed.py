"""The sealed worker benchmark's spec: genpolicy seals every namespace Secret for it; no private key is written."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_sealed  # noqa: E402
from bench_render import make_spec  # noqa: E402

from genpolicy.pipeline import RenderOptions, render  # noqa: E402


def test_the_sealed_spec_renders_sealed_secrets_only(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, 3, 2, 1, clusters=2)
    bench_sealed.seal(spec)
    env = {"BENCH_PASS_0": "bench-password-0", "BENCH_PASS_1": "bench-password-1"}
    result = render(RenderOptions(spec, output=tmp_path / "out", environ=env))
    manifests = [f.content() for p, f in result.bundle.files.items() if "/namespaces/ns-" in p]
    assert len(manifests) == 6 and all(m.count(b"kind: SealedSecret") == 2 for m in manifests)
    assert not any(b"bench-password" in m or b"kind: Secret\n" in m for m in manifests)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["sealed-secrets.pem", "spec.yaml"]
    assert b"PRIVATE KEY" not in (tmp_path / "sealed-secrets.pem").read_bytes()
