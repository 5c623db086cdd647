"""The real helm v3 (built by .ci/real-tools) reads genpolicy's values files: Pods get exactly the expected names.

Every values file and values ConfigMap of the committed example renders (out/, kept current by
`render --check` in CI) is passed to `helm template` of a `helm create` chart (`.Values.imagePullSecrets`)
and of a small chart that reads `global.imagePullSecrets`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import ROOT
from realtools import require

GLOBAL_POD = """apiVersion: v1
kind: Pod
metadata:
  name: global-reader
spec:
  {{- with .Values.global.imagePullSecrets }}
  imagePullSecrets:
  {{- range . }}
    - name: {{ if kindIs "string" . }}{{ . }}{{ else }}{{ .name }}{{ end }}
  {{- end }}
  {{- end }}
  containers:
    - name: app
      image: busybox
"""


def helm(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    tool = require("helm")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(cwd), "HELM_CACHE_HOME": str(cwd / "cache"),
           "HELM_CONFIG_HOME": str(cwd / "config"), "HELM_DATA_HOME": str(cwd / "data")}
    return subprocess.run([tool.path, *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=120, check=False)


@pytest.fixture(scope="module")
def charts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("charts")
    proc = helm("create", "app", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    assert ".Values.imagePullSecrets" in (folder / "app/templates/deployment.yaml").read_text()
    shutil.rmtree(folder / "app/templates/tests")  # its `helm test` Pod is not what the values configure
    reader = folder / "global-reader"
    (reader / "templates").mkdir(parents=True)
    (reader / "Chart.yaml").write_text("apiVersion: v2\nname: global-reader\nversion: 0.1.0\n")
    (reader / "values.yaml").write_text("global:\n  imagePullSecrets: []\n")
    (reader / "templates/pod.yaml").write_text(GLOBAL_POD)
    return {"imagePullSecrets": folder / "app", "global.imagePullSecrets": reader}


def values_sources() -> list[tuple[str, str]]:
    """(label, values text): every committed values file and every values ConfigMap's `values.yaml`."""
    found = [(str(p.relative_to(ROOT)), p.read_text()) for p in sorted((ROOT / "out").rglob("helm-values/*.yaml"))]
    for path in sorted((ROOT / "out").rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "ConfigMap" and "values.yaml" in (doc.get("data") or {}):
                label = f"{path.relative_to(ROOT)} ConfigMap {doc['metadata']['name']}"
                found.append((label, doc["data"]["values.yaml"]))
    return found


def expected_names(values: dict[str, Any], key: str) -> list[str] | None:
    node: Any = values
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return [item["name"] if isinstance(item, dict) else item for item in node]


def pod_pull_secrets(rendered: str) -> list[str]:
    pods = []
    for doc in yaml.safe_load_all(rendered):
        if isinstance(doc, dict) and doc.get("kind") in ("Deployment", "Pod"):
            spec = doc["spec"]["template"]["spec"] if doc["kind"] == "Deployment" else doc["spec"]
            pods.append([s["name"] for s in spec.get("imagePullSecrets") or []])
    assert len(pods) == 1, rendered
    return pods[0]


def template(chart: Path, values: Path | None, cwd: Path) -> list[str]:
    proc = helm("template", "release", chart, *(["-f", values] if values else []), cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return pod_pull_secrets(proc.stdout)


SOURCES = values_sources()


def test_the_examples_have_values_files_and_config_maps() -> None:
    assert len([s for s in SOURCES if "ConfigMap" in s[0]]) >= 1 and len(SOURCES) >= 10


@pytest.mark.parametrize(("label", "text"), SOURCES, ids=[s[0] for s in SOURCES])
def test_helm_template_gives_pods_exactly_the_names(charts: dict[str, Path], tmp_path: Path, label: str,
                                                    text: str) -> None:
    values = yaml.safe_load(text)
    path = tmp_path / "values.yaml"
    path.write_text(text)
    checked = 0
    for key, chart in charts.items():
        names = expected_names(values, key)
        if names is None:
            continue
        assert names and len(set(names)) == len(names), label
        assert template(chart, path, tmp_path) == names, f"{label}: {key}"
        checked += 1
    assert checked, f"{label}: neither imagePullSecrets nor global.imagePullSecrets"


def test_helm_template_shows_wrong_values_as_wrong_names(charts: dict[str, Path], tmp_path: Path) -> None:
    distinct = {}
    for label, text in SOURCES:
        names = expected_names(yaml.safe_load(text), "imagePullSecrets")
        if names:
            distinct.setdefault(tuple(names), (label, text))
    assert len(distinct) >= 2, "the examples should have namespaces with different pull secrets"
    (first, (_, text_a)), (second, _) = list(distinct.items())[:2]
    path = tmp_path / "values.yaml"
    path.write_text(text_a)
    for chart in charts.values():
        got = template(chart, path, tmp_path)
        assert got == list(first) and got != list(second)
        assert template(chart, None, tmp_path) == []  # without genpolicy's values: no pull secrets
