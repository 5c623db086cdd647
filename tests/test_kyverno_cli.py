"""The rendered Kyverno policies and `kyverno test` suites, run by the real Kyverno CLI of each version family.

CLIs are built from the Go module proxy by `.ci/real-tools` (one per policy family plus the newest;
tests/realtools.py finds them, skips with the reason or fails under GENPOLICY_REQUIRE_REAL_TOOLS=1).
Every check can fail: the suite must pass row for row (no row may pass because the CLI excluded the
resource), and a broken policy, a missing source or a wrong expectation must make it fail.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_kyverno import SPEC as BASE_SPEC

from conftest import ROOT, run_cli, write_spec
from realtools import require

# The CLI that checks each declared Kyverno minor (its family's pinned build in .ci/real-tools.tsv).
FAMILY_CLI = {10: "1.12.6", 11: "1.12.6", 12: "1.12.6", 13: "1.13.4", 14: "1.15.2", 15: "1.15.2", 16: "1.15.2",
              17: "1.18.2", 18: "1.18.2", 19: "1.19.1"}

# test_kyverno's spec (names, wildcards, exclusions, a port, a path, Docker Hub) plus a `*.azurecr.io`
# glob and a label-selected group.
SPEC = "outputDir: out\n" + BASE_SPEC.replace("clusters:\n", """\
  - name: acr
    server: "*.azurecr.io"
    credentials: {externalSecret: {store: {name: vault}, remoteKey: acr}}
clusters:
""") + """\
  - name: labelled
    distribution: kyverno
    namespaceSelector: {matchLabels: {pull-secrets: "yes"}}
    registries: [hub, acr]
"""


@dataclass(frozen=True)
class Row:
    policy: str
    rule: str
    resource: str
    result: str
    reason: str


def render(tmp_path: Path, minor: int) -> Path:
    spec = write_spec(tmp_path, SPEC.replace("VERSION", f"1.{minor}"))
    result = run_cli("render", spec)
    assert result.code == 0, result.output
    return tmp_path / "out" / "c" / "kyverno"


def kyverno(version: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(require("kyverno", version).path), *map(str, args), "--remove-color"],
                          capture_output=True, text=True, timeout=300, check=False)


def table_rows(output: str) -> list[Row]:
    """The result table of `kyverno test` (the same columns in every CLI version)."""
    rows = []
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) >= 6 and cells[0].isdigit():
            rows.append(Row(*cells[1:6]))
    return rows


def expected_row_count(folder: Path) -> tuple[int, Counter[tuple[str, str]]]:
    """Rows the CLI must print, and the (policy, rule) pairs expected to be reported as excluded."""
    suite = yaml.safe_load((folder / "kyverno-test.yaml").read_text())
    count, excluded = 0, Counter[tuple[str, str]]()
    for result in suite["results"]:
        if result.get("isGeneratingPolicy"):
            count += len(list(yaml.safe_load_all((folder / result["generatedResource"]).read_text())))
            continue
        count += len(result["resources"])
        if result["resources"][0].endswith(".excluded") and not result.get("isMutatingPolicy"):
            excluded[(result["policy"], result.get("rule", ""))] += 1
    return count, excluded


def suite_problems(version: str, folder: Path) -> list[str]:
    """Everything wrong with a suite under the real CLI, [] when it passes row for row."""
    proc = kyverno(version, "test", folder)
    output = proc.stdout + proc.stderr
    problems = [f"kyverno {version} exited {proc.returncode}"] if proc.returncode else []
    rows = table_rows(output)
    count, excluded = expected_row_count(folder)
    if len(rows) != count:
        problems.append(f"the CLI printed {len(rows)} rows, the suite has {count}")
    problems += [f"row {r} did not pass" for r in rows if r.result != "Pass"]
    # A row the CLI excluded passes whatever it expected: only the rows meant to be excluded may be.
    reported = Counter((r.policy, r.rule) for r in rows if r.reason == "Excluded")
    if reported != excluded:
        problems.append(f"excluded rows {dict(reported)} != expected {dict(excluded)}")
    problems += clone_source_mismatches(folder)
    return [f"{p}\n{output}" for p in problems]


def clone_source_mismatches(folder: Path) -> list[str]:
    """ClusterPolicy rows: the CLI (1.13+) clones whatever `cloneSourceResource` holds, whatever its name,
    so the suite's source must be the one the rule names."""
    suite = yaml.safe_load((folder / "kyverno-test.yaml").read_text())
    clones = {}
    for policy_file in suite["policies"]:
        for policy in yaml.safe_load_all((folder / policy_file).read_text()):
            for rule in policy["spec"].get("rules", []):
                if "clone" in rule.get("generate", {}):
                    clones[(policy["metadata"]["name"], rule["name"])] = rule["generate"]["clone"]
    problems = []
    for result in suite["results"]:
        if "cloneSourceResource" in result:
            source = yaml.safe_load((folder / result["cloneSourceResource"]).read_text())["metadata"]
            clone = clones[(result["policy"], result["rule"])]
            if (source["namespace"], source["name"]) != (clone["namespace"], clone["name"]):
                problems.append(f"{result['cloneSourceResource']} is not the source rule {result['rule']} clones")
    return problems


