"""Spec errors: exact `file:line:col: path: message`, all problems at once."""

from __future__ import annotations

import textwrap

import pytest

from genpolicy.errors import SpecError
from genpolicy.specfile import parse_spec

BASE = """\
apiVersion: genpolicy/v1alpha1
kind: PullSecretSpec
registries:
  - name: ghcr
    server: ghcr.io
    credentials:
      externalSecret:
        store: {name: vault}
        remoteKey: ghcr
clusters:
  - name: prod
    kubernetesVersion: "1.33"
namespaceGroups:
  - name: apps
    namespaces: [alpha]
    registries: [ghcr]
"""


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_spec(textwrap.dedent(text), "spec.yaml")
    return [str(p) for p in info.value.problems]


def test_base_spec_is_valid() -> None:
    resolved = parse_spec(BASE, "spec.yaml")
    assert [(t.cluster.name, t.namespace) for t in resolved.targets] == [("prod", "alpha")]
    assert resolved.server_keys == {"ghcr": "ghcr.io"}


def test_unknown_key_points_at_the_key_with_did_you_mean() -> None:
    text = BASE.replace("    server: ghcr.io\n", "    server: ghcr.io\n    secretNme: x\n")
    assert problems(text) == [
        "spec.yaml:6:5: registries[0].secretNme: unknown key 'secretNme'; did you mean 'secretName'? "
        "(allowed: backend, credentials, email, name, secretName, server)"
    ]


def test_missing_key_points_at_the_parent() -> None:
    text = BASE.replace('    kubernetesVersion: "1.33"\n', "")
    assert problems(text) == ["spec.yaml:11:5: clusters[0].kubernetesVersion: missing required key 'kubernetesVersion'"]


def test_wrong_type_points_at_the_value() -> None:
    text = BASE.replace("namespaces: [alpha]", "namespaces: alpha")
    assert problems(text) == ["spec.yaml:15:17: namespaceGroups[0].namespaces: input should be a valid list"]


def test_all_problems_are_reported_at_once() -> None:
    text = BASE.replace("server: ghcr.io", "server: ghcr.io\n    bogus: 1").replace(
        "gitops", "x").replace('"1.33"', '"1.33"\n    gitops: helm')
    found = problems(text)
    assert found == [
        "spec.yaml:6:5: registries[0].bogus: unknown key 'bogus' (allowed: backend, credentials, email, name, "
        "secretName, server)",
        "spec.yaml:14:13: clusters[0].gitops: invalid value: input should be 'argocd' or 'flux'",
    ]


def test_duplicate_yaml_keys_are_rejected() -> None:
    text = BASE.replace("    server: ghcr.io\n", "    server: ghcr.io\n    server: quay.io\n")
    assert problems(text) == ["spec.yaml:6:5: registries[0].server: duplicate key 'server' (first defined at line 5)"]


def test_unknown_registry_reference_suggests_the_close_name() -> None:
    text = BASE.replace("registries: [ghcr]", "registries: [gchr]")
    assert problems(text) == ["spec.yaml:16:18: namespaceGroups[0].registries[0]: unknown registry 'gchr'; "
                              "did you mean 'ghcr'?"]


def test_unknown_cluster_reference() -> None:
    text = BASE + "    clusters: [staging]\n"
    assert problems(text) == ["spec.yaml:17:16: namespaceGroups[0].clusters[0]: unknown cluster 'staging' "
                              "(defined: prod)"]


