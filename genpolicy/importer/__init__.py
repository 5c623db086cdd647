"""`genpolicy import`: a starter spec and a cut-over checklist from the tools teams run today.

Readers (readers.py, kyverno.py) turn each tool's objects into deliveries (model.py); build.py
writes the spec, checklist.py the checklist. Credentials are referenced (env vars), never copied.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from genpolicy.importer import kyverno, readers
from genpolicy.importer.build import Built, Settings, build
from genpolicy.importer.checklist import checklist
from genpolicy.importer.inputs import read_manifests
from genpolicy.importer.model import Imported

__all__ = ["ImportResult", "Settings", "import_files"]


@dataclass
class ImportResult:
    imported: Imported
    built: Built


def import_files(paths: list[Path], settings: Settings, spec_name: str = "spec.yaml") -> ImportResult:
    manifests = read_manifests(paths)
    imported = Imported()
    readers.index_secrets(manifests, imported)
    for reader in (readers.patcher, readers.registry_creds, readers.reflector_replicator, kyverno.kyverno,
                   kyverno.plain_secrets):
        reader(manifests, imported)
    built = build(imported, settings)
    built.checklist = checklist(imported, built, settings, spec_name)
    return ImportResult(imported, built)
