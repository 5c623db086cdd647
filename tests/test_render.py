"""What `render` produces: kubelet-correct Secrets, complete SA lists, Helm values, ESO objects."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import HUB_PASSWORD, PASSWORD, ROOT, USERNAME, require_shared, run_cli, write_spec
from genpolicy.pipeline import RenderOptions, RenderResult, render
from genpolicy.render import helm_values
from genpolicy.specfile.model import HelmKey


def do_render(spec: Path, env: dict[str, str], **kwargs: Any) -> RenderResult:
    return render(RenderOptions(spec, environ=env, **kwargs))


def docs(result: RenderResult, path: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(result.bundle.files[path].content()))


def test_layout_and_kustomization(plain_spec: Path, plain_env: dict[str, str]) -> None:
    result = do_render(plain_spec, plain_env)
    assert sorted(result.bundle.files) == [
        "prod/helm-values/alpha.yaml", "prod/helm-values/beta.yaml", "prod/kustomization.yaml",
        "prod/namespaces/alpha.yaml", "prod/namespaces/beta.yaml", "prod/namespaces/kustomization.yaml",
    ]
    assert docs(result, "prod/kustomization.yaml")[0]["resources"] == ["namespaces"]
    kustomization = docs(result, "prod/namespaces/kustomization.yaml")[0]
    assert kustomization["resources"] == ["alpha.yaml", "beta.yaml"]
    assert result.objects == 8


def test_dockerconfigjson_is_what_the_kubelet_expects(plain_spec: Path, plain_env: dict[str, str]) -> None:
    result = do_render(plain_spec, plain_env)
    secrets = {d["metadata"]["name"]: d for d in docs(result, "prod/namespaces/alpha.yaml") if d["kind"] == "Secret"}
    assert set(secrets) == {"ghcr-pull", "hub-pull"}
    ghcr = secrets["ghcr-pull"]
    assert ghcr["type"] == "kubernetes.io/dockerconfigjson"
    assert ghcr["metadata"]["namespace"] == "alpha"
    config = json.loads(base64.b64decode(ghcr["data"][".dockerconfigjson"]))
    entry = config["auths"]["ghcr.io"]
    assert entry["username"] == USERNAME and entry["password"] == PASSWORD
    user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    assert (user, password) == (USERNAME, PASSWORD)
    hub = json.loads(base64.b64decode(secrets["hub-pull"]["data"][".dockerconfigjson"]))
    assert list(hub["auths"]) == ["docker.io"], "Docker Hub must be keyed the way the kubelet matches directly"
    assert hub["auths"]["docker.io"]["password"] == HUB_PASSWORD


def test_service_accounts_carry_the_complete_sorted_list(plain_spec: Path, plain_env: dict[str, str]) -> None:
    result = do_render(plain_spec, plain_env)
    accounts = [d for d in docs(result, "prod/namespaces/beta.yaml") if d["kind"] == "ServiceAccount"]
    assert [a["metadata"]["name"] for a in accounts] == ["builder", "default"]
    for account in accounts:
        assert account["imagePullSecrets"] == [{"name": "ghcr-pull"}, {"name": "hub-pull"}]
        annotations = account["metadata"]["annotations"]
        assert annotations["argocd.argoproj.io/sync-options"] == "Prune=false,Delete=false,ServerSideApply=true"
        assert account["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "genpolicy"


def test_flux_clusters_get_flux_annotations(tmp_path: Path, plain_env: dict[str, str]) -> None:
    (tmp_path / "hub-password.txt").write_text(HUB_PASSWORD)
    from conftest import PLAIN_SPEC

    spec = write_spec(tmp_path, PLAIN_SPEC.replace("gitops: argocd", "gitops: flux"))
    result = do_render(spec, plain_env)
    objs = docs(result, "prod/namespaces/alpha.yaml")
    account = next(d for d in objs if d["kind"] == "ServiceAccount")
    assert account["metadata"]["annotations"] == {"kustomize.toolkit.fluxcd.io/prune": "disabled"}
    secret = next(d for d in objs if d["kind"] == "Secret")
    assert secret["metadata"]["annotations"] == {"kustomize.toolkit.fluxcd.io/substitute": "disabled"}


def test_merged_secret_holds_every_registry(tmp_path: Path, plain_env: dict[str, str]) -> None:
    (tmp_path / "hub-password.txt").write_text(HUB_PASSWORD)
    from conftest import PLAIN_SPEC

    spec = write_spec(tmp_path, PLAIN_SPEC.replace("    serviceAccounts: [default, builder]\n",
                                                   "    secretMode: merged\n    mergedSecretName: regcred\n"))
    result = do_render(spec, plain_env)
    objs = docs(result, "prod/namespaces/alpha.yaml")
    assert [(d["kind"], d["metadata"]["name"]) for d in objs] == [("Secret", "regcred"), ("ServiceAccount", "default")]
    config = json.loads(base64.b64decode(objs[0]["data"][".dockerconfigjson"]))
    assert sorted(config["auths"]) == ["docker.io", "ghcr.io"]
    assert objs[1]["imagePullSecrets"] == [{"name": "regcred"}]


def test_helm_values(plain_spec: Path, plain_env: dict[str, str]) -> None:
    result = do_render(plain_spec, plain_env)
    values = docs(result, "prod/helm-values/alpha.yaml")[0]
    assert values == {
        "imagePullSecrets": [{"name": "ghcr-pull"}, {"name": "hub-pull"}],
        "global": {"imagePullSecrets": [{"name": "ghcr-pull"}, {"name": "hub-pull"}]},
    }


def test_helm_key_paths_are_configurable() -> None:
    keys = [HelmKey(path="image.pullSecrets", format="names"), HelmKey(path="a.b.c")]
    assert helm_values(keys, ["x", "y"]) == {
        "image": {"pullSecrets": ["x", "y"]}, "a": {"b": {"c": [{"name": "x"}, {"name": "y"}]}},
    }
    with pytest.raises(ValueError, match="conflicts"):
        helm_values([HelmKey(path="a"), HelmKey(path="a.b")], ["x"])


def test_render_is_deterministic(plain_spec: Path, plain_env: dict[str, str]) -> None:
    first = {p: f.content() for p, f in do_render(plain_spec, plain_env).bundle.files.items()}
    second = {p: f.content() for p, f in do_render(plain_spec, plain_env).bundle.files.items()}
    assert first == second


def test_external_secret_template_builds_a_dockerconfig(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, """
        apiVersion: genpolicy/v1alpha1
        kind: PullSecretSpec
        registries:
          - name: harbor
            server: https://Harbor.Example.com:8443/team-a/
            credentials:
              username: robot$team+puller
              externalSecret:
                store: {kind: SecretStore, name: vault}
                remoteKey: harbor
                properties: {username: null, password: secret}
                refreshInterval: 30m
        clusters: [{name: prod, kubernetesVersion: "1.33"}]
        namespaceGroups: [{name: g, namespaces: [a], registries: [harbor]}]
    """)
    result = do_render(spec, {})
    external = docs(result, "prod/namespaces/a.yaml")[0]
    assert external["apiVersion"] == "external-secrets.io/v1" and external["kind"] == "ExternalSecret"
    assert external["spec"]["secretStoreRef"] == {"kind": "SecretStore", "name": "vault"}
    assert external["spec"]["refreshInterval"] == "30m"
    assert external["spec"]["data"] == [
        {"secretKey": "harbor-password", "remoteRef": {"key": "harbor", "property": "secret"}}]
    template = external["spec"]["target"]["template"]
    assert template["type"] == "kubernetes.io/dockerconfigjson"
    body = template["data"][".dockerconfigjson"]
    # Evaluate the Go template the way ESO would (toJson/b64enc/printf/index) for a sample secret value.
    assert _eval_eso_template(body, {"harbor-password": 'p"w'}) == {"auths": {"harbor.example.com:8443/team-a/": {
        "auth": base64.b64encode(b'robot$team+puller:p"w').decode(), "password": 'p"w',
        "username": "robot$team+puller"}}}


def test_cluster_external_secret_fans_out_to_the_group(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, """
        apiVersion: genpolicy/v1alpha1
        kind: PullSecretSpec
        commonAnnotations: {team.example.com/owner: platform}
        registries:
          - name: harbor
            server: harbor.example.com
            credentials: {externalSecret: {store: {name: vault}, remoteKey: harbor}}
          - name: quay
            server: quay.io
            credentials: {externalSecret: {store: {name: vault}, remoteKey: quay}}
        clusters: [{name: prod, kubernetesVersion: "1.33", gitops: argocd}]
        namespaceGroups:
          - {name: many, namespaces: [c, a, b], registries: [harbor, quay], externalSecretKind: ClusterExternalSecret}
          - {name: one, namespaces: [z], registries: [harbor]}
    """)
    result = do_render(spec, {})
    cluster_wide = docs(result, "prod/external-secrets/many.yaml")
    assert [(d["kind"], d["metadata"]["name"]) for d in cluster_wide] == [
        ("ClusterExternalSecret", "many.harbor-pull"), ("ClusterExternalSecret", "many.quay-pull")]
    harbor = cluster_wide[0]
    assert "namespace" not in harbor["metadata"]
    assert harbor["metadata"]["annotations"] == {"argocd.argoproj.io/sync-wave": "-1",
                                                 "team.example.com/owner": "platform"}
    assert harbor["spec"]["externalSecretName"] == "harbor-pull"
    assert harbor["spec"]["externalSecretMetadata"]["annotations"] == {"team.example.com/owner": "platform"}
    assert harbor["spec"]["namespaceSelectors"] == [{"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["a", "b", "c"]}]}]
    alone = docs(result, "prod/namespaces/z.yaml")[0]
    assert harbor["spec"]["externalSecretSpec"] == alone["spec"], "the same ExternalSecret, fanned out"
    namespace_a = docs(result, "prod/namespaces/a.yaml")
    assert [d["kind"] for d in namespace_a] == ["ServiceAccount"]
    assert namespace_a[0]["imagePullSecrets"] == [{"name": "harbor-pull"}, {"name": "quay-pull"}]
    assert "external-secrets" in docs(result, "prod/kustomization.yaml")[0]["resources"]
    checked = run_cli("render", spec, "--crds", require_shared())
    assert checked.code == 0 and "not validated" not in checked.stderr, checked.output
    # a user template that varies by namespace cannot be fanned out: a clear error, nothing written
    (tmp_path / "tpl").mkdir()
    builtin = (ROOT / "templates" / "externalsecret.yaml.j2").read_text()
    (tmp_path / "tpl" / "externalsecret.yaml.j2").write_text(builtin.replace("name: {{ store.name }}",
                                                                             "name: {{ namespace ~ '-store' }}"))
    varied = run_cli("render", spec, "-o", tmp_path / "varied", "--templates", tmp_path / "tpl")
    assert varied.code == 5 and "a different spec in namespace 'b' than in 'a'" in varied.stderr, varied.output
    assert not (tmp_path / "varied").exists()


@pytest.mark.parametrize(("setting", "path", "col"), [
    ("externalSecretKind: ClusterExternalSecret", "namespaceGroups[0].externalSecretKind", 92),
    ("helmValues: {configMap: values}", "namespaceGroups[0].helmValues.configMap", 96),
    ("distribution: static, helmValues: {configMap: values, enabled: false}", "namespaceGroups[0].helmValues", 0),
])
def test_per_namespace_fan_out_settings_are_for_static_groups(setting: str, path: str, col: int) -> None:
    from genpolicy.errors import SpecError
    from genpolicy.specfile import parse_spec

    text = f"""\
