#!/usr/bin/env python3
"""Regenerate the CRD schemas shipped in genpolicy/crds/ from upstream CRD files (maintainers only).

Usage:
    .venv/bin/python scripts/build-crd-schemas.py --upstream DIR --kyverno-modules DIR [--keep-kyverno] [--out genpolicy/crds]

--upstream DIR         a folder laid out <group>/<kind>.yaml holding unmodified upstream CRDs
                       (the project's shared/crds; its README lists repository, path, tag, commit).
--keep-kyverno         reuse the Kyverno entries (and their schema files) of the existing index.json
                       instead of rebuilding them from --kyverno-modules (still read for its NOTICE).
--kyverno-modules DIR  the Go module cache (`go env GOMODCACHE`) holding github.com/kyverno/kyverno@vX.Y.Z
                       (`go mod download -json github.com/kyverno/kyverno@vX.Y.Z` fetches one).

For every served version of every kind genpolicy emits, the CRD's openAPIV3Schema is converted
with genpolicy.validate.crd_to_json_schema (the same conversion `--crds` applies), descriptions are
dropped (they do not take part in validation), and the result is written once per distinct schema
as <sha256[:16]>.json.gz. index.json records, per project release, the source, licence and the
schema of each (apiVersion, kind). The output is deterministic: run twice, get identical bytes.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from genpolicy.validate import crd_to_json_schema

KYVERNO_RELEASES = ["1.10.3", "1.11.5", "1.12.6", "1.13.4", "1.14.4", "1.15.2", "1.17.1", "1.18.2", "1.19.1"]
KYVERNO_FILES = {  # kind -> file name; the folder moved in 1.12 (config/crds/kyverno/...)
    "ClusterPolicy": "kyverno.io_clusterpolicies.yaml",
    "GeneratingPolicy": "policies.kyverno.io_generatingpolicies.yaml",
    "MutatingPolicy": "policies.kyverno.io_mutatingpolicies.yaml",
}
KYVERNO_FOLDERS = ["config/crds", "config/crds/kyverno", "config/crds/policies.kyverno.io"]

# Non-Kyverno upstream files (one release each), as recorded in shared/crds/README.md.
UPSTREAM = [
    ("external-secrets", "2.9.0", "external-secrets/external-secrets", "378bdb622ed9712ef4a58370f6a17af033b7d343",
     {"external-secrets.io/externalsecret.yaml": "config/crds/bases/external-secrets.io_externalsecrets.yaml",
      "external-secrets.io/clusterexternalsecret.yaml":
          "config/crds/bases/external-secrets.io_clusterexternalsecrets.yaml",
      "generators.external-secrets.io/ecrauthorizationtoken.yaml":
          "config/crds/bases/generators.external-secrets.io_ecrauthorizationtokens.yaml",
      "generators.external-secrets.io/gcraccesstoken.yaml":
          "config/crds/bases/generators.external-secrets.io_gcraccesstokens.yaml",
      "generators.external-secrets.io/acraccesstoken.yaml":
          "config/crds/bases/generators.external-secrets.io_acraccesstokens.yaml"}),
    ("sealed-secrets", "0.36.6", "bitnami-labs/sealed-secrets", "6dc880366d1cafa16683173cc3c8e3b58e930937",
     {"bitnami.com/sealedsecret.yaml": "helm/sealed-secrets/crds/bitnami.com_sealedsecrets.yaml"}),
    ("flux-kustomize-controller", "1.9.4", "fluxcd/kustomize-controller", "1324b615da01038e2859cbcde604bd5434f21933",
     {"kustomize.toolkit.fluxcd.io/kustomization.yaml":
          "config/crd/bases/kustomize.toolkit.fluxcd.io_kustomizations.yaml"}),
    ("flux-source-controller", "1.9.1", "fluxcd/source-controller", "092bcff3c9c3f258a44310507201d295ff294ba6",
     {"source.toolkit.fluxcd.io/gitrepository.yaml":
          "config/crd/bases/source.toolkit.fluxcd.io_gitrepositories.yaml",
      "source.toolkit.fluxcd.io/helmrepository.yaml":
          "config/crd/bases/source.toolkit.fluxcd.io_helmrepositories.yaml",
      "source.toolkit.fluxcd.io/ocirepository.yaml":
          "config/crd/bases/source.toolkit.fluxcd.io_ocirepositories.yaml"}),
    ("flux-image-reflector-controller", "1.2.0", "fluxcd/image-reflector-controller",
     "cf3258bac4120a481fecf24d24c5245a5901f9c3",
     {"image.toolkit.fluxcd.io/imagerepository.yaml":
          "config/crd/bases/image.toolkit.fluxcd.io_imagerepositories.yaml"}),
    ("argo-cd", "3.5.1", "argoproj/argo-cd", "109ca7ca71139e514114499d294a492e7910a965",
     {"argoproj.io/application.yaml": "manifests/crds/application-crd.yaml"}),
]


def strip_descriptions(node: Any) -> Any:
    """Drop `description` keywords (strings); a property *named* description is a mapping and stays."""
    if isinstance(node, dict):
        return {k: strip_descriptions(v) for k, v in node.items() if not (k == "description" and isinstance(v, str))}
    if isinstance(node, list):
        return [strip_descriptions(v) for v in node]
    return node


def served_schemas(crd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """'<apiVersion> <Kind>' -> converted JSON Schema, for each served version of one CRD."""
    spec = crd["spec"]
    out = {}
    for version in spec["versions"]:
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if version.get("served") and schema:
            out[f"{spec['group']}/{version['name']} {spec['names']['kind']}"] = strip_descriptions(
                crd_to_json_schema(schema))
    return out


def store(out: Path, schema: dict[str, Any], written: set[str]) -> str:
    data = json.dumps(schema, sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256(data).hexdigest()[:16]
    if digest not in written:
        (out / f"{digest}.json.gz").write_bytes(gzip.compress(data, 9, mtime=0))
        written.add(digest)
    return digest


def kyverno_release(modules: Path, release: str, out: Path, written: set[str]) -> dict[str, Any]:
    root = modules / "github.com/kyverno" / f"kyverno@v{release}"
    ziphash = modules / "cache/download/github.com/kyverno/kyverno/@v" / f"v{release}.ziphash"
    schemas, paths = {}, []
    for name in KYVERNO_FILES.values():
        for folder in KYVERNO_FOLDERS:
            file = root / folder / name
            if file.is_file():
                paths.append(f"{folder}/{name}")
                for key, schema in served_schemas(yaml.safe_load(file.read_text())).items():
                    schemas[key] = store(out, schema, written)
    if not schemas:
        raise SystemExit(f"no Kyverno CRDs under {root}")
    return {"project": "kyverno", "version": release, "repository": "kyverno/kyverno",
            "source": f"Go module github.com/kyverno/kyverno@v{release}",
            "module_hash": ziphash.read_text().strip() if ziphash.is_file() else "", "paths": sorted(paths),
            "licence": "Apache-2.0", "schemas": dict(sorted(schemas.items()))}


def upstream_release(upstream: Path, entry: tuple[Any, ...], out: Path, written: set[str]) -> dict[str, Any]:
    project, version, repo, commit, files = entry
    schemas = {}
    for local in files:
        for key, schema in served_schemas(yaml.safe_load((upstream / local).read_text())).items():
            schemas[key] = store(out, schema, written)
    return {"project": project, "version": version, "repository": repo, "source": f"{repo}@v{version} ({commit})",
            "paths": sorted(files.values()), "licence": "Apache-2.0", "schemas": dict(sorted(schemas.items()))}


def notice(kyverno: dict[str, Any], others: list[dict[str, Any]], modules: Path) -> str:
    """Apache-2.0 attribution for the redistributed (converted) schemas, with Kyverno's NOTICE."""
    lines = ["genpolicy ships JSON Schemas converted from the CustomResourceDefinitions of the projects",
             "below (descriptions removed, openAPIV3Schema converted to JSON Schema draft 4). Each is",
             "licensed under the Apache License, Version 2.0 (http://www.apache.org/licenses/LICENSE-2.0);",
             "copyright belongs to the authors of each project.", ""]
    for entry in [*kyverno.values(), *others]:
        lines.append(f"- {entry['project']} {entry['version']}: https://github.com/{entry['repository']} "
                     f"({', '.join(entry['paths'])}), {entry['licence']}")
    newest = kyverno[max(kyverno, key=lambda m: tuple(int(x) for x in m.split(".")))]["version"]
    upstream_notice = modules / "github.com/kyverno" / f"kyverno@v{newest}" / "NOTICE"
    if upstream_notice.is_file():
        head = upstream_notice.read_text().split("\n---")[0].strip()
        lines += ["", f"NOTICE of kyverno/kyverno v{newest} (its attribution part):", "", head]
    return "\n".join(lines) + "\n"


