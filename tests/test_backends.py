"""Secret backends: Sealed Secrets, SOPS+age, ESO generators, node providers, docker config import.

Keys and certificates are generated per test; nothing private is committed.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pyrage
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from conftest import ROOT, require_shared, run_cli, write_spec
from genpolicy.crypto.sealed import unseal_value
from genpolicy.crypto.sops import decrypt_document
from genpolicy.errors import SpecError
from genpolicy.specfile import parse_spec

PASSWORD = "Sup3r-Secret-Registry-Token-7f3a"
USER = "robot-user"
HUB_TOKEN = "hub-Token-Value-91bc"


def make_certificate(folder: Path, bits: int = 2048) -> rsa.RSAPrivateKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sealed-secret")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365)).sign(key, hashes.SHA256()))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key


SPEC = """
apiVersion: genpolicy/v1alpha1
kind: PullSecretSpec
registries:
  - name: ghcr
    server: ghcr.io
    credentials: {username: robot-user, fromEnv: {password: REG_PASS}}
  - name: hub
    server: docker.io
    credentials: {username: hubuser, fromFile: {password: hub.txt}}
clusters:
  - name: prod
    kubernetesVersion: "1.33"
    backend: BACKEND
    SETTINGS
namespaceGroups:
  - name: apps
    namespaces: [alpha, beta]
    registries: [ghcr, hub]
