"""Secrets are sacred: every command, every backend and every credential source, with recognisable
values, and not one of them (raw, base64, or inside `user:password`) may reach stdout, stderr,
`--diff` output, error messages or any output file except the plaintext Secrets the spec opted into.
"""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pyrage
import pytest
import yaml
from test_backends import make_certificate

from conftest import Run, require_shared, run_cli, write_spec

ENV_PASSWORD = "Leak-Canary-Env-Password-4b7e1f"
FILE_PASSWORD = "Leak-Canary-File-Password-9d2c3a"
CONFIG_PASSWORD = "Leak-Canary-Config-Password-5e8f0b"
INLINE_PASSWORD = "Leak-Canary-Inline-Password-1a6d7c"
USER = "canary-robot"
PASSWORDS = [ENV_PASSWORD, FILE_PASSWORD, CONFIG_PASSWORD, INLINE_PASSWORD]
ENV = {"LEAK_PASS": ENV_PASSWORD}

SPEC = """
apiVersion: genpolicy/v1alpha1
kind: PullSecretSpec
allowPlaintext: true
registries:
  - name: ghcr
    server: ghcr.io
    credentials: {username: canary-robot, fromEnv: {password: LEAK_PASS}}
  - name: hub
    server: docker.io
    credentials: {username: canary-robot, fromFile: {password: hub.txt}}
  - name: quay
    server: quay.io
    credentials: {dockerConfig: {path: config.json}}
  - name: inline
    server: registry.example.com:8443/team
    credentials: {inline: {username: canary-robot, password: INLINE}}
  - name: vault
    server: harbor.example.com
    credentials: {externalSecret: {store: {name: vault}, remoteKey: harbor/pull}}
  - name: ecr
    server: 123456789012.dkr.ecr.eu-west-1.amazonaws.com
    credentials:
      generator: {kind: ECRAuthorizationToken, spec: {region: eu-west-1}}
  - name: gke
    server: europe-docker.pkg.dev
    credentials: {node: {provider: gke-node-service-account}}
clusters:
  - name: sealed
    kubernetesVersion: "1.33"
    backend: sealed-secrets
    sealedSecrets: {certificate: cert.pem}
    kyverno: {version: "1.13"}
    engineCredentials:  # Argo CD repository Secrets, sealed / ESO / generator
      - {registry: ghcr, kind: repository, url: ghcr.io/org/charts}
      - {registry: inline, kind: repo-creds}
      - {registry: hub, kind: repository}
      - {registry: vault, kind: repository}
      - {registry: ecr, kind: repo-creds}
  - name: sops
    kubernetesVersion: "1.33"
    gitops: flux
    backend: sops
    sops: {recipients: [RECIPIENT]}
    engineCredentials:  # Flux sources with SOPS-encrypted secretRef Secrets
      - {registry: ghcr, kind: HelmRepository}
      - {registry: quay, kind: OCIRepository, url: quay.io/org/manifests}
      - {registry: hub, kind: ImageRepository, url: docker.io/org/app}
  - name: plain
    kubernetesVersion: "1.33"
    backend: plain
    engineCredentials:  # plaintext repository Secrets: only under out/plain, like the pull Secrets
      - {registry: ghcr, kind: repository}
      - {registry: quay, kind: repo-creds}
namespaceGroups:
  - name: apps
    namespaces: [alpha, beta]
    registries: [ghcr, hub, quay, inline, vault, ecr, gke]
    serviceAccounts: [default, builder]
  - name: merged
    namespaces: [gamma]
    registries: [ghcr, hub, quay, inline]
    secretMode: merged
  - name: teams
    distribution: kyverno
    clusters: [sealed]
    namespaces: ["team-*"]
    registries: [ghcr, hub]
lint:
  ignore: [plaintext, cloud-static-credentials]
"""

