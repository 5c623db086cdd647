"""Semantic checks the schema cannot express, and resolution of defaults into targets."""

from __future__ import annotations

import posixpath
import re

from genpolicy.errors import Problem
from genpolicy.nodes.checks import check_nodes
from genpolicy.specfile.checker import DNS1123_LABEL, DNS1123_SUBDOMAIN, _Checker
from genpolicy.specfile.credential_checks import (
    DEFAULT_REFRESH,
    TOKEN_LIFETIME_S,
    _check_registries,
    backend_for,
    duration_seconds,
)
from genpolicy.specfile.destinations import shared_destinations
from genpolicy.specfile.engine_checks import check_engine_credentials, check_pull_secret_collisions
from genpolicy.specfile.group_checks import SYSTEM_NAMESPACES, GroupSettings, _resolve_groups
from genpolicy.specfile.loader import LoadedYaml, Path
from genpolicy.specfile.model import Spec
from genpolicy.specfile.targets import KyvernoTarget, NamespaceTarget, Resolved

__all__ = [  # re-exported: callers import the checks' results and shared rules from here
    "DEFAULT_REFRESH", "DNS1123_LABEL", "DNS1123_SUBDOMAIN", "SYSTEM_NAMESPACES", "TOKEN_LIFETIME_S", "GroupSettings",
    "KyvernoTarget", "NamespaceTarget", "Resolved", "backend_for", "check_spec", "duration_seconds",
    "unsafe_relative_path",
]

_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
SUPPORTED_KUBERNETES = ("1.25", "1.37")


def check_spec(spec: Spec, loaded: LoadedYaml) -> tuple[Resolved, list[Problem]]:
    """Run every semantic check and resolve groups into per-namespace targets."""
    checker = _Checker(spec, loaded)
    resolved = Resolved(spec, loaded)
    checker.unique((r.name for r in spec.registries), ("registries",), "registry")
    checker.unique((c.name for c in spec.clusters), ("clusters",), "cluster")
    checker.unique((g.name for g in spec.namespace_groups), ("namespaceGroups",), "namespace group")
    _check_registries(checker, resolved)
    _check_clusters(checker)
    _check_kyverno_settings(checker)
    for path, message in shared_destinations(spec):
        checker.error(path, message)
    _check_metadata(checker)
    check_nodes(spec, checker.error)
    check_engine_credentials(spec, resolved.server_keys, checker.error)
    _resolve_groups(checker, resolved)
    check_pull_secret_collisions(spec, resolved.server_keys, resolved.targets, checker.error)
    return resolved, sorted(set(checker.problems))


SUPPORTED_KYVERNO = (10, 19)  # minors whose policies, CRDs and CLI suites are checked (tests/test_kyverno_cli.py)


def _check_kyverno_settings(checker: _Checker) -> None:
    for i, cluster in enumerate(checker.spec.clusters):
        settings = cluster.kyverno
        if settings is None:
            continue
        low, high = SUPPORTED_KYVERNO
        if not low <= settings.minor <= high:
            checker.error(("clusters", i, "kyverno", "version"),
                          f"Kyverno {settings.version} is not supported (supported: 1.{low} to 1.{high})")
        elif settings.policy_kind == "CEL" and settings.minor < 17:
            checker.error(("clusters", i, "kyverno", "policyKind"),
                          f"CEL policies (policies.kyverno.io/v1) need Kyverno 1.17 or newer, not {settings.version}")
        elif settings.policy_kind == "CEL" and settings.minor < 19:
            checker.error(("clusters", i, "kyverno", "policyKind"),
                          f"CEL clone policies on Kyverno {settings.version} copy the source Secret's ownerReferences "
                          "into every clone, and the garbage collector deletes them (Kyverno issue 15444, fixed in "
                          "1.19): use `auto` (ClusterPolicy) or Kyverno 1.19")


_WIRING_FOLDERS = ("argocd", "flux")


def _check_clusters(checker: _Checker) -> None:
    outputs: dict[str, int] = {}
    low, high = (tuple(int(x) for x in v.split(".")) for v in SUPPORTED_KUBERNETES)
    for i, cluster in enumerate(checker.spec.clusters):
        version = tuple(int(x) for x in cluster.major_minor.split("."))
        if not low <= version <= high:
            checker.error(
                ("clusters", i, "kubernetesVersion"),
                f"Kubernetes {cluster.major_minor} is not supported (supported: "
                f"{SUPPORTED_KUBERNETES[0]} to {SUPPORTED_KUBERNETES[1]})",
            )
        out = cluster.output_dir or cluster.name
        problem = unsafe_relative_path(out)
        if problem:
            checker.error(("clusters", i, "outputDir"), problem)
            continue
        norm = posixpath.normpath(out)
        reserved = next((w for w in _WIRING_FOLDERS if norm == w or norm.startswith(w + "/")
                         or w.startswith(norm + "/") or norm == "."), None)
        if checker.spec.gitops is not None and reserved is not None:
            checker.error(("clusters", i, "outputDir"), f"{out!r} overlaps the GitOps wiring folder "
                          f"{reserved!r} that genpolicy writes (choose another outputDir)")
        for other, j in outputs.items():
            if norm == other or norm.startswith(other + "/") or other.startswith(norm + "/"):
                checker.error(("clusters", i, "outputDir"), f"overlaps the output of cluster {j}")
        outputs[norm] = i


def unsafe_relative_path(value: str) -> str | None:
    """Why a path from the spec may not be used inside the output root, or None."""
    if value.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", value):
        return "must be a relative path"
    parts = value.replace("\\", "/").split("/")
    if any(p == ".." for p in parts):
        return "must not contain '..'"
    if any(p.startswith(".") and p not in (".",) for p in parts):
        return "must not contain hidden path components"
    return None


def _check_metadata(checker: _Checker) -> None:
    for key, value in checker.spec.common_labels.items():
        _check_qualified_key(checker, ("commonLabels", key), key)
        if len(value) > 63 or not _LABEL_VALUE.fullmatch(value):
            checker.error(("commonLabels", key), f"invalid label value {value!r}")
    for key in checker.spec.common_annotations:
        _check_qualified_key(checker, ("commonAnnotations", key), key)


def _check_qualified_key(checker: _Checker, path: Path, key: str) -> None:
    prefix, _, name = key.rpartition("/")
    if (prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.fullmatch(prefix))) or (
        len(name) > 63 or not _QUALIFIED_NAME.fullmatch(name)
    ):
        checker.error(path, f"invalid key {key!r}: must be [prefix/]name with a DNS prefix", at_key=True)
