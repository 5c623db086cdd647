"""`genpolicy lint`: each rule fires where it should (exact line:col), stays quiet where it should not,
and runs inside `render` (errors stop it, warnings are shown)."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from conftest import ROOT, run_cli, write_spec
from genpolicy.lint import RULES, lint, rule_code
from genpolicy.secrets import Credential, Sensitive
from genpolicy.specfile import parse_spec

HEADER = """\
apiVersion: genpolicy/v1alpha1
kind: PullSecretSpec
allowPlaintext: true
"""
CLUSTERS = """\
clusters:
  - name: prod
    kubernetesVersion: "1.33"
    gitops: argocd
    backend: sealed-secrets
    sealedSecrets: {certificate: cert.pem}
    kyverno: {version: "1.13"}
"""
ESO = "externalSecret: {store: {name: s}, remoteKey: k}"
ENV = "fromEnv: {username: U, password: P}"


def registry(name: str, server: str, creds: str = ESO) -> str:
    return f"  - name: {name}\n    server: {server!r}\n    credentials:\n      {creds}\n"


def group(name: str, registries: list[str], extra: str = "", namespace: str = "team-a") -> str:
    body = f"  - name: {name}\n    namespaces: [{namespace}]\n    registries: [{', '.join(registries)}]\n"
    return body + textwrap.indent(textwrap.dedent(extra), "    ")


def spec_text(registries: list[str], groups: list[str], clusters: str = CLUSTERS, tail: str = "") -> str:
    return HEADER + "registries:\n" + "".join(registries) + clusters + "namespaceGroups:\n" + "".join(groups) + tail


def findings(text: str, credentials: dict[str, Credential] | None = None) -> list[str]:
    """`line:col code` for every finding."""
    report = lint(parse_spec(text, "spec.yaml"), credentials)
    return [f"{p.line}:{p.col} {p.code}" for p in report.problems]


def codes(text: str) -> set[str]:
    return {f.split()[1] for f in findings(text)}


# registries start at line 5; each registry() takes 4 lines: registry i's server is at 6 + 4*i, col 13,
# its credentials at 7 + 4*i, col 7.
CASES = [
    ("clean", [registry("ghcr", "ghcr.io"), registry("quay", "quay.io")], [group("g", ["ghcr", "quay"])], []),
    ("host covers path", [registry("ghcr", "ghcr.io"), registry("org", "ghcr.io/org")],
     [group("g", ["ghcr", "org"])], ["10:13 GP001"]),
    ("host glob covers host", [registry("all", "*.azurecr.io"), registry("one", "one.azurecr.io")],
     [group("g", ["all", "one"])], ["10:13 GP001"]),
    ("overlap only counts when attached together", [registry("ghcr", "ghcr.io"), registry("org", "ghcr.io/org")],
     [group("g", ["ghcr"]), group("h", ["org"], namespace="team-b")], []),
    ("team and teammate together", [registry("team", "harbor.example.com/team"),
                                    registry("mate", "harbor.example.com/teammate")],
     [group("g", ["team", "mate"])], ["6:13 GP002"]),
    ("team and teammate never in one namespace", [registry("team", "harbor.example.com/team"),
                                                  registry("mate", "harbor.example.com/teammate")],
     [group("g", ["team"]), group("h", ["mate"], namespace="team-b")], ["6:13 GP011"]),
    ("team/ with a trailing slash stops at its project", [registry("team", "harbor.example.com/team/"),
                                                          registry("mate", "harbor.example.com/teammate")],
     [group("g", ["team"]), group("h", ["mate"], namespace="team-b")], []),
    ("platform/ and platformx together", [registry("p", "https://harbor.corp.example:8443/platform/"),
                                          registry("px", "harbor.corp.example:8443/platformx")],
     [group("g", ["p", "px"])], []),
    ("team and team/sub is a real folder", [registry("team", "harbor.example.com/team"),
                                            registry("sub", "harbor.example.com/team/sub")],
     [group("g", ["team", "sub"])], ["10:13 GP001"]),
    ("ECR static", [registry("ecr", "123456789012.dkr.ecr.eu-west-1.amazonaws.com", ENV)], [group("g", ["ecr"])],
     ["7:5 GP003"]),
    ("ECR generator", [registry("ecr", "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
                                "generator: {kind: ECRAuthorizationToken, spec: {region: eu-west-1}}")],
     [group("g", ["ecr"])], []),
    ("GAR static token", [registry("gar", "europe-docker.pkg.dev", ENV)], [group("g", ["gar"])], ["7:5 GP003"]),
    ("GCR JSON key does not expire", [registry("gcr", "gcr.io", "{username: _json_key, fromFile: {password: k}}")],
     [group("g", ["gcr"])], []),
    ("ACR service principal via ESO is static", [registry("acr", "myreg.azurecr.io")], [group("g", ["acr"])], []),
    ("ACR service principal from env", [registry(
        "acr", "myreg.azurecr.io", "{username: 8f2e6a3c-1b7d-4c1e-9a55-0d3b2f6e7a10, fromEnv: {password: P}}")],
     [group("g", ["acr"])], []),
    ("ACR Entra ID token", [registry("acr", "myreg.azurecr.io",
                                     "{username: 00000000-0000-0000-0000-000000000000, fromEnv: {password: P}}")],
     [group("g", ["acr"])], ["7:5 GP003"]),
    ("ACR node provider", [registry("acr", "myreg.azurecr.io", "node: {provider: acr-credential-provider}")],
     [group("g", ["acr"])], []),
    ("Docker Hub fallback spelling", [registry("hub", "https://index.docker.io/v1/")], [group("g", ["hub"])],
     ["6:13 GP004"]),
    ("Docker Hub as docker.io", [registry("hub", "docker.io")], [group("g", ["hub"])], []),
    ("Docker Hub lookalike", [registry("hub", "*.docker.io")], [group("g", ["hub"])], ["6:13 GP005"]),
    ("Docker Hub web host", [registry("hub", "hub.docker.com")], [group("g", ["hub"])], ["6:13 GP005"]),
    ("no Helm values", [registry("ghcr", "ghcr.io")], [group("g", ["ghcr"], "helmValues: {enabled: false}\n")],
     ["17:5 GP006"]),
    ("no Helm values and no ServiceAccount patched", [registry("ghcr", "ghcr.io")],
     [group("g", ["ghcr"], "helmValues: {enabled: false}\nserviceAccounts: []\n")], []),
    ("no Helm values but Kyverno mutates Pods", [registry("ghcr", "ghcr.io")],
     [group("g", ["ghcr"], "helmValues: {enabled: false}\ndistribution: kyverno\n")], []),
    ("unused registry", [registry("ghcr", "ghcr.io"), registry("quay", "quay.io")], [group("g", ["ghcr"])],
     ["9:11 GP010"]),
    ("inline password", [registry("ghcr", "ghcr.io", "inline: {username: u, password: p}")],
     [group("g", ["ghcr"])], ["8:7 GP008"]),
]


@pytest.mark.parametrize(("name", "registries", "groups", "expected"), CASES, ids=[c[0] for c in CASES])
def test_rule_findings(name: str, registries: list[str], groups: list[str], expected: list[str]) -> None:
    assert findings(spec_text(registries, groups)) == expected


PLAIN_CLUSTERS = CLUSTERS.replace("backend: sealed-secrets", "backend: plain")


def test_cloud_rule_sees_the_username_read_at_render_time() -> None:
    text = spec_text([registry("gcr", "gcr.io", "dockerConfig: {path: config.json}")], [group("g", ["gcr"])])
    assert codes(text) == {"GP003"}
    read = {"gcr": Credential("_json_key", Sensitive("{}"))}
    assert codes_with(text, read) == set(), "a service-account JSON key does not expire"
    acr = spec_text([registry("acr", "myreg.azurecr.io", "dockerConfig: {path: config.json}")], [group("g", ["acr"])])
    assert codes(acr) == set(), "an ACR service principal or repository token does not expire"
    token = {"acr": Credential("00000000-0000-0000-0000-000000000000", Sensitive("eyJ"))}
    assert codes_with(acr, token) == {"GP003"}, "an Entra ID token read at render time expires in 3 hours"


def test_plaintext_backend_is_reported_at_the_registry() -> None:
    text = spec_text([registry("ghcr", "ghcr.io", ENV)], [group("g", ["ghcr"])], PLAIN_CLUSTERS)
    report = lint(parse_spec(text, "spec.yaml"))
    (problem,) = report.problems
    assert (problem.line, problem.col, problem.code, problem.severity) == (7, 5, "GP008", "warning")
    assert "UNENCRYPTED on cluster(s) prod" in problem.message


def test_cluster_without_groups() -> None:
    clusters = CLUSTERS + '  - name: idle\n    kubernetesVersion: "1.33"\n    gitops: flux\n'
    text = spec_text([registry("ghcr", "ghcr.io")], [group("g", ["ghcr"], "clusters: [prod]\n")], clusters)
    assert findings(text) == ["16:11 GP007"]


def _credential(size: int) -> Credential:
    return Credential("robot", Sensitive("x" * size))


def test_secret_size_uses_the_credentials_read() -> None:
    registries = [registry(f"r{i}", f"r{i}.example.com", ENV) for i in range(3)]
    text = spec_text(registries, [group("g", [f"r{i}" for i in range(3)], "secretMode: merged\n")])
    small = {f"r{i}": _credential(100) for i in range(3)}
    big = {f"r{i}": _credential(120_000) for i in range(3)}
    assert "GP009" not in codes_with(text, small)
    assert "GP009" in codes_with(text, big)
    problem = next(p for p in lint(parse_spec(text, "spec.yaml"), big).problems if p.code == "GP009")
    assert "'regcred' (3 registries) holds 8" in problem.message and "about" not in problem.message


def test_secret_size_is_estimated_without_credentials() -> None:
    names = [f"r{i}" for i in range(200)]
    text = spec_text([registry(n, f"{n}.example.com", ENV) for n in names], [group("g", names, "secretMode: merged\n")])
    problem = next(p for p in lint(parse_spec(text, "spec.yaml")).problems if p.code == "GP009")
    assert "holds about" in problem.message


def codes_with(text: str, credentials: dict[str, Credential]) -> set[str]:
    return {p.code for p in lint(parse_spec(text, "spec.yaml"), credentials).problems}


def test_ignore_by_code_or_name_in_the_spec_and_unknown_rules() -> None:
    base = spec_text([registry("ghcr", "ghcr.io", ENV), registry("quay", "quay.io")], [group("g", ["ghcr"])],
                     PLAIN_CLUSTERS)
    assert codes(base) == {"GP008", "GP010"}
    assert codes(base + "lint:\n  ignore: [GP010, plaintext]\n") == set()
    problems = lint(parse_spec(base + "lint:\n  ignore: [GP999]\n", "spec.yaml")).problems
    unknown = next(p for p in problems if not p.code)
    assert (unknown.line, unknown.col, unknown.severity) == (25, 12, "error")
    assert "unknown lint rule 'GP999'" in unknown.message
    assert rule_code("overlapping-keys") == "GP001" and rule_code("gp002") == "GP002" and rule_code("x") is None


def test_every_rule_is_documented_with_its_code_name_and_severity() -> None:
    docs = (ROOT / "docs" / "lint.md").read_text(encoding="utf-8")
    for rule in RULES.values():
        assert re.search(rf"^## {rule.code} `{rule.name}` \({rule.severity}\)$", docs, re.MULTILINE), rule.code
    assert len(set(RULES)) == len({r.name for r in RULES.values()})


def test_every_rule_has_a_firing_case() -> None:
    fired = {code for *_, expected in CASES for f in expected for code in [f.split()[1]]}
    assert fired | {"GP007", "GP008", "GP009", "GP012"} >= set(RULES)  # GP012: tests/test_engines.py


# --- through the real entry point -----------------------------------------------------------------

def _write(tmp_path: Path, text: str) -> Path:
    return write_spec(tmp_path, text)


def test_cli_exit_codes_formats_and_strict(tmp_path: Path) -> None:
    warn = _write(tmp_path, spec_text([registry("ghcr", "ghcr.io", ENV)], [group("g", ["ghcr"])], PLAIN_CLUSTERS))
    result = run_cli("lint", warn)
    assert result.code == 0, result.output
    assert re.search(r"^warning: .*spec.yaml:7:5: registries\[0\]\.credentials: registry 'ghcr' is written "
                     r"UNENCRYPTED .* \[GP008 plaintext\]$", result.stdout, re.MULTILINE)
    assert "0 errors, 1 warning, 0 infos" in result.stderr
    assert run_cli("lint", "--strict", warn).code == 1
    assert run_cli("lint", "--strict", "--ignore", "plaintext", warn).code == 0
    github = run_cli("lint", "--format", "github", warn)
    assert github.stdout.startswith("::warning file=") and ",line=7,col=5," in github.stdout
    payload = json.loads(run_cli("lint", "--format", "json", warn).stdout)
    assert [(p["code"], p["severity"], p["line"]) for p in payload["problems"]] == [("GP008", "warning", 7)]


def test_cli_errors_exit_1_and_stop_render(tmp_path: Path) -> None:
    bad = _write(tmp_path, spec_text([registry("hub", "*.docker.io", ENV)], [group("g", ["hub"])], PLAIN_CLUSTERS))
    result = run_cli("lint", bad)
    assert result.code == 1 and "6:13" in result.stdout and "GP005" in result.stdout
    rendered = run_cli("render", bad, env={"U": "robot", "P": "pa55word-value"})
    assert rendered.code == 3, rendered.output
    assert "[GP005 docker-hub-unreachable]" in rendered.stderr and "lint errors" in rendered.stderr
    assert not (tmp_path / "out").exists()
    ignored = _write(tmp_path, spec_text([registry("hub", "*.docker.io", ENV)], [group("g", ["hub"])],
                                         PLAIN_CLUSTERS, tail="lint:\n  ignore: [GP005]\n"))
    assert run_cli("render", ignored, env={"U": "robot", "P": "pa55word-value"}).code == 0


def test_render_shows_lint_warnings(tmp_path: Path) -> None:
    spec = _write(tmp_path, spec_text([registry("ghcr", "ghcr.io", ENV), registry("quay", "quay.io")],
                                      [group("g", ["ghcr"])], PLAIN_CLUSTERS))
    result = run_cli("render", spec, env={"U": "robot", "P": "pa55word-value"})
    assert result.code == 0, result.output
    assert "[GP010 unused-registry]" in result.stderr and "[GP008 plaintext]" in result.stderr
    assert "pa55word-value" not in result.output


def test_cli_list_rules_and_usage() -> None:
    listed = run_cli("lint", "--list-rules")
    assert listed.code == 0 and all(code in listed.stdout for code in RULES)
    assert run_cli("lint").code == 2
    assert run_cli("lint", "/nonexistent/spec.yaml").code == 3


@pytest.mark.parametrize("example", sorted(p.parent.name for p in (ROOT / "examples").glob("*/spec.yaml")))
def test_shipped_examples_have_no_lint_errors_or_warnings(example: str) -> None:
    result = run_cli("lint", "--strict", ROOT / "examples" / example / "spec.yaml")
    assert result.code == 0, result.output
