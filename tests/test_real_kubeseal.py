"""The real kubeseal (bitnami-labs/sealed-secrets, built by .ci/real-tools) opens genpolicy's SealedSecrets."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bundles import Bundle, dockerconfigjson, plain_secrets, render_example, write_certificate
from realtools import require

SCOPES = ["strict", "namespace-wide", "cluster-wide"]
SCOPE_PREFIX = "sealedsecrets.bitnami.com/"


def kubeseal(*args: str | Path, stdin: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    tool = require("kubeseal")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(cwd), "KUBECONFIG": str(cwd / "no-kubeconfig")}
    return subprocess.run([tool.path, *map(str, args)], input=stdin, capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=60, check=False)


def sealed_secrets(bundle: Bundle) -> list[dict[str, Any]]:
    found = [d for p in sorted((bundle.out / "prod").rglob("*.yaml")) for d in yaml.safe_load_all(p.read_text())
             if isinstance(d, dict) and d.get("kind") == "SealedSecret"]
    assert found
    return found


def unseal(bundle: Bundle, sealed: dict[str, Any], key: Path) -> subprocess.CompletedProcess[str]:
    return kubeseal("--recovery-unseal", "--recovery-private-key", key, "-o", "yaml",
                    stdin=yaml.safe_dump(sealed), cwd=bundle.folder)


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str, str], dict[str, Any]]:
    return plain_secrets(tmp_path_factory.mktemp("plain"))


@pytest.mark.parametrize("scope", SCOPES)
def test_real_kubeseal_unseals_every_sealed_secret(tmp_path: Path, scope: str, expected: dict[Any, Any]) -> None:
    bundle = render_example(tmp_path, scope)
    for sealed in sealed_secrets(bundle):
        proc = unseal(bundle, sealed, bundle.private_key)
        assert proc.returncode == 0, proc.stderr
        secret = yaml.safe_load(proc.stdout)
        meta = sealed["metadata"]
        plain = expected[("prod", meta["namespace"], meta["name"])]
        assert dockerconfigjson(secret) == dockerconfigjson(plain)
        assert secret["type"] == "kubernetes.io/dockerconfigjson"
        assert (secret["metadata"]["name"], secret["metadata"]["namespace"]) == (meta["name"], meta["namespace"])


def test_real_kubeseal_refuses_a_wrong_private_key(tmp_path: Path) -> None:
    bundle = render_example(tmp_path)
    _, wrong = write_certificate(tmp_path / "other", "wrong")
    proc = unseal(bundle, sealed_secrets(bundle)[0], wrong)
    assert proc.returncode != 0 and "decrypt" in proc.stderr.lower()


def structure(sealed: dict[str, Any]) -> dict[str, Any]:
    """What must agree with kubeseal's own output: scope annotations, template metadata, data keys."""
    annotations = sealed["metadata"].get("annotations") or {}
    template = sealed["spec"]["template"]
    template_meta = template["metadata"]
    return {"name": sealed["metadata"]["name"], "namespace": sealed["metadata"]["namespace"],
            "scope": {k: v for k, v in annotations.items() if k.startswith(SCOPE_PREFIX)},
            "template": {"name": template_meta.get("name"), "namespace": template_meta.get("namespace"),
                         "labels": template_meta.get("labels") or {},
                         "annotations": {k: v for k, v in (template_meta.get("annotations") or {}).items()
                                         if k.startswith(SCOPE_PREFIX)}},
            "type": template.get("type"), "keys": sorted(sealed["spec"]["encryptedData"])}


@pytest.mark.parametrize("scope", SCOPES)
def test_kubeseal_output_has_the_same_structure(tmp_path: Path, scope: str, expected: dict[Any, Any]) -> None:
    bundle = render_example(tmp_path, scope)
    for ours in sealed_secrets(bundle):
        meta = ours["metadata"]
        plain = expected[("prod", meta["namespace"], meta["name"])]
        plain = {**plain, "metadata": {k: v for k, v in plain["metadata"].items() if k != "annotations"}}
        proc = kubeseal("--cert", bundle.cert, "--scope", scope, "-o", "yaml", stdin=yaml.safe_dump(plain),
                        cwd=bundle.folder)
        assert proc.returncode == 0, proc.stderr
        theirs = yaml.safe_load(proc.stdout)
        assert structure(ours) == structure(theirs)
        assert bool(structure(ours)["scope"]) == (scope != "strict")
        opened = unseal(bundle, theirs, bundle.private_key)  # and kubeseal's own output opens the same way
        assert opened.returncode == 0 and dockerconfigjson(yaml.safe_load(opened.stdout)) == dockerconfigjson(plain)