WORKLOAD = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: alpha}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: ghcr.io/org/web:1}, {name: side, image: quay.io/org/side:2}]
      initContainers: [{name: init, image: registry.example.com:8443/team/init}]
"""


def needles() -> list[str]:
    """Every form a password could take in output: raw, base64 of it, base64 of `user:password`."""
    found = []
    for password in PASSWORDS:
        found.append(password)
        found.append(base64.b64encode(password.encode()).decode()[:16])
        found.append(base64.b64encode(f"{USER}:{password}".encode()).decode()[:20])
    return found


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    make_certificate(tmp_path)
    (tmp_path / "hub.txt").write_text(FILE_PASSWORD + "\n")
    auth = base64.b64encode(f"{USER}:{CONFIG_PASSWORD}".encode()).decode()
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"https://quay.io": {"auth": auth}}}))
    (tmp_path / "workloads").mkdir()
    (tmp_path / "workloads" / "web.yaml").write_text(WORKLOAD)
    recipient = str(pyrage.x25519.Identity.generate().to_public())
    text = SPEC.replace("INLINE", INLINE_PASSWORD).replace("RECIPIENT", recipient)
    return write_spec(tmp_path, text)


def assert_clean(result: Run, what: str) -> None:
    assert "Traceback" not in result.output, what
    for needle in needles():
        assert needle not in result.output, f"{what} printed a credential form {needle[:6]}..."


FAILING_POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "alpha"},
               "spec": {"imagePullSecrets": [{"name": "ghcr-pull"}, {"name": "inline-pull"}],
                        "containers": [{"name": "web", "image": "ghcr.io/org/web:1"}]},
               "status": {"containerStatuses": [{"name": "web", "state": {"waiting": {"reason": "ErrImagePull"}}}]}}


def live_export(out: Path, folder: Path) -> Path:
    """The plain cluster's rendered Secrets and ServiceAccounts as `kubectl get -o yaml` lists them, one of
    them drifted, plus a Pod failing to pull with them (issue 18: audit reads real credentials)."""
    items: list[object] = [FAILING_POD]
    for path in sorted((out / "plain").rglob("*.yaml")):
        items += [d for d in yaml.safe_load_all(path.read_text())
                  if isinstance(d, dict) and d.get("kind") in ("Secret", "ServiceAccount")]
    for item in items:
        if isinstance(item, dict) and item.get("kind") == "Secret" and item["metadata"]["name"] != "ghcr-pull":
            item["type"] = "Opaque"  # reported by name and type, never with its data
    export = folder / "live.yaml"
    export.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))
    return export


def every_command(spec: Path) -> dict[str, Run]:
    folder = spec.parent
    out = folder / "out"
    crds = require_shared()
    runs = {
        "render": run_cli("render", spec, "--crds", crds, "--diff", env=ENV),
        "render --check --diff": run_cli("render", spec, "--crds", crds, "--check", "--diff", env=ENV),
        "render json": run_cli("render", spec, "--format", "json", env=ENV),
        "render github": run_cli("render", spec, "--format", "github", env=ENV),
        "render --check without credentials": run_cli("render", spec, "--check", env={}),
        "validate": run_cli("validate", out, "--crds", crds),
        "lint": run_cli("lint", spec),
        "lint json": run_cli("lint", spec, "--format", "json", "--ignore", "GP001"),
        "explain spec": run_cli("explain", "ghcr.io/org/web", spec, "-n", "alpha", "--cluster", "plain"),
        "explain spec json": run_cli("explain", "nginx", spec, "-n", "team-x", "--format", "json"),
        "explain dockerconfig": run_cli("explain", "quay.io/org/x", "--dockerconfig", folder / "config.json",
                                        "--dockerconfig", out / "plain/namespaces/gamma.yaml"),
        "explain dockerconfig json": run_cli("explain", "ghcr.io/a", "--format", "json", "--dockerconfig",
                                             out / "plain/namespaces/alpha.yaml"),
        "coverage": run_cli("coverage", spec, "--workloads", folder / "workloads"),
        "coverage json": run_cli("coverage", spec, "--workloads", folder / "workloads", "--format", "json"),
        "coverage markdown": run_cli("coverage", spec, "--format", "markdown"),
        "schema": run_cli("schema"),
        "templates list": run_cli("templates", "list"),
        "init": run_cli("init", folder / "scaffold", "--no-input"),
    }
    export = live_export(out, folder)
    for fmt in ("text", "json", "sarif", "policyreport"):
        runs[f"audit {fmt}"] = run_cli("audit", spec, "--cluster", "plain", "--live", export, "--format", fmt)
    runs["import"] = run_cli("import", export, "--backend", "plain")  # the spec on stdout, checklist on stderr
    # changes, then failures: a changed credential, a vanished file, a broken template, a bad spec
    runs["render changed"] = run_cli("render", spec, "--diff", env={"LEAK_PASS": ENV_PASSWORD + "-2"})
    runs["missing variable"] = run_cli("render", spec, env={})
    (folder / "hub.txt").unlink()
    runs["vanished file"] = run_cli("render", spec, env=ENV)
    (folder / "hub.txt").write_text(FILE_PASSWORD)
    (folder / "tpl").mkdir()
    (folder / "tpl" / "secret.yaml.j2").write_text("{{ dockerconfigjson }} {{ nope.missing }}\n")
    runs["broken template"] = run_cli("render", spec, "--templates", folder / "tpl", env=ENV)
    broken = folder / "broken.yaml"
    broken.write_text(spec.read_text().replace("secretMode: merged", f"secretMode: {INLINE_PASSWORD}"))
    runs["invalid spec"] = run_cli("render", broken, env=ENV)
    runs["invalid spec lint"] = run_cli("lint", broken, "--format", "json")
    return runs


def test_no_command_prints_a_credential(spec: Path) -> None:
    runs = every_command(spec)
    expected_ok = ["render", "render --check --diff", "validate", "explain spec", "explain dockerconfig",
                   "coverage markdown", "schema", "templates list", "init", "render changed"]
    for what in expected_ok:
        assert runs[what].code == 0, (what, runs[what].output[-2000:])
    assert runs["missing variable"].code == 4 and runs["vanished file"].code == 4
    assert runs["broken template"].code == 5 and runs["invalid spec"].code == 3
    assert "canary-robot" in runs["explain dockerconfig"].output  # usernames are shown, passwords never
    assert runs["audit text"].code == 1 and "AU004" in runs["audit text"].stdout
    assert "AU008" in runs["audit text"].stdout and "user canary-robot" in runs["audit text"].stdout
    # the exported Argo CD repository Secrets are the spec's (not orphans); their url keys stay readable
    assert "AU007" not in runs["audit text"].stdout and "for ghcr.io/org/web:1" in runs["audit text"].stdout
    assert runs["import"].code == 0 and "fromEnv" in runs["import"].stdout
    for what, result in runs.items():
        assert_clean(result, what)


def test_only_opted_in_plaintext_files_hold_credentials(spec: Path) -> None:
    assert run_cli("render", spec, env=ENV).code == 0
    out = spec.parent / "out"
    engine_files = ["sealed/engines/engines.yaml", "sops/engines/flux-system/ghcr-pull.sops.yaml",
                    "plain/engines/engines.yaml"]
    assert all((out / f).is_file() for f in engine_files), "engine credentials are part of the leak check"
    encoded = {n: n for n in needles()}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        content = path.read_text(encoding="utf-8")
        plain_secret = path.is_relative_to(out / "plain") and "kind: Secret" in content
        leaked = [n for n in encoded if n in content]
        if not plain_secret:
            assert not leaked, f"{path.relative_to(out)} holds a credential form"
        if "kind: Secret\n" in content and ("dockerconfigjson" in content or "secret-type" in content) \
                and plain_secret:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for password in PASSWORDS:  # plaintext Secrets hold them only base64-encoded, as Kubernetes wants
        assert not any(password in p.read_text() for p in out.rglob("*") if p.is_file())


# --- issue 19, item 4 -----------------------------------------------------------------------------

TWO_CLUSTERS = """
apiVersion: genpolicy/v1alpha1
kind: PullSecretSpec
allowPlaintext: true
registries:
  - name: ghcr
    server: ghcr.io
    credentials: {username: canary-robot, fromEnv: {password: LEAK_PASS}}