"""


def sealed_spec(tmp_path: Path, scope: str = "strict") -> tuple[Path, rsa.RSAPrivateKey]:
    key = make_certificate(tmp_path)
    (tmp_path / "hub.txt").write_text(HUB_TOKEN + "\n")
    text = SPEC.replace("BACKEND", "sealed-secrets").replace(
        "SETTINGS", f"sealedSecrets: {{certificate: cert.pem, scope: {scope}}}")
    return write_spec(tmp_path, text), key


def sops_spec(tmp_path: Path) -> tuple[Path, pyrage.x25519.Identity]:
    identity = pyrage.x25519.Identity.generate()
    (tmp_path / "hub.txt").write_text(HUB_TOKEN)
    text = SPEC.replace("BACKEND", "sops").replace(
        "SETTINGS", f"sops: {{recipients: [{identity.to_public()}]}}")
    return write_spec(tmp_path, text), identity


ENV = {"REG_PASS": PASSWORD}


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def render_ok(spec: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = run_cli("render", spec, "--crds", require_shared(), *args, env=ENV if env is None else env)
    assert result.code == 0, result.output
    return result.output


# --- Sealed Secrets -----------------------------------------------------------------------------

def sealed_objects(out: Path, namespace: str) -> dict[str, dict[str, Any]]:
    docs = yaml.safe_load_all((out / f"prod/namespaces/{namespace}.yaml").read_text())
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == "SealedSecret"}


def test_sealed_secrets_decrypt_with_the_private_key_only_in_scope(tmp_path: Path) -> None:
    spec, key = sealed_spec(tmp_path)
    output = render_ok(spec)
    assert "not validated" not in output
    sealed = sealed_objects(tmp_path / "out", "alpha")
    assert set(sealed) == {"ghcr-pull", "hub-pull"}
    ghcr = sealed["ghcr-pull"]
    assert ghcr["spec"]["template"]["type"] == "kubernetes.io/dockerconfigjson"
    value = ghcr["spec"]["encryptedData"][".dockerconfigjson"]
    config = json.loads(unseal_value(key, value, label=b"alpha/ghcr-pull"))
    assert config["auths"]["ghcr.io"]["password"] == PASSWORD
    assert base64.b64decode(config["auths"]["ghcr.io"]["auth"]).decode() == f"{USER}:{PASSWORD}"
    hub = json.loads(unseal_value(key, sealed["hub-pull"]["spec"]["encryptedData"][".dockerconfigjson"],
                                  label=b"alpha/hub-pull"))
    assert hub["auths"]["docker.io"]["password"] == HUB_TOKEN
    for wrong in (b"beta/ghcr-pull", b"alpha/other", b"alpha", b""):
        with pytest.raises(Exception):  # noqa: B017 - any decryption failure
            unseal_value(key, value, label=wrong)


@pytest.mark.parametrize(("scope", "label", "annotation"), [
    ("namespace-wide", b"alpha", "sealedsecrets.bitnami.com/namespace-wide"),
    ("cluster-wide", b"", "sealedsecrets.bitnami.com/cluster-wide"),
])
def test_sealed_scopes(tmp_path: Path, scope: str, label: bytes, annotation: str) -> None:
    spec, key = sealed_spec(tmp_path, scope)
    render_ok(spec)
    ghcr = sealed_objects(tmp_path / "out", "alpha")["ghcr-pull"]
    assert ghcr["metadata"]["annotations"][annotation] == "true"
    assert ghcr["spec"]["template"]["metadata"]["annotations"][annotation] == "true"
    config = json.loads(unseal_value(key, ghcr["spec"]["encryptedData"][".dockerconfigjson"], label=label))
    assert config["auths"]["ghcr.io"]["username"] == USER


def test_no_churn_and_exact_rotation(tmp_path: Path) -> None:
    spec, _ = sealed_spec(tmp_path)
    first_output = render_ok(spec)
    assert "new fingerprint key" in first_output
    key_file = tmp_path / ".genpolicy-fingerprint.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    first = files(tmp_path / "out")
    assert "0 created, 0 updated" in render_ok(spec)
    assert files(tmp_path / "out") == first, "unchanged spec, credentials and keys: byte-identical"
    render_ok(spec, env={"REG_PASS": PASSWORD + "-rotated"})
    after = files(tmp_path / "out")
    changed = sorted(p for p in first if first[p] != after.get(p))
    assert changed == [".genpolicy-owned.json", "prod/namespaces/alpha.yaml", "prod/namespaces/beta.yaml"]
    for ns in ("alpha", "beta"):
        old = {d["metadata"]["name"]: d for d in yaml.safe_load_all(first[f"prod/namespaces/{ns}.yaml"])}
        new = sealed_objects(tmp_path / "out", ns)
        assert new["hub-pull"] == old["hub-pull"], "only the rotated registry's Secrets are re-encrypted"
        assert new["ghcr-pull"] != old["ghcr-pull"]


def test_fingerprint_is_keyed_not_a_plain_hash(tmp_path: Path) -> None:
    spec, _ = sealed_spec(tmp_path)
    render_ok(spec)
    annotation = sealed_objects(tmp_path / "out", "alpha")["ghcr-pull"]["metadata"]["annotations"][
        "genpolicy.dev/fingerprint"]
    import hashlib

    for candidate in (PASSWORD, f"{USER}:{PASSWORD}"):
        assert hashlib.sha256(candidate.encode()).hexdigest() not in annotation
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(tmp_path / "cert.pem", other / "cert.pem")
    (other / "hub.txt").write_text(HUB_TOKEN)
    shutil.copy(spec, other / "spec.yaml")
    render_ok(other / "spec.yaml")
    second = sealed_objects(other / "out", "alpha")["ghcr-pull"]["metadata"]["annotations"]["genpolicy.dev/fingerprint"]
    assert second != annotation, "another fingerprint key gives another fingerprint"


def test_new_certificate_reencrypts_everything(tmp_path: Path) -> None:
    spec, _ = sealed_spec(tmp_path)
    render_ok(spec)
    before = files(tmp_path / "out")
    key = make_certificate(tmp_path)
    render_ok(spec)
    after = files(tmp_path / "out")
    assert before["prod/namespaces/alpha.yaml"] != after["prod/namespaces/alpha.yaml"]
    value = sealed_objects(tmp_path / "out", "beta")["hub-pull"]["spec"]["encryptedData"][".dockerconfigjson"]
    assert json.loads(unseal_value(key, value, label=b"beta/hub-pull"))["auths"]["docker.io"]["username"] == "hubuser"


def test_check_without_credentials_reuses_encrypted_files(tmp_path: Path) -> None:
    spec, _ = sealed_spec(tmp_path)
    render_ok(spec)
    (tmp_path / ".genpolicy-fingerprint.key").unlink()
    (tmp_path / "hub.txt").unlink()
    check = run_cli("render", spec, "--check", "--crds", require_shared(), env={})
    assert check.code == 0, check.output
    assert "4 encrypted Secrets were not re-verified" in check.stderr
    spec.write_text(spec.read_text().replace("[alpha, beta]", "[alpha, gamma]"))
    missing = run_cli("render", spec, "--check", env={})
    assert missing.code == 4 and "render once with credentials" in missing.stderr


def test_unreadable_certificate_is_a_clear_error(tmp_path: Path) -> None:
    spec, _ = sealed_spec(tmp_path)
    (tmp_path / "cert.pem").unlink()
    result = run_cli("render", spec, env=ENV)
    assert result.code == 4 and "cannot read the sealing certificate" in result.stderr
    assert not (tmp_path / "out").exists()


# --- SOPS ---------------------------------------------------------------------------------------

def test_sops_files_decrypt_and_validate(tmp_path: Path) -> None:
    spec, identity = sops_spec(tmp_path)
    output = render_ok(spec)
    assert "not validated" not in output
    out = tmp_path / "out"
    path = out / "prod/namespaces/alpha/ghcr-pull.sops.yaml"
    text = path.read_text()
    assert "mac: ENC[AES256_GCM," in text and "encrypted_regex: ^(data|stringData)$" in text
    doc = decrypt_document(text, str(identity), verify_mac=True)
    config = json.loads(base64.b64decode(doc["data"][".dockerconfigjson"]))
    assert config["auths"]["ghcr.io"] == {"auth": base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(),
                                         "password": PASSWORD, "username": USER}
    assert doc["type"] == "kubernetes.io/dockerconfigjson" and doc["metadata"]["namespace"] == "alpha"
    kustomization = yaml.safe_load((out / "prod/namespaces/kustomization.yaml").read_text())
    assert "alpha/ghcr-pull.sops.yaml" in kustomization["resources"]
    sops_config = yaml.safe_load((out / ".sops.yaml").read_text())
    assert sops_config["creation_rules"][0]["age"] == str(identity.to_public())
    assert PASSWORD not in text
    assert "0 created, 0 updated" in render_ok(spec), "SOPS files are not re-encrypted without changes"


def test_sops_output_opens_with_independent_tools(tmp_path: Path) -> None:
    spec, identity = sops_spec(tmp_path)
    render_ok(spec)
    path = tmp_path / "out/prod/namespaces/beta/hub-pull.sops.yaml"
    modules = Path(os.environ.get("GENPOLICY_NODE_MODULES", ROOT / "tests/interop/node_modules"))
    node = shutil.which("node")
    if node is None or not (modules / "sops-age").is_dir():
        pytest.skip("node or the npm package sops-age is not installed (.ci/run installs it)")
    proc = subprocess.run([node, str(ROOT / "tests/interop/sops_decrypt.mjs"), str(path)],
                          env={**os.environ, "SOPS_AGE_KEY": str(identity), "NODE_PATH": str(modules)},
                          capture_output=True, text=True, check=False, cwd=ROOT / "tests/interop")
    assert proc.returncode == 0, proc.stderr
    decrypted = json.loads(proc.stdout)
    config = json.loads(base64.b64decode(decrypted["data"][".dockerconfigjson"]))
    assert config["auths"]["docker.io"]["password"] == HUB_TOKEN


# --- ESO generators, node providers, docker config import ---------------------------------------

def test_generators_render_and_validate(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, """
        apiVersion: genpolicy/v1alpha1
        kind: PullSecretSpec
        registries:
          - name: ecr
            server: 123456789012.dkr.ecr.eu-west-1.amazonaws.com
            credentials:
              generator:
                kind: ECRAuthorizationToken
                spec: {region: eu-west-1, auth: {jwt: {serviceAccountRef: {name: ecr-pull}}}}
          - name: gar
            server: europe-docker.pkg.dev
            credentials:
              generator:
                kind: GCRAccessToken
                spec: {projectID: my-project, auth: {workloadIdentity: {clusterLocation: europe-west1,
                       clusterName: prod, serviceAccountRef: {name: gar-pull}}}}
        clusters: [{name: prod, kubernetesVersion: "1.33"}]
        namespaceGroups: [{name: g, namespaces: [apps], registries: [ecr, gar]}]
    """)
    output = render_ok(spec, env={})
    assert "not validated" not in output
    docs = list(yaml.safe_load_all((tmp_path / "out/prod/namespaces/apps.yaml").read_text()))
    kinds = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert kinds == [("ECRAuthorizationToken", "ecr-pull-token"), ("ExternalSecret", "ecr-pull"),
                     ("GCRAccessToken", "gar-pull-token"), ("ExternalSecret", "gar-pull"),
                     ("ServiceAccount", "default")]
    ecr = docs[1]["spec"]
    assert ecr["refreshInterval"] == "1h"
    assert ecr["dataFrom"][0]["sourceRef"]["generatorRef"]["kind"] == "ECRAuthorizationToken"
    assert '"123456789012.dkr.ecr.eu-west-1.amazonaws.com"' in ecr["target"]["template"]["data"][".dockerconfigjson"]
    assert docs[3]["spec"]["refreshInterval"] == "30m"
    assert '"oauth2accesstoken"' in docs[3]["spec"]["target"]["template"]["data"][".dockerconfigjson"]


def test_generator_refresh_must_be_well_inside_the_token_lifetime() -> None:
    text = """
