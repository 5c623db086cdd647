"""`genpolicy audit`: a live export built from a real render finds nothing; every seeded drift is found.

The export is what `kubectl get serviceaccounts,secrets,pods -A -o yaml` would show after Argo CD
applied the render (ExternalSecrets become the Secrets External Secrets writes, Kyverno's source is
cloned into the namespaces it selects), plus Pods, Events and ExternalSecret status.
"""

from __future__ import annotations

import base64
import copy
import datetime
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from conftest import ROOT, run_cli, write_spec

NOW = datetime.datetime(2026, 6, 1, 12, 0, tzinfo=datetime.UTC)
GHCR_PASSWORD = "ghcr-Audit-Canary-7f3a1e"
HUB_PASSWORD = "hub-Audit-Canary-2c9d4b"
ESO_PASSWORD = "eso-Audit-Canary-5a8e6f"
ENV = {"AUDIT_GHCR": GHCR_PASSWORD, "AUDIT_HUB": HUB_PASSWORD}
DATA = ROOT / "tests" / "data" / "audit"

SPEC = """
apiVersion: genpolicy/v1alpha1
kind: PullSecretSpec
outputDir: out
allowPlaintext: true
registries:
  - name: ghcr
    server: ghcr.io
    credentials: {username: audit-robot, fromEnv: {password: AUDIT_GHCR}}
  - name: hub
    server: https://index.docker.io/v1/
    credentials: {username: audit-hub, fromEnv: {password: AUDIT_HUB}}
  - name: harbor
    server: harbor.example.com
    credentials: {externalSecret: {store: {name: vault}, remoteKey: harbor/pull}}
  - name: ecr
    server: 123456789012.dkr.ecr.eu-west-1.amazonaws.com
    credentials:
      generator: {kind: ECRAuthorizationToken, spec: {region: eu-west-1}}
clusters:
  - name: prod
    kubernetesVersion: "1.33"
    backend: plain
    kyverno: {version: "1.13"}
namespaceGroups:
  - name: apps
    namespaces: [alpha, beta]
    registries: [ghcr, hub, harbor, ecr]
    serviceAccounts: [default, builder]
  - name: merged
    namespaces: [gamma, zeta]
    registries: [ghcr, hub]
    secretMode: merged
  - name: teams
    distribution: kyverno
    namespaces: ["team-*"]
    registries: [ghcr]
lint:
  ignore: [plaintext, cloud-static-credentials]
"""

Objects = dict[tuple[str, str, str], dict[str, Any]]  # (kind, namespace, name) -> object


def stamp(delta: datetime.timedelta) -> str:
    return (NOW + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def dockerconfig(key: str, user: str, password: str, *, wrap: bool = True) -> str:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    entries = {key: {"username": user, "password": password, "auth": auth}}
    return base64.b64encode(json.dumps({"auths": entries} if wrap else entries).encode()).decode()


def rendered(out: Path) -> list[dict[str, Any]]:
    docs = []
    for path in sorted(out.rglob("*.yaml")):
        if "tests" not in path.relative_to(out).parts:
            docs += [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    return docs


def applied(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """What the cluster holds for a rendered document once applied (and its controllers ran)."""
    meta = doc.get("metadata", {})
    if doc.get("kind") == "ServiceAccount":
        live = copy.deepcopy(doc)
        live["metadata"]["managedFields"] = [{"manager": "argocd-controller", "operation": "Apply",
                                              "fieldsV1": {"f:imagePullSecrets": {}}}]
        return [live]
    if doc.get("kind") == "Secret":
        return [copy.deepcopy(doc)]
    if doc.get("kind") == "ExternalSecret":
        target = doc["spec"]["target"]
        key = re.search(r'"auths":\{"([^"]+)"', target["template"]["data"][".dockerconfigjson"]).group(1)
        secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
                  "metadata": {"name": target["name"], "namespace": meta["namespace"],
                               "labels": target["template"]["metadata"]["labels"]},
                  "data": {".dockerconfigjson": dockerconfig(key, "eso-user", ESO_PASSWORD)}}
        status = copy.deepcopy(doc)
        status["status"] = {"refreshTime": stamp(-datetime.timedelta(minutes=30)),
                            "conditions": [{"type": "Ready", "status": "True"}]}
        return [secret, status]
    return []


def pod(namespace: str, name: str, image: str, secrets: list[str], *, waiting: str = "",
        account: str = "default") -> dict[str, Any]:
    state = {"waiting": {"reason": waiting, "message": "Back-off pulling image"}} if waiting else \
        {"running": {"startedAt": stamp(-datetime.timedelta(days=3))}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
            "spec": {"serviceAccountName": account, "imagePullSecrets": [{"name": s} for s in secrets],
                     "containers": [{"name": "app", "image": image, "imagePullPolicy": "IfNotPresent"}]},
            "status": {"phase": "Pending" if waiting else "Running",
                       "containerStatuses": [{"name": "app", "image": image, "state": state}]}}


def clean_objects(out: Path) -> Objects:
    objects: Objects = {}
    for doc in rendered(out):
        for live in applied(doc):
            objects[(live["kind"], live["metadata"].get("namespace", ""), live["metadata"]["name"])] = live
    source = objects[("Secret", "genpolicy-system", "ghcr-pull")]
    clone = copy.deepcopy(source)
    clone["metadata"]["namespace"] = "team-x"
    objects[("Secret", "team-x", "ghcr-pull")] = clone
    for p in (pod("alpha", "web", "ghcr.io/org/web:1", ["ecr-pull", "ghcr-pull", "harbor-pull", "hub-pull"]),
              pod("team-x", "app", "ghcr.io/team/app:2", ["ghcr-pull"]),
              pod("gamma", "hub", "nginx:1.27", ["regcred"]),
              pod("zeta", "web", "ghcr.io/org/web:1", ["regcred"])):
        objects[("Pod", p["metadata"]["namespace"], p["metadata"]["name"])] = p
    return objects


def write_export(folder: Path, objects: Objects) -> Path:
    path = folder / "live.yaml"
    items = [objects[k] for k in sorted(objects)]
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}, sort_keys=False))
    return path


