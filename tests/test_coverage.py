"""`genpolicy coverage`: which workload images get a pull credential, through which path, and which none.

Every case runs the real CLI (`python -m genpolicy coverage ... --format json`) on a spec with static,
merged, Kyverno (names, exclusions, label selector) and node-provider registries.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import ROOT, run_cli, write_spec
from genpolicy.explain import pod_keyring
from genpolicy.specfile import load_spec

LEAK_USER = "leaky-user-Q7Z"
LEAK_PASSWORD = "Leaky-Passw0rd-9XK"
LITERAL_USER = "robot-literal-W4V"

SPEC = f"""
apiVersion: genpolicy/v1alpha1
kind: PullSecretSpec
allowPlaintext: true
registries:
  - name: ghcr
    server: ghcr.io
    credentials:
      fromEnv: {{username: COV_USER, password: COV_PASS}}
  - name: harbor
    server: https://harbor.example.com:8443/team
    credentials:
      username: {LITERAL_USER}
      fromFile: {{password: does-not-exist.txt}}
  - name: hub
    server: https://index.docker.io/v1/
    secretName: hub-pull
    credentials:
      fromEnv: {{username: COV_USER, password: COV_PASS}}
  - name: quay
    server: quay.io/team
    credentials:
      externalSecret:
        store: {{name: vault}}
        remoteKey: registries/quay
  - name: gar
    server: europe-docker.pkg.dev
    credentials:
      node: {{provider: gke-node-sa}}
clusters:
  - name: prod
    kubernetesVersion: "1.33"
    kyverno: {{version: "1.13"}}
  - name: dev
    kubernetesVersion: "1.35"
namespaceGroups:
  - name: apps
    namespaces: [apps]
    registries: [ghcr, harbor, hub, quay, gar]
    serviceAccounts: [default, builder]
  - name: web
    clusters: [prod]
    namespaces: [web]
    registries: [ghcr, hub]
    secretMode: merged
    mergedSecretName: regcred
  - name: teams
    distribution: kyverno
    clusters: [prod]
    namespaces: ["team-*"]
    excludeNamespaces: [team-sandbox]
    registries: [ghcr, harbor, gar]
  - name: labelled
    distribution: kyverno
    clusters: [prod]
    namespaces: ["lab-*"]
    namespaceSelector:
      matchLabels: {{pulls: enabled}}
    registries: [quay]