def assert_suite_passes(version: str, folder: Path) -> None:
    problems = suite_problems(version, folder)
    assert not problems, problems[0]


def assert_suite_fails(version: str, folder: Path) -> None:
    assert suite_problems(version, folder), f"a broken suite passed under Kyverno {version}"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (old, path)
    path.write_text(text.replace(old, new))


def copy_suite(kyverno_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "broken"
    shutil.copytree(kyverno_dir, target)
    return target


@pytest.mark.parametrize("minor", sorted(FAMILY_CLI))
def test_rendered_suite_passes_under_the_cli_of_its_family(tmp_path: Path, minor: int) -> None:
    folder = render(tmp_path, minor)
    assert_suite_passes(FAMILY_CLI[minor], folder / "tests")


def kyverno_examples() -> list[str]:
    return sorted(p.parent.name for p in (ROOT / "examples").glob("*/spec.yaml")
                  if any(c.get("kyverno") for c in yaml.safe_load(p.read_text())["clusters"]))


def test_there_is_a_kyverno_example() -> None:
    assert kyverno_examples(), "no example spec uses Kyverno: the example test below would check nothing"


@pytest.mark.parametrize("example", kyverno_examples())
def test_every_example_suite_passes_under_its_cli(tmp_path: Path, example: str) -> None:
    spec_path = ROOT / "examples" / example / "spec.yaml"
    spec = yaml.safe_load(spec_path.read_text())
    clusters = [c for c in spec["clusters"] if c.get("kyverno")]
    out = tmp_path / "out"
    result = run_cli("render", spec_path, "-o", out, env={k: "x" for k in _env_names(spec)})
    assert result.code == 0, result.output
    for cluster in clusters:
        folder = out / cluster.get("outputDir", cluster["name"]) / "kyverno" / "tests"
        assert_suite_passes(FAMILY_CLI[int(str(cluster["kyverno"]["version"]).split(".")[1])], folder)


def _env_names(spec: dict[str, Any]) -> set[str]:
    names = set()
    for registry in spec.get("registries", []):
        names |= set((registry.get("credentials") or {}).get("fromEnv", {}).values())
    return names


BROKEN_POLICY = [  # (what breaks, old text, new text), in the policy file: each must make the suite fail
    ("registry pattern", "^ghcr\\", "^ghcrx\\"),
    ("secret name", "ghcr-pull", "ghcr-pul"),  # quoted in CEL, plain in ClusterPolicy YAML
]


@pytest.mark.parametrize("minor", [12, 13, 15, 18, 19])
@pytest.mark.parametrize(("what", "old", "new"), BROKEN_POLICY, ids=[b[0] for b in BROKEN_POLICY])
def test_a_broken_policy_fails_the_suite(tmp_path: Path, minor: int, what: str, old: str, new: str) -> None:
    broken = copy_suite(render(tmp_path, minor), tmp_path)
    edit(broken / "policies" / "teams.yaml", old, new)
    assert_suite_fails(FAMILY_CLI[minor], broken / "tests")


@pytest.mark.parametrize("minor", [12, 13, 15, 18, 19])
def test_a_missing_source_fails_the_suite(tmp_path: Path, minor: int) -> None:
    broken = copy_suite(render(tmp_path, minor), tmp_path)
    tests = broken / "tests"
    path = tests / "context.yaml" if (tests / "context.yaml").exists() else tests / "source-teams.harbor.yaml"
    path.write_text(path.read_text().replace("harbor-pull", "harbor-pull-gone"))
    assert_suite_fails(FAMILY_CLI[minor], tests)


@pytest.mark.parametrize("minor", [12, 13, 15, 18, 19])
def test_wrong_merge_order_fails_the_suite(tmp_path: Path, minor: int) -> None:
    """The expected order of a Pod's own and added Secrets is what the engine produces, and is checked."""
    broken = copy_suite(render(tmp_path, minor), tmp_path)
    patched = broken / "tests" / "patched-teams.own-secret.yaml"
    pod = yaml.safe_load(patched.read_text())
    pod["spec"]["imagePullSecrets"].reverse()
    patched.write_text(yaml.safe_dump(pod))
    assert_suite_fails(FAMILY_CLI[minor], broken / "tests")


def test_cel_clones_survive_a_missing_source(tmp_path: Path) -> None:
    """One missing source Secret (not synced yet) does not stop the other clones, as resource.Get would.

    (Owner references are not checked here: the CLI generates through a fake context that copies the
    source as it is in every version, while the 1.19 engine strips owners from another namespace,
    pkg/cel/libs/context.go GenerateResources; 1.17/1.18 do not, hence ClusterPolicy there.)"""
    tests = copy_suite(render(tmp_path, 19), tmp_path) / "tests"
    context = yaml.safe_load(tests.joinpath("context.yaml").read_text())
    context["spec"]["resources"] = [s for s in context["spec"]["resources"] if s["metadata"]["name"] != "harbor-pull"]
    tests.joinpath("context.yaml").write_text(yaml.safe_dump(context))
    generated = tests / "generated-teams.yaml"
    kept = [d for d in yaml.safe_load_all(generated.read_text()) if d["metadata"]["name"] != "harbor-pull"]
    assert len(kept) == 2
    generated.write_text(yaml.safe_dump_all(kept))
    assert_suite_passes(FAMILY_CLI[19], tests)


@pytest.mark.parametrize("minor", [12, 13, 15, 18, 19])
def test_kyverno_apply_patches_pods_like_the_suite_says(tmp_path: Path, minor: int) -> None:
    """`kyverno apply` (not only `kyverno test`): every patched Pod equals the suite's expectation, and
    on CEL versions the generated Secrets land in the selected namespace and never in the excluded one."""
    folder = render(tmp_path, minor)
    tests, out = folder / "tests", tmp_path / "applied"
    out.mkdir()
    args: list[str | Path] = ["apply", folder / "policies" / "teams.yaml", "--resource", tests / "resources.yaml",
                              "-o", out]
    if (tests / "context.yaml").exists():
        args += ["--context-file", tests / "context.yaml"]
    proc = kyverno(FAMILY_CLI[minor], *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    produced = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d
                for f in sorted(out.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d}
    originals = {(d["metadata"]["namespace"], d["metadata"]["name"]): d
                 for d in yaml.safe_load_all((tests / "resources.yaml").read_text()) if d["kind"] == "Pod"}
    for expected_file in sorted(tests.glob("patched-teams.*.yaml")):
        expected = yaml.safe_load(expected_file.read_text())
        where = (expected["metadata"]["namespace"], expected["metadata"]["name"])
        # Older CLIs write only the Pods a policy touched: an untouched Pod keeps its own list.
        got = produced.get(("Pod", *where), originals[where])
        assert got["spec"].get("imagePullSecrets") == expected["spec"].get("imagePullSecrets"), expected_file.name
    assert ("Pod", "team-x", "teams.reg-ghcr") in produced, "the CLI wrote no mutated Pods at all"
    secrets = sorted((ns, name) for kind, ns, name in produced if kind == "Secret")
    if (tests / "context.yaml").exists():
        assert secrets == [("team-x", "ghcr-pull"), ("team-x", "harbor-pull"), ("team-x", "hub-pull")]


MATCH_KEYS = {"ghcr": "ghcr.io", "harbor": "harbor.example.com:8443/team-a", "hub": "docker.io", "quay": "quay.io/org",
              "local": "localhost:5000", "plain": "registry.example.com", "deep": "reg.io/a/b", "acr": "*.azurecr.io",
              "slash": "corp.example:8443/platform/", "hubpath": "docker.io/myorg", "hublib": "docker.io/library"}
MATCH_IMAGES = [
    "nginx", "nginx:1.25", "library/nginx", "user/app:1", "docker.io/user/app", "index.docker.io/user/app",
    "ghcr.io/org/app:1", "ghcr.io/org/app@sha256:" + "a" * 64, "ghcr.io:443/org/app", "ghcr.iox/org/app",
    "harbor.example.com:8443/team-a/x", "harbor.example.com:8443/team-ab/x", "harbor.example.com/team-a/x",
    "harbor.example.com:8443/team-b/x", "quay.io/org/app", "quay.io/organisation/app", "quay.io/other/app",
    "localhost:5000/app", "localhost/app", "registry.example.com/a/b/c:2", "sub.registry.example.com/a",
    "reg.io/a/b/c", "reg.io/a/bc", "reg.io/a/c", "team.azurecr.io/app", "a.b.azurecr.io/app", "azurecr.io/app",
    "corp.example:8443/platform/app", "corp.example:8443/platformx/app", "corp.example:8443/platform",
    "myorg/app", "myorgx/app", "myorg.io/app", "docker.io/myorg/app", "index.docker.io/myorg/app", "docker.io/nginx",
    "docker.io/library/nginx", "Myorg/app",
]


@pytest.mark.parametrize("minor", [12, 13, 19])
def test_the_real_engine_adds_a_secret_exactly_when_the_kubelet_would_use_it(tmp_path: Path, minor: int) -> None:
    """Go's RE2 and Kyverno's JMESPath/CEL evaluate genpolicy's patterns: one Pod per image, the Secrets
    the engine adds must be those whose key the kubelet matches (genpolicy.registry, the kubelet port)."""
    from genpolicy.registry import normalize_image, urls_match

    registries = "".join(f'  - name: {n}\n    server: "{k}"\n'
                         f"    credentials: {{externalSecret: {{store: {{name: v}}, remoteKey: {n}}}}}\n"
                         for n, k in MATCH_KEYS.items())
    spec = write_spec(tmp_path, (
        "apiVersion: genpolicy/v1alpha1\nkind: PullSecretSpec\noutputDir: out\nregistries:\n" + registries
        + f'clusters:\n  - name: c\n    kubernetesVersion: "1.32"\n    kyverno: {{version: "1.{minor}"}}\n'
        + "namespaceGroups:\n  - name: all\n    distribution: kyverno\n    namespaces: [apps]\n"
        + f"    registries: [{', '.join(MATCH_KEYS)}]\n"))
    assert (result := run_cli("render", spec)).code == 0, result.output
    pods = [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p{i}", "namespace": "apps"},
             "spec": {"containers": [{"name": "c", "image": image}]}} for i, image in enumerate(MATCH_IMAGES)]
    (tmp_path / "pods.yaml").write_text(yaml.safe_dump_all(pods))
    out = tmp_path / "applied"
    out.mkdir()
    policies = tmp_path / "out" / "c" / "kyverno" / "policies" / "all.yaml"
    proc = kyverno(FAMILY_CLI[minor], "apply", policies, "--resource", tmp_path / "pods.yaml", "-o", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    produced = {d["metadata"]["name"]: d for f in out.glob("*.yaml") for d in yaml.safe_load_all(f.read_text())
                if d and d["kind"] == "Pod"}
    for i, image in enumerate(MATCH_IMAGES):
        got = sorted(s["name"] for s in produced.get(f"p{i}", pods[i])["spec"].get("imagePullSecrets", []))
        want = sorted(f"{n}-pull" for n, k in MATCH_KEYS.items() if urls_match(k, normalize_image(image).lookup_key))
        assert got == want, (image, got, want)