@pytest.fixture
def rendered_spec(tmp_path: Path) -> tuple[Path, Objects]:
    spec = write_spec(tmp_path, SPEC)
    result = run_cli("render", spec, env=ENV)
    assert result.code == 0, result.output
    return spec, clean_objects(tmp_path / "out")


def run_audit(spec: Path, export: Path, *extra: str) -> Any:
    return run_cli("audit", spec, "--live", export, "--now", stamp(datetime.timedelta()), *extra)


def findings(spec: Path, export: Path) -> set[tuple[str, str]]:
    result = run_audit(spec, export, "--format", "json")
    assert "Traceback" not in result.output
    payload = json.loads(result.stdout)
    return {(f["code"], f"{f['object']['kind']} {f['object']['namespace']}/{f['object']['name']}")
            for f in payload["findings"]}


def test_clean_export_has_no_finding(rendered_spec: tuple[Path, Objects]) -> None:
    spec, objects = rendered_spec
    export = write_export(spec.parent, objects)
    result = run_audit(spec, export, "--strict")
    assert result.code == 0, result.output
    assert result.stdout == "" and "0 errors, 0 warnings, 0 infos" in result.stderr
    assert findings(spec, export) == set()


# --- seeded mutations: (what it does, the finding it must produce) ---------------------------------

def _drift(o: Objects) -> None:
    account = o[("ServiceAccount", "alpha", "default")]
    account["imagePullSecrets"].append({"name": "legacy-regcred"})
    account["metadata"]["managedFields"].append({"manager": "imagepullsecret-patcher", "operation": "Update",
                                                 "time": stamp(-datetime.timedelta(hours=1)),
                                                 "fieldsV1": {"f:imagePullSecrets": {}}})


def _wrong_type(o: Objects) -> None:
    o[("Secret", "alpha", "hub-pull")]["type"] = "Opaque"


def _malformed(o: Objects) -> None:
    o[("Secret", "gamma", "regcred")]["data"][".dockerconfigjson"] = dockerconfig(
        "ghcr.io", "audit-robot", GHCR_PASSWORD, wrap=False)


def _wrong_key(o: Objects) -> None:
    o[("Secret", "beta", "hub-pull")]["data"][".dockerconfigjson"] = dockerconfig(
        "https://index.docker.io/v1/", "audit-hub", HUB_PASSWORD)