apiVersion: genpolicy/v1alpha1
kind: PullSecretSpec
registries: [{{name: h, server: h.io, credentials: {{externalSecret: {{store: {{name: v}}, remoteKey: k}}}}}}]
clusters: [{{name: prod, kubernetesVersion: "1.33", kyverno: {{version: "1.13"}}}}]
namespaceGroups:
  - {{name: g, namespaces: [a], registries: [h], {setting if "distribution" in setting else "distribution: kyverno, "
                                                 + setting}}}
"""
    with pytest.raises(SpecError) as info:
        parse_spec(text, "spec.yaml")
    found = [(p.line, p.col, p.path) for p in info.value.problems]
    assert found == [(6, col, path)] if col else [(line, path) for line, _, path in found] == [(6, path)]


def test_an_inherited_values_config_map_only_applies_to_static_groups(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, """
        apiVersion: genpolicy/v1alpha1
        kind: PullSecretSpec
        defaults: {helmValues: {configMap: pull-values}}
        registries: [{name: h, server: h.io, credentials: {externalSecret: {store: {name: v}, remoteKey: k}}}]
        clusters: [{name: prod, kubernetesVersion: "1.33", kyverno: {version: "1.13"}}]
        namespaceGroups:
          - {name: static, namespaces: [a], registries: [h]}
          - {name: dynamic, namespaces: ["team-*"], registries: [h], distribution: kyverno}
    """)
    result = do_render(spec, {})
    assert [d["kind"] for d in docs(result, "prod/namespaces/a.yaml")] == ["ExternalSecret", "ConfigMap",
                                                                           "ServiceAccount"]
    assert not any(d.get("kind") == "ConfigMap" for p in result.bundle.files if p.startswith("prod/kyverno/")
                   for d in docs(result, p) if isinstance(d, dict))


def _eval_eso_template(body: str, data: dict[str, str]) -> Any:
    """A tiny evaluator for the few Go template forms genpolicy emits (not a general engine)."""
    import re

    def value(expr: str) -> str:
        expr = expr.strip()
        match = re.fullmatch(r'\(index \. "([^"]+)"\)', expr)
        if match:
            return data[match.group(1)]
        return str(json.loads(expr))

    def action(match: re.Match[str]) -> str:
        parts = [p.strip() for p in match.group(1).split("|")]
        head = parts[0]
        if head.startswith("printf"):
            args = re.findall(r'\(index \. "[^"]+"\)|"(?:[^"\\]|\\.)*"', head[len("printf"):])
            fmt, rest = json.loads(args[0]), [value(a) for a in args[1:]]
            current = fmt.replace("%s", "{}").format(*rest)
        else:
            current = value(head)
        for fn in parts[1:]:
            current = base64.b64encode(current.encode()).decode() if fn == "b64enc" else json.dumps(current)
        return current

    return json.loads(re.sub(r"\{\{(.*?)\}\}", action, body))


def test_no_secret_files_without_plaintext_backend(tmp_path: Path) -> None:
    from conftest import PLAIN_SPEC
    from genpolicy.errors import SpecError

    spec = write_spec(tmp_path, PLAIN_SPEC.replace("allowPlaintext: true\n", ""))
    with pytest.raises(SpecError):
        do_render(spec, {})


def test_secret_over_one_mebibyte_is_refused(tmp_path: Path) -> None:
    from genpolicy.errors import OutputValidationError

    spec = write_spec(tmp_path, """
        apiVersion: genpolicy/v1alpha1
        kind: PullSecretSpec
        allowPlaintext: true
        registries:
          - name: big
            server: big.example.com
            credentials: {username: u, fromFile: {password: token.txt}}
        clusters: [{name: prod, kubernetesVersion: "1.33"}]
        namespaceGroups: [{name: g, namespaces: [a], registries: [big]}]
    """)
    (tmp_path / "token.txt").write_text("x" * 500_000)
    with pytest.raises(OutputValidationError) as info:
        do_render(spec, {})
    assert "would exceed the 1 MiB Secret size limit" in info.value.problems[0].message
    (tmp_path / "token.txt").write_text("x" * 300_000)
    assert do_render(spec, {}).objects == 2


def test_parallel_and_serial_renders_are_identical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import ROOT

    spec = ROOT / "examples/kyverno/spec.yaml"
    monkeypatch.setenv("GENPOLICY_WORKERS", "1")
    serial = render(RenderOptions(spec, output=tmp_path / "a", environ={}))
    monkeypatch.setenv("GENPOLICY_WORKERS", "2")
    parallel = render(RenderOptions(spec, output=tmp_path / "b", environ={}))
    assert {p: f.content() for p, f in serial.bundle.files.items()} == {
        p: f.content() for p, f in parallel.bundle.files.items()}
    assert serial.objects == parallel.objects and serial.warnings == parallel.warnings
    first = parallel.resolved.spec.clusters[0].name
    sent = [f for p, f in parallel.bundle.files.items() if p.startswith(f"{f.cluster}/") and f.cluster != first]
    assert sent and all(f.raw is not None for f in sent), "the other clusters came from a worker, as bytes"
    own = [f for f in parallel.bundle.files.values() if f.cluster == first]
    assert own and not any(f.known_digest() for f in own), "the first share rendered here: no digest was sent"
    assert serial.plan.owned == parallel.plan.owned, "the workers' digests are the files' SHA-256"
    assert all(f.known_digest() for f in sent), "each worker's file came with its digest (not hashed again)"
    one = sent[0]
    assert not one.replace(raw=b"other\n").known_digest(), "a digest is of the bytes it came with"
    one.raw = b"other\n"
    assert not one.known_digest()


def test_helm_values_config_map_for_flux_value_from(tmp_path: Path, plain_env: dict[str, str]) -> None:
    from conftest import PLAIN_SPEC

    (tmp_path / "hub-password.txt").write_text(HUB_PASSWORD)
    spec = write_spec(tmp_path, PLAIN_SPEC.replace("    serviceAccounts: [default, builder]\n", (
        "    serviceAccounts: [default, builder]\n"
        "    helmValues: {configMap: pull-values,\n"
        "                 keys: [imagePullSecrets, {path: global.pullSecrets, format: names}]}\n")))
    result = do_render(spec, plain_env)
    config_map = next(d for d in docs(result, "prod/namespaces/alpha.yaml") if d["kind"] == "ConfigMap")
    assert config_map["metadata"]["name"] == "pull-values" and config_map["metadata"]["namespace"] == "alpha"
    values = yaml.safe_load(config_map["data"]["values.yaml"])
    assert values == {"imagePullSecrets": [{"name": "ghcr-pull"}, {"name": "hub-pull"}],
                      "global": {"pullSecrets": ["ghcr-pull", "hub-pull"]}}
    on_disk = yaml.safe_load(result.bundle.files["prod/helm-values/alpha.yaml"].content())
    assert on_disk == values, "the ConfigMap holds exactly the values file"