clusters:
  - {name: one, kubernetesVersion: "1.33"}
  - {name: two, kubernetesVersion: "1.33"}
namespaceGroups:
  - {name: apps, namespaces: [alpha], registries: [ghcr]}
"""

COPYING_TEMPLATE = """apiVersion: v1
kind: Secret
metadata:
  name: {{ name }}
  namespace: {{ namespace }}
  annotations:
    copy: {{ dockerconfigjson }}
type: kubernetes.io/dockerconfigjson
data:
  .dockerconfigjson: {{ dockerconfigjson }}
"""


def derived_forms() -> list[str]:
    auth = base64.b64encode(f"{USER}:{ENV_PASSWORD}".encode()).decode()
    body = json.dumps({"auths": {"ghcr.io": {"auth": auth, "password": ENV_PASSWORD, "username": USER}}},
                      sort_keys=True, separators=(",", ":"))
    return [auth, base64.b64encode(body.encode()).decode()]


def test_parent_redacts_values_derived_in_workers(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, TWO_CLUSTERS)
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl/secret.yaml.j2").write_text(COPYING_TEMPLATE)
    result = run_cli("render", spec, "--diff", "--templates", tmp_path / "tpl",
                     env={**ENV, "GENPOLICY_WORKERS": "2"})
    assert result.code == 0, result.output
    assert "copy:" in result.stdout, "the diff shows the annotation"
    for value in derived_forms():
        assert value not in result.output
        assert value[10:40] not in result.output


def test_slices_of_derived_values_are_redacted() -> None:
    from genpolicy.secrets import redact, register_derived

    value = base64.b64encode(b'{"auths":{"slice.example":{"password":"Slice-Canary-Password-77"}}}').decode()
    register_derived(value)
    for start, end in ((0, 12), (13, 31), (7, 14), (len(value) - 9, len(value))):
        shown = redact(f"error: value {value[start:end]!r} is invalid")
        assert value[start:end] not in shown and "***" in shown
    assert redact("a normal message about Secret ghcr-pull") == "a normal message about Secret ghcr-pull"


@pytest.mark.parametrize("backend", ["sealed-secrets", "sops"])
def test_template_copying_a_credential_outside_encrypted_data_is_refused(tmp_path: Path, backend: str) -> None:
    settings = "sealedSecrets: {certificate: cert.pem}" if backend == "sealed-secrets" else \
        f"sops: {{recipients: [{pyrage.x25519.Identity.generate().to_public()}]}}"
    make_certificate(tmp_path)
    text = TWO_CLUSTERS.replace("allowPlaintext: true\n", "").replace(
        '{name: two, kubernetesVersion: "1.33"}', f'{{name: two, kubernetesVersion: "1.33", backend: {backend}, '
        f'{settings}}}').replace("  - {name: one, kubernetesVersion: \"1.33\"}\n", "")
    spec = write_spec(tmp_path, text)
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl/secret.yaml.j2").write_text(COPYING_TEMPLATE)
    result = run_cli("render", spec, "--templates", tmp_path / "tpl", env=ENV)
    assert result.code == 5, result.output
    assert "metadata.annotations.copy" in result.stderr and "outside the Secret's data" in result.stderr
    assert not (tmp_path / "out").exists()
    for value in derived_forms():
        assert value not in result.output