def _orphans(o: Objects) -> None:
    old = copy.deepcopy(o[("Secret", "alpha", "ghcr-pull")])
    old["metadata"]["name"] = "old-pull"
    o[("Secret", "alpha", "old-pull")] = old
    stray = copy.deepcopy(o[("Secret", "genpolicy-system", "ghcr-pull")])
    stray["metadata"]["namespace"] = "legacy"  # a Kyverno clone in a namespace the group no longer selects
    o[("Secret", "legacy", "ghcr-pull")] = stray


def _pull_failure(o: Objects) -> None:
    broken = pod("alpha", "broken", "ghcr.io/org/private:2", ["chart-pull"], waiting="ImagePullBackOff")
    o[("Pod", "alpha", "broken")] = broken
    o[("Event", "alpha", "broken.1")] = {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "broken.1", "namespace": "alpha"},
        "involvedObject": {"kind": "Pod", "name": "broken", "namespace": "alpha"}, "reason": "Failed",
        "lastTimestamp": stamp(-datetime.timedelta(minutes=1)),
        "message": 'Failed to pull image "ghcr.io/org/private:2": 401 Unauthorized'}


def _node_cache(o: Objects) -> None:
    o[("Pod", "alpha", "cached")] = pod("alpha", "cached", "ghcr.io/org/web:1", ["chart-pull"])


def _expired(o: Objects) -> None:
    o[("ExternalSecret", "alpha", "ecr-pull")]["status"]["refreshTime"] = stamp(-datetime.timedelta(hours=13))


def _expiring(o: Objects) -> None:
    o[("Secret", "alpha", "ghcr-pull")]["metadata"]["annotations"] = {
        "example.com/token-expires-at": stamp(datetime.timedelta(days=2))}


def _eso_failing(o: Objects) -> None:
    del o[("Secret", "beta", "harbor-pull")]
    o[("ExternalSecret", "beta", "harbor-pull")]["status"]["conditions"] = [{
        "type": "Ready", "status": "False", "reason": "SecretSyncedError",
        "message": "could not get secret data from provider"}]


def _not_exported(o: Objects) -> None:
    for key in [k for k in o if k[1] == "zeta"]:
        del o[key]


MUTATIONS: list[tuple[Callable[[Objects], None], set[tuple[str, str]]]] = [
    (_drift, {("AU001", "ServiceAccount alpha/default")}),
    (lambda o: o.pop(("ServiceAccount", "beta", "builder")), {("AU002", "ServiceAccount beta/builder")}),
    (lambda o: o.pop(("Secret", "beta", "ghcr-pull")), {("AU003", "Secret beta/ghcr-pull")}),
    (_eso_failing, {("AU003", "Secret beta/harbor-pull")}),
    (_wrong_type, {("AU004", "Secret alpha/hub-pull")}),
    (_malformed, {("AU005", "Secret gamma/regcred"), ("AU009", "Pod gamma/hub")}),  # its Pod now runs from cache
    (_wrong_key, {("AU006", "Secret beta/hub-pull")}),
    (_orphans, {("AU007", "Secret alpha/old-pull"), ("AU007", "Secret legacy/ghcr-pull")}),
    (_pull_failure, {("AU008", "Pod alpha/broken")}),
    (_node_cache, {("AU009", "Pod alpha/cached")}),
    (_expired, {("AU010", "ExternalSecret alpha/ecr-pull")}),
    (_expiring, {("AU011", "Secret alpha/ghcr-pull")}),
    (_not_exported, {("AU012", "Namespace /zeta")}),
]


def seeded(objects: Objects) -> tuple[Objects, set[tuple[str, str]]]:
    mutated = copy.deepcopy(objects)
    expected: set[tuple[str, str]] = set()
    for mutate, produces in MUTATIONS:
        mutate(mutated)
        expected |= produces
    return mutated, expected


def test_every_seeded_drift_is_found_and_nothing_else(rendered_spec: tuple[Path, Objects]) -> None:
    spec, objects = rendered_spec
    mutated, expected = seeded(objects)
    export = write_export(spec.parent, mutated)
    assert findings(spec, export) == expected
    result = run_audit(spec, export)
    assert result.code == 1, result.output
    assert "'imagepullsecret-patcher' (Update" in result.stdout, "the other writer is named"
    assert "legacy-regcred" in result.stdout
    assert "pulled anonymously" in result.stdout and "401 Unauthorized" in result.stdout
    assert "listed Secret 'chart-pull' is not in the export" in result.stdout
    assert "its ExternalSecret is not Ready (SecretSyncedError: could not get secret data" in result.stdout
    assert re.search(r"live\.yaml:\d+:1: ServiceAccount alpha/default: imagePullSecrets is", result.stdout)
    assert re.search(r"spec\.yaml:\d+:\d+: Secret beta/ghcr-pull: Secret beta/ghcr-pull", result.stdout)
    assert "spec.yaml:1:1" not in result.stdout, "missing objects point at their group in the spec"