apiVersion: genpolicy/v1alpha1
kind: PullSecretSpec
registries:
  - name: gar
    server: europe-docker.pkg.dev
    credentials:
      generator: {kind: GCRAccessToken, spec: {}, refreshInterval: 45m}
clusters: [{name: prod, kubernetesVersion: "1.33"}]
namespaceGroups: [{name: g, namespaces: [apps], registries: [gar]}]
"""
    with pytest.raises(SpecError) as info:
        parse_spec(text, "spec.yaml")
    assert str(info.value.problems[0]) == ("spec.yaml:8:68: registries[0].credentials.generator.refreshInterval: "
                                           "GCRAccessToken tokens live 60 minutes; refresh at most every 30 minutes")


def test_node_provider_renders_no_secret(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, """
        apiVersion: genpolicy/v1alpha1
        kind: PullSecretSpec
        registries:
          - name: ecr
            server: 123456789012.dkr.ecr.eu-west-1.amazonaws.com
            credentials: {node: {provider: ecr-credential-provider}}
          - name: ghcr
            server: ghcr.io
            credentials: {externalSecret: {store: {name: vault}, remoteKey: ghcr}}
        clusters: [{name: prod, kubernetesVersion: "1.33"}]
        namespaceGroups: [{name: g, namespaces: [apps], registries: [ecr, ghcr]}]
    """)
    render_ok(spec, env={})
    docs = list(yaml.safe_load_all((tmp_path / "out/prod/namespaces/apps.yaml").read_text()))
    assert [d["kind"] for d in docs] == ["ExternalSecret", "ServiceAccount"]
    assert docs[1]["imagePullSecrets"] == [{"name": "ghcr-pull"}]


def test_docker_config_import(tmp_path: Path) -> None:
    key = make_certificate(tmp_path)
    config = {"auths": {"https://ghcr.io": {"auth": base64.b64encode(b"octo:" + PASSWORD.encode()).decode()},
                        "quay.io": {"username": "q", "password": "other"}}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    spec = write_spec(tmp_path, """
        apiVersion: genpolicy/v1alpha1
        kind: PullSecretSpec
        registries:
          - name: ghcr
            server: ghcr.io
            credentials: {dockerConfig: {path: config.json}}
        clusters:
          - {name: prod, kubernetesVersion: "1.33", backend: sealed-secrets, sealedSecrets: {certificate: cert.pem}}
        namespaceGroups: [{name: g, namespaces: [apps], registries: [ghcr]}]
    """)
    render_ok(spec, env={})
    value = sealed_objects(tmp_path / "out", "apps")["ghcr-pull"]["spec"]["encryptedData"][".dockerconfigjson"]
    entry = json.loads(unseal_value(key, value, label=b"apps/ghcr-pull"))["auths"]["ghcr.io"]
    assert (entry["username"], entry["password"]) == ("octo", PASSWORD)
    spec.write_text(spec.read_text().replace("config.json}", "config.json, server: gcr.io}"))
    missing = run_cli("render", spec, env={})
    assert missing.code == 4 and "has no credential for 'gcr.io'" in missing.stderr
    assert PASSWORD not in missing.output


@pytest.mark.parametrize("text", [
    SPEC.replace("    backend: BACKEND\n    SETTINGS\n", ""),
    SPEC.replace("BACKEND", "sealed-secrets").replace("    SETTINGS\n", ""),
    SPEC.replace("BACKEND", "sops").replace("SETTINGS", "sops: {recipients: [age1notvalid]}"),
    SPEC.replace("BACKEND", "plain").replace("    SETTINGS\n", ""),
])
def test_backend_spec_errors(text: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(text, "spec.yaml")
    messages = " ".join(p.message for p in info.value.problems)
    assert any(word in messages for word in ("backend", "sealedSecrets", "age recipient", "allowPlaintext"))


# --- secrets never leak -------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["sealed-secrets", "sops"])
def test_no_credential_in_any_output_or_file(tmp_path: Path, backend: str) -> None:
    spec, _ = sealed_spec(tmp_path) if backend == "sealed-secrets" else sops_spec(tmp_path)
    needles = [PASSWORD, HUB_TOKEN, base64.b64encode(PASSWORD.encode()).decode()[:16],
               base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()[:16]]
    runs = [run_cli("render", spec, "--diff", env=ENV), run_cli("render", spec, "--check", "--diff", env=ENV),
            run_cli("render", spec, "--format", "json", env=ENV)]
    spec.write_text(spec.read_text().replace("[alpha, beta]", "[alpha]"))
    runs.append(run_cli("render", spec, "--diff", env=ENV))
    runs.append(run_cli("render", spec, env={}))
    for result in runs:
        assert "Traceback" not in result.output
        for needle in needles:
            assert needle not in result.output
    for path, content in files(tmp_path / "out").items():
        for needle in needles:
            assert needle.encode() not in content, path
