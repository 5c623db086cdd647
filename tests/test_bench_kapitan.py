"""benchmarks/bench_kapitan.py: the kapitan project it writes, the object-set check, a real kapitan compile."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_kapitan  # noqa: E402
import kapitan_component  # noqa: E402
from bench_render import make_spec  # noqa: E402

ENV = {"BENCH_PASS_0": "bench-password-0", "BENCH_PASS_1": "bench-password-1"}
# 2 clusters x (4 namespaces x (2 Secrets + 2 ServiceAccounts) + 4 Helm values + 2 kustomizations)
OBJECTS = 2 * (4 * 4 + 4 + 2)


def spec_of(folder: Path, namespaces: int = 4, kyverno_groups: int = 0) -> tuple[Path, dict[str, Any]]:
    folder.mkdir(parents=True, exist_ok=True)
    path = make_spec(folder, namespaces, 2, 2, clusters=2, kyverno_groups=kyverno_groups)
    return path, yaml.safe_load(path.read_text())


def genpolicy_render(spec: Path) -> Path:
    env = {**os.environ, **ENV, "XDG_CACHE_HOME": str(spec.parent / "cache")}
    subprocess.run([sys.executable, "-m", "genpolicy", "render", str(spec)], env=env, check=True,
                   capture_output=True)
    return spec.parent / "out"


def params_of(project: Path, cluster: str) -> dict[str, Any]:
    """The target's `genpolicy` parameters as kapitan merges them: the class, then the target."""
    common = yaml.safe_load((project / "inventory" / "classes" / "genpolicy.yml").read_text())
    target = yaml.safe_load((project / "inventory" / "targets" / f"{cluster}.yml").read_text())
    return {**common["parameters"]["genpolicy"], **target["parameters"]["genpolicy"]}


def compile_without_kapitan(project: Path, clusters: list[str]) -> Path:
    """What kapitan writes for the kadet component: a file per key, a list as a multi-document file."""
    compiled = project / "compiled"
    for cluster in clusters:
        for key, value in kapitan_component.bundle(params_of(project, cluster)).items():
            path = compiled / cluster / f"{key}.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            dump = yaml.safe_dump_all if isinstance(value, list) else yaml.safe_dump
            path.write_text(dump(value))
    return compiled


def test_the_inventory_has_a_target_per_cluster_listing_every_namespace(tmp_path: Path) -> None:
    _, spec = spec_of(tmp_path, namespaces=5)
    bench_kapitan.write_project(bench_kapitan.bundle_of(spec, ENV), tmp_path / "kapitan")
    targets = sorted(p.stem for p in (tmp_path / "kapitan" / "inventory" / "targets").iterdir())
    assert targets == ["c00", "c01"]
    for cluster in targets:
        params = params_of(tmp_path / "kapitan", cluster)
        assert params["namespaces"] == [f"ns-{i:05d}" for i in range(5)] and params["cluster"] == cluster
        assert [r["name"] for r in params["registries"]] == ["reg0", "reg1"]
        assert params["serviceAccounts"] == ["default", "sa1"]
    assert (tmp_path / "kapitan" / "components" / "pullsecrets" / "__init__.py").read_text() == \
        bench_kapitan.COMPONENT.read_text()


def test_the_component_builds_the_objects_genpolicy_renders(tmp_path: Path) -> None:
    path, spec = spec_of(tmp_path / "spec")
    bundle = bench_kapitan.bundle_of(spec, ENV)
    bench_kapitan.write_project(bundle, tmp_path / "kapitan")
    compiled = compile_without_kapitan(tmp_path / "kapitan", bundle.clusters)
    assert bench_kapitan.compare_outputs(genpolicy_render(path), compiled) == OBJECTS