def test_duplicate_names() -> None:
    text = BASE.replace("clusters:\n  - name: prod\n    kubernetesVersion: \"1.33\"\n",
                        "clusters:\n  - name: prod\n    kubernetesVersion: \"1.33\"\n"
                        "  - name: prod\n    kubernetesVersion: \"1.34\"\n    outputDir: other\n")
    assert problems(text) == ["spec.yaml:13:11: clusters[1].name: duplicate cluster 'prod' (also at line 11)"]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("namespaces: [alpha]", "namespaces: [Alpha]",
         "spec.yaml:15:18: namespaceGroups[0].namespaces[0]: invalid namespace name 'Alpha': must be a lowercase "
         "RFC 1123 label of at most 63 characters"),
        ("namespaces: [alpha]", "namespaces: [alpha.beta]",
         "spec.yaml:15:18: namespaceGroups[0].namespaces[0]: invalid namespace name 'alpha.beta': must be a "
         "lowercase RFC 1123 label of at most 63 characters"),
        ("registries: [ghcr]", "registries: [ghcr]\n    serviceAccounts: [ci_bot]",
         "spec.yaml:17:23: namespaceGroups[0].serviceAccounts[0]: invalid service account name 'ci_bot': must be "
         "a lowercase RFC 1123 subdomain of at most 253 characters"),
        ("server: ghcr.io", "server: ghcr.io\n    secretName: Pull_Secret",
         "spec.yaml:5:13: registries[0].secretName: invalid Secret name 'Pull_Secret': must be a lowercase "
         "RFC 1123 subdomain of at most 253 characters"),
        ("registries: [ghcr]", 'registries: [ghcr]\n    serviceAccounts: ["ci-bot\\n"]',
         "spec.yaml:17:23: namespaceGroups[0].serviceAccounts[0]: invalid service account name 'ci-bot\\n': must "
         "be a lowercase RFC 1123 subdomain of at most 253 characters"),  # `$` matched before a final newline
        ("registries: [ghcr]", 'registries: [ghcr]\n    secretMode: merged\n    mergedSecretName: "regcred\\n"',
         "spec.yaml:18:23: namespaceGroups[0].mergedSecretName: invalid Secret name 'regcred\\n': must be a "
         "lowercase RFC 1123 subdomain of at most 253 characters"),
    ],
)
def test_kubernetes_names_are_checked(old: str, new: str, expected: str) -> None:
    found = problems(BASE.replace(old, new))
    assert found == [expected] or (expected.startswith("spec.yaml:5:13") and any("Pull_Secret" in f for f in found))


def test_two_registries_with_the_same_dockerconfig_key() -> None:
    text = BASE.replace("clusters:\n", "  - name: hub1\n    server: docker.io\n    credentials:\n"
                        "      externalSecret: {store: {name: v}, remoteKey: a}\n"
                        "  - name: hub2\n    server: https://index.docker.io/v1/\n    credentials:\n"
                        "      externalSecret: {store: {name: v}, remoteKey: b}\nclusters:\n")
    assert problems(text) == ["spec.yaml:15:13: registries[2].server: registry 'hub2' and 'hub1' both produce "
                              "the .dockerconfigjson key 'docker.io'"]


def test_plaintext_sources_need_an_explicit_opt_in() -> None:
    text = BASE.replace("      externalSecret:\n        store: {name: vault}\n        remoteKey: ghcr\n",
                        "      fromEnv: {username: U, password: P}\n")
    assert problems(text) == [
        "spec.yaml:6:5: registries[0].credentials: registry 'ghcr' would be rendered as a plaintext Secret on cluster "
        "'prod'; set the cluster's `backend` to sealed-secrets or sops, use an externalSecret source, or opt in with "
        "top-level `allowPlaintext: true`"
    ]
    assert parse_spec("allowPlaintext: true\n" + text, "spec.yaml").spec.allow_plaintext


def test_inline_password_never_appears_in_errors() -> None:
    text = BASE.replace("      externalSecret:\n        store: {name: vault}\n        remoteKey: ghcr\n",
                        "      inline: {username: u, password: hunter2-very-secret, extra: hunter2-very-secret}\n")
    with pytest.raises(SpecError) as info:
        parse_spec(text, "spec.yaml")
    rendered = "\n".join(map(str, info.value.problems)) + repr(info.value)
    assert "hunter2" not in rendered
    assert "unknown key 'extra'" in rendered


def test_exactly_one_credential_source() -> None:
    text = BASE.replace("        remoteKey: ghcr\n", "        remoteKey: ghcr\n      fromEnv: {password: P}\n")
    assert problems(text) == ["spec.yaml:6:5: registries[0].credentials: set exactly one of fromEnv, fromFile, "
                              "dockerConfig, inline, externalSecret, generator, node"]


def test_namespace_claimed_by_two_groups_on_one_cluster() -> None:
    text = BASE + "  - name: more\n    namespaces: [alpha]\n    registries: [ghcr]\n"
    assert problems(text) == ["spec.yaml:18:18: namespaceGroups[1].namespaces[0]: namespace 'alpha' on cluster "
                              "'prod' is already covered by group 'apps' (line 15)"]


def test_unsupported_kubernetes_version() -> None:
    assert problems(BASE.replace('"1.33"', '"1.19"')) == [
        "spec.yaml:12:24: clusters[0].kubernetesVersion: Kubernetes 1.19 is not supported (supported: 1.25 to 1.37)"
    ]