"""


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    return write_spec(tmp_path, SPEC)


def pod(namespace: str | None, images: dict[str, str], *, sa: str | None = None,
        secrets: list[str] | None = None, name: str = "p") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, **({"namespace": namespace} if namespace else {})}
    spec: dict[str, Any] = {"containers": [{"name": c, "image": i} for c, i in images.items()]}
    if sa:
        spec["serviceAccountName"] = sa
    if secrets is not None:
        spec["imagePullSecrets"] = [{"name": s} for s in secrets]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def coverage_json(spec: Path, folder: Path, *docs: dict[str, Any], args: tuple[str, ...] = ("--cluster", "prod"),
                  env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    (folder / "workloads.yaml").write_text(yaml.safe_dump_all(docs))
    result = run_cli("coverage", spec, "--workloads", folder / "workloads.yaml", "--format", "json", *args, env=env)
    assert result.code in (0, 1), result.output
    return result.code, json.loads(result.stdout)


def by_container(payload: dict[str, Any], cluster: int = 0) -> dict[str, dict[str, Any]]:
    return {i["container"]: i for i in payload["clusters"][cluster]["images"]}


# (id, pod, extra args, {container: (status, paths)}, substrings of the reason/notes of a container)
CASES: list[tuple[str, dict[str, Any], tuple[str, ...], dict[str, tuple[str, list[str]]], dict[str, str]]] = [
    ("service account default gets the patched list",
     pod("apps", {"a": "ghcr.io/org/app:1"}), (), {"a": ("covered", ["service-account"])}, {}),
    ("service account builder is patched too",
     pod("apps", {"a": "ghcr.io/org/app:1"}, sa="builder"), (), {"a": ("covered", ["service-account"])}, {}),
    ("an unpatched service account gives nothing",
     pod("apps", {"a": "ghcr.io/org/app:1"}, sa="ci-bot"), (), {"a": ("uncovered", [])},
     {"a": "'ci-bot' is not patched"}),
    ("pod-level secrets suppress the ServiceAccount list",
     pod("apps", {"a": "ghcr.io/org/app:1", "b": "harbor.example.com:8443/team/app:1"}, secrets=["ghcr-pull"]), (),
     {"a": ("covered", ["pod"]), "b": ("uncovered", [])}, {"b": "are not copied into it"}),
    ("a genpolicy secret at pod level through the Helm values (merged)",
     pod("web", {"a": "nginx:1.27", "b": "ghcr.io/org/app"}, secrets=["regcred"]), (),
     {"a": ("covered", ["pod"]), "b": ("covered", ["pod"])}, {}),
    ("an unknown pod-level secret is not counted",
     pod("apps", {"a": "ghcr.io/org/app:1"}, secrets=["mystery"]), (), {"a": ("uncovered", [])},
     {"a": "its content is unknown"}),
    ("unknown and known pod-level secrets together",
     pod("apps", {"a": "ghcr.io/org/app:1", "b": "quay.io/team/x"}, secrets=["mystery", "ghcr-pull"]), (),
     {"a": ("covered", ["pod"]), "b": ("uncovered", [])}, {"b": "Secret apps/mystery"}),
    ("Kyverno adds its Secret regardless of pod-level secrets",
     pod("team-blue", {"a": "ghcr.io/org/app:1"}, secrets=["mystery"]), (), {"a": ("covered", ["kyverno"])}, {}),
    ("Kyverno and a pod-level copy of its Secret",
     pod("team-blue", {"a": "ghcr.io/org/app:1"}, secrets=["ghcr-pull"]), (), {"a": ("covered", ["pod"])}, {}),
    ("Kyverno only adds registries the Pod's images come from; Hub is not in the group",
     pod("team-blue", {"a": "harbor.example.com:8443/team/app", "b": "nginx"}), (),
     {"a": ("covered", ["kyverno"]), "b": ("uncovered", [])}, {"b": "no key matches docker.io/library/nginx"}),
    ("Kyverno exclusions",
     pod("team-sandbox", {"a": "ghcr.io/org/app:1"}), (), {"a": ("uncovered", [])},
     {"a": "namespace 'team-sandbox' is not managed by the spec on cluster 'prod'"}),
    ("a label selector is an assumption",
     pod("lab-one", {"a": "quay.io/team/app"}), (), {"a": ("assumed", ["kyverno"])},
     {"a": "labels cannot be known offline"}),
    ("a Kyverno group's names still apply with a selector",
     pod("other", {"a": "quay.io/team/app"}), (), {"a": ("uncovered", [])}, {"a": "not managed by the spec"}),
    ("node credential provider",
     pod("apps", {"a": "europe-docker.pkg.dev/p/r/app:1"}), (), {"a": ("covered", ["node"])}, {}),
    ("a node provider serves every namespace of the cluster, managed or not",
     pod("unmanaged", {"a": "europe-docker.pkg.dev/p/r/app:1"}), (), {"a": ("covered", ["node"])}, {}),
    ("node provider of a Kyverno group, with unknown pod-level secrets",
     pod("team-x", {"a": "europe-docker.pkg.dev/p/r/app:1"}, secrets=["mystery"]), (),
     {"a": ("covered", ["node"])}, {}),
    ("Docker Hub short names and spellings",
     pod("apps", {"a": "nginx", "b": "library/nginx:1", "c": "bitnami/redis", "d": "index.docker.io/library/busybox",
                  "e": "docker.io/org/app@sha256:" + "a" * 64}), (),
     {c: ("covered", ["service-account"]) for c in "abcde"}, {}),
    ("ports must be equal: host:8443/team does not cover host/team",
     pod("apps", {"a": "harbor.example.com/team/app", "b": "harbor.example.com:8443/team/app",
                  "c": "harbor.example.com:8443/other/app"}), (),
     {"a": ("uncovered", []), "b": ("covered", ["service-account"]), "c": ("uncovered", [])},
     {"a": "port 8443 differs", "c": "does not start with /team"}),
    ("/team also covers /teammate: the kubelet's plain prefix",
     pod("apps", {"a": "quay.io/teammate/app"}), (), {"a": ("covered", ["service-account"])},
     {"a": "plain string prefix"}),
    ("public prefixes",
     pod("elsewhere", {"a": "registry.k8s.io/pause:3.9", "b": "nginx", "c": "ghcr.io/org/app"}),
     ("--public", "registry.k8s.io/", "--public", "docker.io/library/"),
     {"a": ("public", []), "b": ("public", []), "c": ("uncovered", [])}, {"c": "not managed by the spec"}),
    ("a public prefix does not hide a credential",
     pod("apps", {"a": "nginx"}), ("--public", "index.docker.io/library/"), {"a": ("covered", ["service-account"])},
     {}),
    ("--namespace for workloads without one",
     pod(None, {"a": "ghcr.io/org/app"}), ("--namespace", "apps"), {"a": ("covered", ["service-account"])}, {}),
    ("no namespace at all is `default`",
     pod(None, {"a": "ghcr.io/org/app"}), (), {"a": ("uncovered", [])}, {"a": "namespace 'default'"}),
    ("an image the kubelet rejects",
     pod("apps", {"a": "Ghcr.io/Org/App"}), (), {"a": ("invalid", [])}, {"a": "must be lowercase"}),
]


@pytest.mark.parametrize(("pod_doc", "args", "expected", "says"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_semantics(spec: Path, tmp_path: Path, pod_doc: dict[str, Any], args: tuple[str, ...],
                   expected: dict[str, tuple[str, list[str]]], says: dict[str, str]) -> None:
    code, payload = coverage_json(spec, tmp_path, pod_doc, args=("--cluster", "prod", *args))
    rows = by_container(payload)
    assert {c: (r["status"], r["paths"]) for c, r in rows.items()} == expected
    for container, text in says.items():
        row = rows[container]
        assert text in " ".join([row["reason"], *row["notes"]]), row
    failing = any(s in ("uncovered", "invalid") for s, _ in expected.values())
    assert code == (1 if failing else 0)


def test_an_ephemeral_container_does_not_trigger_the_kyverno_mutation(spec: Path, tmp_path: Path) -> None:
    """Ephemeral containers are added after the Pod exists: Kyverno's CREATE-time mutation never saw them,
    so a debug image from a registry no regular container uses gets no Secret from Kyverno."""
    doc = pod("team-blue", {"a": "ghcr.io/org/app:1"})
    doc["spec"]["ephemeralContainers"] = [{"name": "debug", "image": "harbor.example.com:8443/team/debug:1"},
                                          {"name": "same", "image": "ghcr.io/org/debug:1"}]
    code, payload = coverage_json(spec, tmp_path, doc)
    rows = by_container(payload)
    assert (rows["debug"]["status"], rows["debug"]["paths"]) == ("uncovered", [])
    assert (rows["same"]["status"], rows["same"]["paths"]) == ("covered", ["kyverno"]), "added for container a"
    assert code == 1


def test_cluster_option_and_namespaces_not_on_a_cluster(spec: Path, tmp_path: Path) -> None:
    doc = pod("web", {"a": "ghcr.io/org/app"})
    _, both = coverage_json(spec, tmp_path, doc, args=())
    assert [c["name"] for c in both["clusters"]] == ["prod", "dev"]
    assert [c["images"][0]["status"] for c in both["clusters"]] == ["covered", "uncovered"]
    assert "not managed by the spec on cluster 'dev'" in both["clusters"][1]["images"][0]["reason"]
    _, dev = coverage_json(spec, tmp_path, doc, args=("--cluster", "dev"))
    assert [c["name"] for c in dev["clusters"]] == ["dev"]
    assert run_cli("coverage", spec, "--cluster", "nope").code == 2


def test_credential_order_and_sources(spec: Path, tmp_path: Path) -> None:
    doc = pod("team-a", {"a": "ghcr.io/org/app"}, secrets=["mystery", "harbor-pull"])
    doc["spec"]["initContainers"] = [{"name": "i", "image": "harbor.example.com:8443/team/init"}]
    _, payload = coverage_json(spec, tmp_path, doc)
    rows = by_container(payload)
    assert rows["i"]["credentials"] == [{"order": 1, "key": "harbor.example.com:8443/team", "fallback": False,
                                         "source": "Secret team-a/harbor-pull (listed by the Pod: Helm values)",
                                         "path": "pod"}]
    assert [(c["key"], c["path"]) for c in rows["a"]["credentials"]] == [("ghcr.io", "kyverno")]
    assert rows["a"]["container_field"] == "containers" and rows["i"]["container_field"] == "initContainers"


# --- parsing ---------------------------------------------------------------------------------------

def _template(spec: dict[str, Any]) -> dict[str, Any]:
    return {"template": {"spec": spec}}


POD_SPEC = {"serviceAccountName": "builder", "containers": [{"name": "c", "image": "ghcr.io/org/app"}]}
KINDS = [
    ("apps/v1", "Deployment", _template(POD_SPEC)),
    ("apps/v1", "StatefulSet", _template(POD_SPEC)),
    ("apps/v1", "DaemonSet", _template(POD_SPEC)),
    ("apps/v1", "ReplicaSet", _template(POD_SPEC)),
    ("batch/v1", "Job", _template(POD_SPEC)),
    ("batch/v1", "CronJob", {"schedule": "* * * * *", "jobTemplate": {"spec": _template(POD_SPEC)}}),
    ("v1", "ReplicationController", _template(POD_SPEC)),
    ("v1", "Pod", POD_SPEC),
]


@pytest.mark.parametrize(("api_version", "kind", "body"), KINDS, ids=[k[1] for k in KINDS])
def test_every_workload_kind(spec: Path, tmp_path: Path, api_version: str, kind: str, body: dict[str, Any]) -> None:
    doc = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "w", "namespace": "apps"}, "spec": body}
    _, payload = coverage_json(spec, tmp_path, doc)
    [row] = payload["clusters"][0]["images"]
    assert (row["workload"], row["service_account"], row["status"]) == (f"{kind}/w", "builder", "covered")


def test_pod_template_list_and_ignored_kinds(spec: Path, tmp_path: Path) -> None:
    template = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t", "namespace": "apps"},
                "template": {"spec": {"serviceAccount": "builder",  # the deprecated field
                                      "containers": [{"name": "t", "image": "ghcr.io/x"}]}}}
    listed = {"apiVersion": "v1", "kind": "List", "items": [
        pod("apps", {"l1": "ghcr.io/y"}, name="l1"),
        {"apiVersion": "v1", "kind": "DeploymentList", "items": [  # kubectl get -o yaml of one kind
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "apps"},
             "spec": _template({"containers": [{"name": "l2", "image": "ghcr.io/z"}]})}]},
    ]}
    ignored = [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"image": "nope/x"}},
        {"apiVersion": "apps.example.com/v1", "kind": "Deployment", "metadata": {"name": "crd"},
         "spec": _template({"containers": [{"name": "crd", "image": "evil.example.com/x"}]})},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "e", "namespace": "apps"},
         "spec": {"containers": [{"name": "main", "image": "ghcr.io/a"}],
                  "ephemeralContainers": [{"name": "debug", "image": "ghcr.io/debug"}]}},
    ]
    _, payload = coverage_json(spec, tmp_path, template, listed, *ignored)
    rows = by_container(payload)
    assert sorted(rows) == ["debug", "l1", "l2", "main", "t"]
    assert rows["t"]["service_account"] == "builder" and rows["t"]["workload"] == "PodTemplate/t"
    assert rows["debug"]["container_field"] == "ephemeralContainers"
    assert all(r["status"] == "covered" for r in rows.values())


def test_folders_skip_non_yaml_and_read_helm_template_output(spec: Path, tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    (folder / "chart").mkdir(parents=True)
    (folder / "README.md").write_text("# not YAML: image: nope\n")
    (folder / "notes.txt").write_text("kind: Pod\n")
    (folder / "chart" / "rendered.yaml").write_text(textwrap.dedent("""\
        ---
        # Source: app/templates/serviceaccount.yaml
        apiVersion: v1
        kind: ServiceAccount
        metadata:
          name: app
        ---
        # Source: app/templates/deployment.yaml
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: app
        spec:
          template:
            spec:
              imagePullSecrets:
                - name: ghcr-pull
              containers:
                - name: app
                  image: "ghcr.io/org/app:1.0"
        ---
        # Source: app/templates/cronjob.yaml
        apiVersion: batch/v1
        kind: CronJob
        metadata:
          name: app-report
        spec:
          schedule: "@daily"
          jobTemplate:
            spec:
              template:
                spec:
                  containers:
                    - name: report
                      image: "harbor.example.com:8443/team/report:2"
        """))
    result = run_cli("coverage", spec, "--cluster", "prod", "-w", folder, "-n", "apps", "--format", "json")
    assert result.code == 0, result.output
    rows = by_container(json.loads(result.stdout))
    assert sorted(rows) == ["app", "report"]
    assert (rows["app"]["source"], rows["app"]["line"], rows["app"]["paths"]) == (
        "app/templates/deployment.yaml", 9, ["pod"])
    assert (rows["report"]["workload"], rows["report"]["namespace"], rows["report"]["file"]) == (
        "CronJob/app-report", "apps", str(folder / "chart" / "rendered.yaml"))


def test_invalid_yaml_is_a_problem_with_file_and_line(spec: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(pod("apps", {"ok": "ghcr.io/x"})) + "---\nkind: Pod\nmetadata: {name: [oops\n"
                   "---\n" + yaml.safe_dump(pod("apps", {"after": "ghcr.io/y"})))
    result = run_cli("coverage", spec, "--cluster", "prod", "-w", bad)
    assert result.code == 1
    assert f"{bad}:13:1: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence started " \
           "at line 12)" in result.stdout
    assert "Traceback" not in result.output
    payload = json.loads(run_cli("coverage", spec, "--cluster", "prod", "-w", bad, "--format", "json").stdout)
    assert sorted(by_container(payload)) == ["after", "ok"]  # the other documents are still read
    [problem] = payload["problems"]
    assert (problem["file"], problem["line"], problem["severity"]) == (str(bad), 13, "error")


# --- exit codes, formats, the spec only ---------------------------------------------------------------

def test_helm_template_on_stdin(spec: Path) -> None:
    manifest = yaml.safe_dump(pod(None, {"a": "ghcr.io/x"}))
    proc = subprocess.run([sys.executable, "-m", "genpolicy", "coverage", str(spec), "-w", "-", "-n", "apps",
                           "--cluster", "prod", "--format", "json"], input=manifest, capture_output=True, text=True,
                          cwd=ROOT, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    [row] = json.loads(proc.stdout)["clusters"][0]["images"]
    assert (row["file"], row["namespace"], row["status"]) == ("<stdin>", "apps", "covered")


def test_exit_codes(spec: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(pod("apps", {"a": "ghcr.io/x"})))
    missing = tmp_path / "missing.yaml"
    missing.write_text(yaml.safe_dump(pod("apps", {"a": "registry.example.org/x"})))
    assert run_cli("coverage", spec, "-w", good, "--cluster", "prod").code == 0
    assert run_cli("coverage", spec, "-w", good, "-w", missing, "--cluster", "prod").code == 1
    assert run_cli("coverage", spec).code == 0
    assert run_cli("coverage", spec, "-w", tmp_path / "nope").code == 2
    assert run_cli("coverage", spec, "--format", "yaml").code == 2
    broken = write_spec(tmp_path, "apiVersion: genpolicy/v1alpha1\nkind: PullSecretSpec\nregistries: []\n", "bad.yaml")
    result = run_cli("coverage", broken, "-w", good)
    assert result.code == 3 and "Traceback" not in result.output
    assert json.loads(run_cli("coverage", broken, "--format", "json").stdout)["problems"][0]["file"] == str(broken)


def test_table_and_markdown(spec: Path, tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump_all([pod("apps", {"ok": "ghcr.io/x", "gone": "harbor.example.com/team/x|y"}),
                                        pod("elsewhere", {"pub": "registry.k8s.io/pause"}, name="q")]))
    table = run_cli("coverage", spec, "-w", path, "--cluster", "prod", "--public", "registry.k8s.io/")
    assert table.code == 1
    lines = table.stdout.splitlines()
    assert lines[0] == "cluster prod: 3 images: 1 covered, 1 public, 1 invalid"
    assert lines[1].split() == ["STATUS", "NAMESPACE", "WORKLOAD", "CONTAINER", "IMAGE", "CREDENTIAL"]
    assert [line.split()[0] for line in lines[2:5]] == ["INVALID", "public", "ok"]
    assert "ensure secret pulled images" in table.stdout
    md = run_cli("coverage", spec, "-w", path, "--cluster", "prod", "--format", "markdown",
                 "--public", "registry.k8s.io/").stdout
    assert md.startswith("### ❌ genpolicy coverage\n")
    assert "#### Cluster `prod`: 3 images: 1 covered, 1 public, 1 invalid" in md
    assert "| | Namespace | Workload | Container | Image | Credential |" in md
    assert "`harbor.example.com/team/x\\|y`" in md  # a '|' would split the cell, even in a code span
    assert md.count("\n| ") == 4 and "| ❌ |" in md and "| 🌐 |" in md and "| ✅ |" in md


def test_json_shape(spec: Path, tmp_path: Path) -> None:
    _, payload = coverage_json(spec, tmp_path, pod("apps", {"a": "ghcr.io/x"}))
    assert payload["version"] == 1
    assert set(payload) == {"version", "workloads", "summary", "clusters", "problems"}
    assert payload["workloads"] == {"given": True, "files": 1, "pods": 1}
    assert payload["summary"] == {"images": 1, "covered": 1, "public": 0, "assumed": 0, "invalid": 0, "uncovered": 0}
    [cluster] = payload["clusters"]
    assert set(cluster) == {"name", "summary", "images", "deliveries"}
    assert set(cluster["images"][0]) == {
        "status", "namespace", "workload", "file", "line", "source", "service_account", "pod_secrets", "container",
        "container_field", "image", "lookup_key", "paths", "credentials", "reason", "notes"}
    assert set(cluster["deliveries"][0]) == {"namespaces", "group", "distribution", "registry", "key", "secret",
                                             "paths", "detail", "assumed", "excludes"}


def test_without_workloads_lists_delivery_paths(spec: Path) -> None:
    result = run_cli("coverage", spec, "--format", "json")
    assert result.code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["workloads"]["given"] is False
    prod = {(d["namespaces"], d["registry"]): d for d in payload["clusters"][0]["deliveries"]}
    assert prod[("apps", "ghcr")]["paths"] == ["service-account", "helm-values"]
    assert "ServiceAccount default, builder" in prod[("apps", "ghcr")]["detail"]
    assert prod[("apps", "gar")]["paths"] == ["node"] and prod[("apps", "gar")]["secret"] == ""
    assert prod[("web", "hub")]["secret"] == "regcred"
    kyverno = prod[("team-*", "harbor")]
    assert kyverno["paths"] == ["kyverno"] and "team-sandbox" in kyverno["excludes"]
    labelled = prod[("lab-* with labels pulls=enabled", "quay")]
    assert labelled["assumed"] is True and "assumed" in labelled["detail"]
    dev = payload["clusters"][1]
    assert dev["name"] == "dev" and {d["namespaces"] for d in dev["deliveries"]} == {"apps"}
    table = run_cli("coverage", spec, "--cluster", "prod")
    assert table.stdout.splitlines()[1].split() == ["NAMESPACES", "GROUP", "REGISTRY", "KEY", "DELIVERY"]
    assert run_cli("coverage", spec, "--format", "markdown").stdout.startswith("### ✅ genpolicy coverage")


def test_deterministic(spec: Path, tmp_path: Path) -> None:
    docs = [pod(ns, {"a": "ghcr.io/x", "b": "quay.io/team/y"}, name=f"p{i}")
            for i, ns in enumerate(["web", "apps", "team-a", "elsewhere"])]
    (tmp_path / "w.yaml").write_text(yaml.safe_dump_all(docs))
    runs = {run_cli("coverage", spec, "-w", tmp_path / "w.yaml", "--format", fmt).stdout
            for fmt in ("json", "json")}
    assert len(runs) == 1


def test_never_reads_or_prints_credentials(spec: Path, tmp_path: Path) -> None:
    env = {"COV_USER": LEAK_USER, "COV_PASS": LEAK_PASSWORD}
    docs = [pod("apps", {"a": "ghcr.io/x", "b": "harbor.example.com:8443/team/y", "c": "nope.example.com/z"}),
            pod("team-a", {"a": "ghcr.io/x"}, name="k")]
    (tmp_path / "w.yaml").write_text(yaml.safe_dump_all(docs))
    for fmt in ("table", "markdown", "json"):
        for args in (("-w", tmp_path / "w.yaml"), ()):
            result = run_cli("coverage", spec, *args, "--format", fmt, env=env)
            assert result.code in (0, 1), result.output  # the harbor password file does not exist: never read
            for value in (LEAK_USER, LEAK_PASSWORD, LITERAL_USER):
                assert value not in result.output


def test_pod_keyring_is_shared_with_explain(spec: Path) -> None:
    resolved = load_spec(spec)
    assumed = pod_keyring(resolved, "prod", "apps", "builder")  # explain's view: no pod-level list known
    assert assumed.secrets[0][0] == "Secret apps/ghcr-pull (attached by ServiceAccount builder)"
    own = pod_keyring(resolved, "prod", "apps", "builder", ["mystery"], ["ghcr.io/x"])
    assert own.secrets == [] and own.unknown == ["mystery"] and own.managed
    assert [key for key, _, _ in own.extra] == ["europe-docker.pkg.dev"]


def test_quickstart_example_workloads_are_covered() -> None:
    result = run_cli("coverage", ROOT / "examples/quickstart/spec.yaml", "--workloads",
                     ROOT / "examples/quickstart/workloads")
    assert result.code == 0, result.output
    assert "cluster prod: 4 images: 4 covered" in result.stdout