def test_the_comparison_names_a_missing_or_changed_object_but_never_a_credential(tmp_path: Path) -> None:
    path, spec = spec_of(tmp_path / "spec")
    bundle = bench_kapitan.bundle_of(spec, ENV)
    bench_kapitan.write_project(bundle, tmp_path / "kapitan")
    out = genpolicy_render(path)
    compiled = compile_without_kapitan(tmp_path / "kapitan", bundle.clusters)
    file = compiled / "c01" / "namespaces" / "ns-00002.yaml"
    docs = list(yaml.safe_load_all(file.read_text()))
    file.write_text(yaml.safe_dump_all(docs[:-1]))
    with pytest.raises(bench_kapitan.Mismatch, match=r"^1 object\(s\) only in genpolicy's output, 0 only in kapitan's: "
                       r"c01/namespaces/ns-00002\.yaml: ServiceAccount ns-00002/sa1: not in kapitan's output$"):
        bench_kapitan.compare_outputs(out, compiled)
    original = docs[0]["data"][".dockerconfigjson"]
    docs[0]["data"][".dockerconfigjson"] = kapitan_component.docker_config({**bundle.registries[0], "password": "x"})
    file.write_text(yaml.safe_dump_all(docs))
    with pytest.raises(bench_kapitan.Mismatch) as caught:
        bench_kapitan.compare_outputs(out, compiled)
    message = str(caught.value)
    assert message == ("1 object(s) only in genpolicy's output, 1 only in kapitan's: "
                       "c01/namespaces/ns-00002.yaml: Secret ns-00002/reg0-pull: differs at data..dockerconfigjson")
    assert not any(value in message for value in [*ENV.values(), original, docs[0]["data"][".dockerconfigjson"]])


def test_an_empty_genpolicy_output_is_no_match(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with pytest.raises(bench_kapitan.Mismatch, match="no YAML objects"):
        bench_kapitan.compare_outputs(tmp_path / "a", tmp_path / "b")


def test_without_kapitan_or_with_another_spec_the_comparison_is_skipped(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = spec_of(tmp_path / "plain")
    monkeypatch.delenv("KAPITAN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert bench_kapitan.compare(path, ENV, tmp_path / "w", 1) == \
        "skipped: kapitan is not installed (set KAPITAN=/path/to/kapitan)"
    kyverno, _ = spec_of(tmp_path / "kyverno", kyverno_groups=1)
    result = bench_kapitan.compare(kyverno, ENV, tmp_path / "w", 1, kapitan="/bin/false")
    assert isinstance(result, str) and result.startswith("skipped: this spec is not the benchmark's plain bundle")
    assert bench_kapitan.compare(path, {}, tmp_path / "w", 1, kapitan="/bin/false") == \
        "skipped: this spec is not the benchmark's plain bundle (environment variable BENCH_PASS_0 is not set)"


def require_kapitan() -> str:
    found = bench_kapitan.find_kapitan()
    if found is None:
        pytest.skip("kapitan is not installed: set KAPITAN=/path/to/kapitan (see benchmarks/bench_kapitan.py)")
    return found


def test_a_real_kapitan_compile_matches_genpolicy_and_a_broken_project_does_not(tmp_path: Path) -> None:
    kapitan = require_kapitan()
    path, spec = spec_of(tmp_path / "spec")
    result = bench_kapitan.compare(path, {**os.environ, **ENV}, tmp_path / "work", 1, kapitan=kapitan)
    assert isinstance(result, dict), result
    assert result["objects_compared"] == OBJECTS and result["targets"] == 2 and result["input_type"] == "kadet"
    assert result["seconds"]["kapitan_compile"]["wall_s"] > 0 and result["kapitan_version"]
    bundle = bench_kapitan.bundle_of(spec, ENV)
    broken = bench_kapitan.Bundle(bundle.clusters, bundle.namespaces[:-1], bundle.registries, bundle.accounts)
    project = tmp_path / "broken"
    bench_kapitan.write_project(broken, project)
    subprocess.run([kapitan, "compile"], cwd=project, env=bench_kapitan._kapitan_env(dict(os.environ)), check=True,
                   capture_output=True)
    with pytest.raises(bench_kapitan.Mismatch, match="only in genpolicy's output"):
        bench_kapitan.compare_outputs(tmp_path / "work" / "genpolicy" / "out", project / "compiled")