@pytest.mark.parametrize("bad", ["../escape", "/abs/path", "a/../../b", ".hidden"])
def test_output_dirs_cannot_escape(bad: str) -> None:
    found = problems(BASE.replace('"1.33"', f'"1.33"\n    outputDir: "{bad}"'))
    assert len(found) == 1 and found[0].startswith("spec.yaml:13:16: clusters[0].outputDir: must")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: [1\n", "spec.yaml:2:1: invalid YAML: while parsing a flow sequence"),
        ("a: 1\n---\nb: 2\n", "spec.yaml:2:1: invalid YAML: expected a single YAML document"),
        ("a: !!python/object:os.system x\n",
         "spec.yaml:1:4: a: unsupported YAML tag 'tag:yaml.org,2002:python/object:os.system'"),
        ("- 1\n", "spec.yaml:1:1: the spec must be a YAML mapping"),
        ("a: &x 1\n<<: *x\n", "spec.yaml:2:1: YAML merge keys (<<) are not supported; use `defaults`"),
    ],
)
def test_yaml_syntax_errors(text: str, expected: str) -> None:
    found = problems(text)
    assert len(found) == 1 and found[0].startswith(expected)


def test_billion_laughs_is_refused_quickly() -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    found = problems("\n".join(lines) + "\n")
    assert len(found) == 1 and "YAML nodes after alias expansion" in found[0]


def test_yes_and_no_stay_strings() -> None:
    text = BASE.replace("namespaces: [alpha]", "namespaces: [no, on]")
    resolved = parse_spec(text, "spec.yaml")
    assert [t.namespace for t in resolved.targets] == ["no", "on"]


def test_defaults_are_inherited() -> None:
    text = BASE.replace("    registries: [ghcr]\n", "") + "defaults:\n  registries: [ghcr]\n  serviceAccounts: [a, b]\n"
    target = parse_spec(text, "spec.yaml").targets[0]
    assert [r.name for r in target.registries] == ["ghcr"]
    assert target.service_accounts == ("a", "b")


def test_group_without_registries() -> None:
    text = BASE.replace("    registries: [ghcr]\n", "")
    assert problems(text) == ["spec.yaml:14:5: namespaceGroups[0]: group has no registries"]


def test_username_with_colon_is_rejected() -> None:
    text = BASE.replace("      externalSecret:\n", "      username: 'a:b'\n      externalSecret:\n")
    assert problems(text) == ["spec.yaml:7:17: registries[0].credentials.username: a registry username may not "
                              "contain ':' or control characters"]


@pytest.mark.parametrize(("written", "expected"), [
    ("1.30", 'spec.yaml:12:24: clusters[0].kubernetesVersion: 1.3 is a YAML number, not a version (trailing zeros '
             'are lost): quote it: "1.30"'),
    ("1.33", 'spec.yaml:12:24: clusters[0].kubernetesVersion: 1.33 is a YAML number, not a version (trailing zeros '
             'are lost): quote it: "1.33"'),
])
def test_an_unquoted_kubernetes_version_says_quote_it(written: str, expected: str) -> None:
    assert problems(BASE.replace('kubernetesVersion: "1.33"', f"kubernetesVersion: {written}")) == [expected]


def test_an_unquoted_kyverno_version_says_quote_it() -> None:
    text = BASE.replace('kubernetesVersion: "1.33"', 'kubernetesVersion: "1.33"\n    kyverno: {version: 1.10}')
    assert problems(text) == ['spec.yaml:13:24: clusters[0].kyverno.version: 1.1 is a YAML number, not a version '
                              '(trailing zeros are lost): quote it: "1.10"']


@pytest.mark.parametrize("spelling", ["yes", '"true"', "on", "1", '"yes"'])
def test_allow_plaintext_accepts_only_the_boolean_true(spelling: str) -> None:
    (problem,) = problems(f"allowPlaintext: {spelling}\n" + BASE)
    assert problem.startswith("spec.yaml:1:17: allowPlaintext: must be the boolean true or false (unquoted)")
    assert parse_spec("allowPlaintext: true\n" + BASE, "spec.yaml").spec.allow_plaintext is True


WIRED = "gitops:\n  repoURL: https://git.example.com/gitops.git\n  path: out\nclusters:\n"
VERSION = '    kubernetesVersion: "1.33"\n'


@pytest.mark.parametrize("folder", ["argocd", "flux", "flux/prod", "./argocd", "."])
def test_cluster_output_cannot_overlap_the_gitops_wiring(folder: str) -> None:
    wired = f'{VERSION}    gitops: argocd\n    outputDir: "{folder}"\n'
    text = BASE.replace("clusters:\n", WIRED).replace(VERSION, wired)
    found = problems(text)
    assert any("clusters[0].outputDir" in p and "GitOps wiring folder" in p for p in found), found
    parse_spec(text.replace(f'outputDir: "{folder}"', 'outputDir: "argocd-prod"'), "spec.yaml")
    parse_spec(BASE.replace(VERSION, f'{VERSION}    outputDir: "{folder}"\n'), "spec.yaml")  # no wiring, no clash