def kept_kyverno(out: Path) -> dict[str, Any]:
    """The Kyverno entries of the index already in `out` (when the module cache lacks some releases)."""
    kyverno: dict[str, Any] = json.loads((out / "index.json").read_text())["kyverno"]
    return kyverno


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", type=Path, required=True)
    parser.add_argument("--kyverno-modules", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "genpolicy" / "crds")
    parser.add_argument("--keep-kyverno", action="store_true")
    args = parser.parse_args()
    written: set[str] = set()
    kyverno = kept_kyverno(args.out) if args.keep_kyverno else {}
    keep = {d for entry in kyverno.values() for d in entry["schemas"].values()}
    for old in args.out.glob("*.json.gz"):
        if old.name.removesuffix(".json.gz") not in keep:
            old.unlink()
    written |= keep
    if not args.keep_kyverno:
        kyverno = {".".join(r.split(".")[:2]): kyverno_release(args.kyverno_modules, r, args.out, written)
                   for r in KYVERNO_RELEASES}
    others = [upstream_release(args.upstream, e, args.out, written) for e in UPSTREAM]
    index = {"format": 1, "kyverno": kyverno, "projects": others,
             "note": "Kyverno 1.16 is not in the Go module proxy; a 1.16 cluster uses the 1.15 schemas "
                     "(the newest shipped minor not newer than the declared one)."}
    (args.out / "index.json").write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    (args.out / "NOTICE").write_text(notice(kyverno, others, args.kyverno_modules))
    print(f"{len(written)} distinct schemas, {sum(p.stat().st_size for p in args.out.glob('*.json.gz'))} bytes")


if __name__ == "__main__":
    main()
