"""`genpolicy explain`: which credentials the kubelet would try for an image, in order, and why.

Two inputs: the spec (a namespace's Secrets, attached by the ServiceAccount, by Kyverno's Pod
mutation, or served by a node provider: `pod`), or raw pull secrets in Pod order
(`--dockerconfig`: `pull_secrets`). `keyring` walks them with genpolicy.registry's model of the
kubelet keyring. Passwords are never shown.
"""

from __future__ import annotations

from genpolicy.explain.keyring import JSON_VERSION, Attempt, Explanation, NearMiss, explain, why_not
from genpolicy.explain.pod import (
    HELM_VALUES,
    KYVERNO,
    NODE,
    POD,
    SERVICE_ACCOUNT,
    PodKeyring,
    check_cluster,
    explain_spec,
    pod_keyring,
    unknown_secret_note,
)
from genpolicy.explain.pull_secrets import NoCredentials, load_pull_secrets

__all__ = ["HELM_VALUES", "JSON_VERSION", "KYVERNO", "NODE", "POD", "SERVICE_ACCOUNT", "Attempt", "Explanation",
           "NearMiss", "NoCredentials", "PodKeyring", "check_cluster", "explain", "explain_spec", "load_pull_secrets",
           "pod_keyring", "unknown_secret_note", "why_not"]
