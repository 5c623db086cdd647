"""The cut-over checklist: set the credentials, render, stop every old writer, apply, verify.

The order matters: a ServiceAccount's `imagePullSecrets` is an atomic list, so while the old
writer still runs it and genpolicy's patch replace each other's list on every reconcile.
"""

from __future__ import annotations

from genpolicy.importer.build import Built, Settings
from genpolicy.importer.model import Imported


def checklist(imported: Imported, built: Built, settings: Settings, spec_name: str = "spec.yaml") -> list[str]:
    lines = ["# Cut-over checklist (written by `genpolicy import`)", ""]
    lines += _credentials(built, settings)
    lines += ["", "## 2. Render and review", "",
              f"- [ ] `genpolicy lint {spec_name}` and `genpolicy render {spec_name}`; review the namespaces and "
              "ServiceAccounts each group covers, and commit the output", ""]
    lines += _writers(imported)
    lines += ["", "## 4. Apply", "",
              "- [ ] sync the rendered bundle (Argo CD Application / Flux Kustomization): the Secrets keep their "
              "old names, so Pods that list them keep pulling", "",
              "## 5. Verify", "",
              "- [ ] `kubectl get serviceaccounts,secrets,pods -A -o yaml --show-managed-fields > live.yaml` "
              f"then `genpolicy audit {spec_name} --live live.yaml`: no AU001 (another writer still owns "
              "imagePullSecrets) and no AU003 (a Secret is missing)"]
    lines += _open_items(imported, built)
    return lines


def _credentials(built: Built, settings: Settings) -> list[str]:
    lines = ["## 1. Credentials (never copied into the spec)", ""]
    for variable, where in built.env:
        lines.append(f"- [ ] set `{variable}` where you render ({where}: read it with `kubectl get secret ... "
                     "-o jsonpath='{.data.\\.dockerconfigjson}' | base64 -d`, or better, from your vault); "
                     "or switch the registry to `externalSecret`")
    if settings.backend == "sealed-secrets":
        lines.append(f"- [ ] fetch the controller's certificate: `kubeseal --fetch-cert > {settings.certificate}`")
    return lines


def _writers(imported: Imported) -> list[str]:
    lines = ["## 3. Stop the old writers BEFORE applying genpolicy's ServiceAccount patches", "",
             "`imagePullSecrets` is an atomic list: while an old writer runs, it and genpolicy replace each "
             "other's whole list on every reconcile, and Pods created in between get either list.", ""]
    for delivery in imported.deliveries:
        for writer, where, stop in [(delivery.writer, delivery.where, delivery.stop), *delivery.also]:
            lines.append(f"- [ ] {delivery.tool}: {writer} ({where}): {stop}")
    return lines


def _open_items(imported: Imported, built: Built) -> list[str]:
    notes = [f"{d.tool} ({d.writer}): {n}" for d in imported.deliveries for n in d.notes] + imported.notes
    notes += [f"{d.tool} ({d.writer}): the registry of Secret {d.source or d.secret_name} is unknown (its body was "
              "not among the inputs), so no group was written for it: add `kubectl get secret "
              f"{_secret_ref(d.source or d.secret_name)} -o yaml` to the inputs and import again"
              for d in built.unresolved]
    if not notes:
        return []
    return ["", "## Open items", "", *[f"- [ ] {n}" for n in notes]]


def _secret_ref(ref: str) -> str:
    namespace, _, name = ref.partition("/")
    return f"{name} -n {namespace}" if name else namespace
