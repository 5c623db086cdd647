"""Namespace files rendered once per shape (genpolicy.render.shapes) are the files a direct render writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bundles import write_certificate
from conftest import write_spec
from genpolicy import render as render_package
from genpolicy.pipeline import RenderOptions, render
from genpolicy.render import context, shapes

SPEC = """
apiVersion: genpolicy/v1alpha1
kind: PullSecretSpec
outputDir: out
allowPlaintext: true
registries:
  - name: ghcr
    server: ghcr.io
    credentials:
      fromEnv: {username: REG_USER, password: REG_PASS}
  - name: vault
    server: registry.example.com:5000/team
    credentials:
      externalSecret: {store: {name: vault}, remoteKey: registry/team}
clusters:
  - name: prod
    kubernetesVersion: "1.33"
    gitops: argocd
    CLUSTER_EXTRA
namespaceGroups:
  - name: apps
    namespaces: [NAMESPACES]
    registries: [ghcr, vault]
    serviceAccounts: [default, builder]
    helmValues: {enabled: true}
  - name: other
    namespaces: [zz-other]
    registries: [ghcr]
"""
ENV = {"REG_USER": "octo-user", "REG_PASS": "s3cr3t-Pa55:w0rd"}
# names that also occur elsewhere in the files (account, registry, group, cluster, Secret names), the longest
# label, and names around the sentinel
TRICKY = ["default", "builder", "ghcr", "vault", "apps", "prod", "ghcr-pull", "a", "x" * 63,
          shapes.NAMESPACE_SENTINEL[:-1], "zz-genpolicy", "123", "null", "yes", "y", "on", "1e3", "0x1f"]
LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)


def _files(spec: Path) -> dict[str, bytes]:
    result = render(RenderOptions(spec, output=spec.parent / "out", environ=ENV))
    return {path: file.content() for path, file in result.bundle.files.items()}


def _spec(folder: Path, namespaces: list[str], cluster_extra: str = "") -> Path:
    return write_spec(folder, SPEC.replace("NAMESPACES", ", ".join(f"'{n}'" for n in namespaces))
                      .replace("CLUSTER_EXTRA", cluster_extra))


def _direct(monkeypatch: pytest.MonkeyPatch) -> None:
    """No shapes and no document memo: every document rendered from its template for its namespace."""
    monkeypatch.setattr(shapes.NamespaceShapes, "_learn", staticmethod(lambda target, direct: None))
    monkeypatch.setattr(context, "_MEMO_TEMPLATES", frozenset())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.sampled_from(TRICKY), LABEL), min_size=1, max_size=6, unique=True)
       .filter(lambda names: "zz-other" not in names))
def test_shaped_files_are_byte_identical_to_a_direct_render(tmp_path_factory: pytest.TempPathFactory,
                                                           namespaces: list[str]) -> None:
    spec = _spec(tmp_path_factory.mktemp("spec"), namespaces)
    shaped = _files(spec)
    with pytest.MonkeyPatch.context() as patch:
        _direct(patch)
        direct = _files(spec)
    assert shaped == direct
    assert all(f"prod/namespaces/{n}.yaml" in shaped and f"prod/helm-values/{n}.yaml" in shaped for n in namespaces)


def _count_direct_renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    rendered: list[str] = []
    real = render_package._namespace_files

    def counting(*args: Any) -> list[str]:
        rendered.append(args[4].namespace)  # (ctx, secrets, folder, header, target, bundle)
        return real(*args)

    monkeypatch.setattr(render_package, "_namespace_files", counting)
    return rendered


def test_each_shape_is_rendered_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rendered = _count_direct_renders(monkeypatch)
    files = _files(_spec(tmp_path, [f"team-{i:02d}" for i in range(30)]))
    assert sorted(rendered) == [shapes.NAMESPACE_SENTINEL] * 2, "one sentinel render per group: apps, other"
    assert len([p for p in files if "/namespaces/team-" in p]) == 30


def test_encrypting_backends_render_every_namespace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sealing encrypts for one namespace (and reuses what is on disk): no shape may stand in for it."""
    cert, _ = write_certificate(tmp_path / "certs")
    spec = _spec(tmp_path, ["team-a", "team-b"], "backend: sealed-secrets\n    sealedSecrets: {certificate: "
                 f"{cert}}}")
    rendered = _count_direct_renders(monkeypatch)
    files = _files(spec)
    assert sorted(rendered) == ["team-a", "team-b", "zz-other"]
    assert b"kind: SealedSecret" in files["prod/namespaces/team-a.yaml"]


def test_a_failing_shape_is_reported_for_the_real_namespace(tmp_path: Path) -> None:
    """Errors of the sentinel render are not shown: the direct render reports them with the real name."""
    from genpolicy.errors import GenpolicyError

    spec = _spec(tmp_path, ["team-a"])
    with pytest.raises(GenpolicyError) as raised:
        render(RenderOptions(spec, output=tmp_path / "out", environ={"REG_USER": "u"}))  # no REG_PASS
    assert shapes.NAMESPACE_SENTINEL not in str(raised.value) + repr(raised.value.problems)