@pytest.mark.parametrize("index", range(len(MUTATIONS)))
def test_each_mutation_alone(rendered_spec: tuple[Path, Objects], index: int) -> None:
    spec, objects = rendered_spec
    mutated = copy.deepcopy(objects)
    mutate, produces = MUTATIONS[index]
    mutate(mutated)
    assert findings(spec, write_export(spec.parent, mutated)) == produces


def test_no_credential_in_any_format(rendered_spec: tuple[Path, Objects]) -> None:
    spec, objects = rendered_spec
    mutated, _ = seeded(objects)
    export = write_export(spec.parent, mutated)
    for fmt in ("text", "github", "json", "sarif", "policyreport"):
        output = run_audit(spec, export, "--format", fmt).output
        for password in (GHCR_PASSWORD, HUB_PASSWORD, ESO_PASSWORD):
            assert password not in output, fmt
            assert base64.b64encode(password.encode()).decode()[:16] not in output, fmt


def test_sarif_matches_the_2_1_0_schema(rendered_spec: tuple[Path, Objects]) -> None:
    spec, objects = rendered_spec
    mutated, expected = seeded(objects)
    result = run_audit(spec, write_export(spec.parent, mutated), "--format", "sarif")
    assert result.code == 1
    sarif = json.loads(result.stdout)
    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text())
    jsonschema.Draft4Validator(schema).validate(sarif)
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} == {code for code, _ in expected}
    broken = copy.deepcopy(sarif)
    broken["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate(broken)


def test_policy_reports_validate_against_the_wg_policy_crd(rendered_spec: tuple[Path, Objects]) -> None:
    spec, objects = rendered_spec
    mutated, expected = seeded(objects)
    result = run_audit(spec, write_export(spec.parent, mutated), "--format", "policyreport")
    reports = spec.parent / "reports.yaml"
    reports.write_text(result.stdout)
    docs = list(yaml.safe_load_all(result.stdout))
    assert {d["kind"] for d in docs} == {"PolicyReport", "ClusterPolicyReport"}
    assert sum(len(d["results"]) for d in docs) == len(expected)
    check = run_cli("validate", reports, "--crds", DATA / "crds", "--strict-crds")
    assert check.code == 0, check.output
    reports.write_text(result.stdout.replace("result: fail", "result: failed", 1))
    assert run_cli("validate", reports, "--crds", DATA / "crds", "--strict-crds").code == 1


def test_usage_errors(rendered_spec: tuple[Path, Objects], tmp_path: Path) -> None:
    spec, objects = rendered_spec
    export = write_export(spec.parent, objects)
    assert run_cli("audit", spec).code == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("items: [\n")
    result = run_cli("audit", spec, "--live", bad)
    assert result.code == 2 and re.search(r"bad\.yaml:\d+:\d+: not YAML or JSON", result.stderr), result.output
    assert "Traceback" not in result.output
    assert run_cli("audit", spec, "--live", export, "--cluster", "nope").code == 2
    assert run_cli("audit", spec, "--live", export, "--ignore", "AU999").code == 2
    assert run_cli("audit", spec, "--live", export, "--now", "yesterday").code == 2
    invalid = write_spec(tmp_path, SPEC.replace("secretMode: merged", "secretMode: glued"), "invalid.yaml")
    assert run_cli("audit", invalid, "--live", export).code == 3


def test_ignore_and_strict(rendered_spec: tuple[Path, Objects]) -> None:
    spec, objects = rendered_spec
    mutated = copy.deepcopy(objects)
    _orphans(mutated)
    export = write_export(spec.parent, mutated)
    assert run_audit(spec, export).code == 0, "warnings alone pass"
    assert run_audit(spec, export, "--strict").code == 1
    assert run_audit(spec, export, "--strict", "--ignore", "orphaned-secret").code == 0


def test_several_clusters_need_cluster(tmp_path: Path) -> None:
    text = SPEC.replace('    kyverno: {version: "1.13"}\n', '    kyverno: {version: "1.13"}\n'
                        '  - {name: dev, kubernetesVersion: "1.33", backend: plain, kyverno: {version: "1.13"}}\n')
    spec = write_spec(tmp_path, text)
    export = tmp_path / "live.yaml"
    export.write_text("apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ServiceAccount, "
                      "metadata: {name: default, namespace: other}}\n")
    result = run_cli("audit", spec, "--live", export)
    assert result.code == 2 and "prod, dev" in result.stderr
    assert run_cli("audit", spec, "--live", export, "--cluster", "dev").code == 0


HOSTILE = [
    ({"kind": "Secret", "metadata": {"name": "a", "namespace": "alpha", "labels": ["x"]}}, "metadata.labels must be"),
    ({"kind": "Secret", "metadata": {"name": "a", "namespace": "alpha"}, "data": {".dockerconfigjson": 12}},
     'data[".dockerconfigjson"] must be a string'),
    ({"kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "alpha", "managedFields": [1]}},
     "metadata.managedFields[0] must be a mapping"),
    ({"kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "alpha"}, "imagePullSecrets": "x"},
     "imagePullSecrets must be a list"),
    ({"kind": "Pod", "metadata": {"name": "p", "namespace": "alpha"}, "spec": {"containers": [{"name": "c"}]},
      "status": {"containerStatuses": [{"name": "c", "state": {"waiting": "x"}}]}},
     "status.containerStatuses[0].state.waiting must be a mapping"),
    ({"kind": "Pod", "metadata": {"name": "q", "namespace": "alpha"}, "spec": []}, "spec must be a mapping"),
    ({"kind": "Event", "metadata": {"name": "e", "namespace": "alpha"}, "involvedObject": "x"},
     "involvedObject must be a mapping"),
    ({"kind": "ExternalSecret", "metadata": {"name": "e", "namespace": "alpha"}, "status": {"refreshTime": 7}},
     "status.refreshTime must be a string"),
    ({"kind": "Secret", "metadata": "x"}, "metadata must be a mapping"),
]


@pytest.mark.parametrize(("item", "message"), HOSTILE)
def test_malformed_objects_are_refused_at_their_position(rendered_spec: tuple[Path, Objects], item: dict[str, Any],
                                                         message: str) -> None:
    spec, objects = rendered_spec
    export = write_export(spec.parent, {**objects, ("X", "", "x"): item})
    result = run_audit(spec, export)
    assert result.code == 2 and "Traceback" not in result.output, result.output
    assert re.search(r"live\.yaml:\d+:1: \w+ [^:]*: ", result.stderr) and message in result.stderr, result.stderr


def _b64s(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def test_secrets_that_are_not_pull_secrets_do_not_mask_the_report(rendered_spec: tuple[Path, Objects]) -> None:
    """A token Secret's namespace and an Opaque `true`/`error` are not credentials: masking them everywhere
    corrupted every report (review of issue 18); the token itself still never prints."""
    spec, objects = rendered_spec
    token = "eyJhbGciOiJSUzI1NiJ9.sekrit-token-value"
    objects[("Secret", "alpha", "builder-token")] = {
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
        "metadata": {"name": "builder-token", "namespace": "alpha"},
        "data": {"namespace": _b64s("alpha"), "token": _b64s(token), "ca.crt": _b64s("-----BEGIN CERT")}}
    objects[("Secret", "alpha", "flags")] = {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": {"name": "flags", "namespace": "alpha"},
        "data": {"enabled": _b64s("true"), "level": _b64s("error"), "key": _b64s("Zq9!long-opaque-key")}}
    _drift(objects)  # something to report
    export = write_export(spec.parent, objects)
    text = run_audit(spec, export)
    assert "alpha" in text.stdout and "***" not in text.stdout, text.stdout
    reports = run_audit(spec, export, "--format", "policyreport")
    assert list(yaml.safe_load_all(reports.stdout)), "PolicyReport output must stay YAML"
    assert all(token not in r.output and "long-opaque-key" not in r.output for r in (text, reports))
    assert json.loads(run_audit(spec, export, "--format", "json").stdout)["findings"]


def test_a_big_flat_export_is_read_but_an_alias_bomb_is_not(tmp_path: Path) -> None:
    """The node cap is one node per byte (kubectl writes one List document), so only aliases exceed it."""
    from genpolicy.errors import UsageError
    from genpolicy.inputs import MAX_DOCUMENT_NODES, yaml_documents
    flat = "[" + "0," * (MAX_DOCUMENT_NODES + 1000) + "0]"
    assert len(next(yaml_documents(flat, "big.yaml"))[1]) == MAX_DOCUMENT_NODES + 1001
    bomb = "a: &a [" + ",".join(["x"] * 100) + "]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 100)}]\n" for i in range(3))
    with pytest.raises(UsageError):
        list(yaml_documents(bomb, "bomb.yaml"))


@pytest.mark.parametrize(("value", "ok"), [("2026-12-02T10:00:00Z", True), ("2026-12-02T10:00:00.5+01:00", True),
                                           ("2026-12-02", False), ("20261202T100000", False)])
def test_times_are_rfc3339_only(value: str, ok: bool) -> None:
    from genpolicy.audit.expiry import parse_duration, parse_time
    assert (parse_time(value) is not None) is ok
    assert parse_duration("500ms") == datetime.timedelta(milliseconds=500)
    assert parse_duration("9" * 400 + "h") is None  # beyond timedelta: no crash


def test_expiries_beyond_the_calendar_do_not_crash(rendered_spec: tuple[Path, Objects]) -> None:
    spec, objects = rendered_spec
    secret = objects[("Secret", "alpha", "ghcr-pull")]
    secret["metadata"].setdefault("annotations", {})["genpolicy.io/expires"] = "9999-12-31T23:59:59Z"
    export = write_export(spec.parent, objects)
    for extra in ((), ("--expiry-window", "999999d")):
        result = run_audit(spec, export, *extra)
        assert result.code in (0, 1) and "Traceback" not in result.output, result.output
    assert run_audit(spec, export, "--expiry-window", "9999999999d").code == 2


def test_namespace_selector_groups_are_judged_by_exported_namespace_labels(tmp_path: Path) -> None:
    """examples/kyverno's `labelled` group: a clone is expected only where an exported Namespace carries
    the label; a namespace whose labels the export does not show expects nothing (no false AU003)."""
    out = tmp_path / "out"
    spec = ROOT / "examples/kyverno/spec.yaml"
    result = run_cli("render", spec, "--output", out)
    assert result.code == 0, result.output
    objects = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
               for doc in rendered(out / "next") for o in applied(doc) if o["kind"] in ("Secret", "ServiceAccount")}
    for ns in ("other-app", "opted-in", "opted-out"):
        objects[("ServiceAccount", ns, "default")] = {"apiVersion": "v1", "kind": "ServiceAccount",
                                                      "metadata": {"name": "default", "namespace": ns}}
    label = {"pull-secrets.example.com/ghcr": "enabled"}
    for ns, labels in (("opted-in", label), ("opted-out", {"team": "x"})):
        objects[("Namespace", "", ns)] = {"apiVersion": "v1", "kind": "Namespace",
                                          "metadata": {"name": ns, "labels": labels}}
    export = write_export(tmp_path, objects)
    report = run_cli("audit", spec, "--cluster", "next", "--live", export, "--format", "json")
    missing = {f["object"]["namespace"] for f in json.loads(report.stdout)["findings"] if f["code"] == "AU003"}
    assert missing == {"opted-in"}, report.output  # fails if selectors were assumed to match (other-app too)


def test_an_export_with_nothing_to_audit_is_refused(rendered_spec: tuple[Path, Objects], tmp_path: Path) -> None:
    """An empty List (a failed `kubectl get` in CI) must not pass as a clean audit."""
    spec, _ = rendered_spec
    empty = tmp_path / "empty.yaml"
    empty.write_text("apiVersion: v1\nkind: List\nitems: []\n")
    result = run_audit(spec, empty)
    assert result.code == 2 and "holds no ServiceAccount, Secret or Pod" in result.output, result.output


def test_a_secret_value_that_is_not_base64_does_not_mask_its_words_everywhere() -> None:
    """Slices of a base64 value decode to credential bytes, so they are masked; a value that is not base64 is
    masked as a whole only (its slices would hide words like `secret` in every later report)."""
    from genpolicy import secrets
    from genpolicy.audit.live import register_secret

    register_secret({"kind": "Secret", "data": {"token": "zq-secret-token-zq"}})  # "-" is not base64
    assert secrets.redact("the zq-secret-token-zq value") == "the *** value"
    assert secrets.redact("a secret-token word") == "a secret-token word"
