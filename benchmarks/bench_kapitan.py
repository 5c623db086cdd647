"""Benchmark: genpolicy against kapitan compiling the same bundle, side by side in one run.

Usage: python benchmarks/bench_kapitan.py SPEC [--repeat 3] [--workdir DIR]
(bench_render.py runs it too, on its one-cluster spec, and reports it as "kapitan").

SPEC is a spec made by bench_render.make_spec (namespaces x registries x service accounts, plain
backend, Argo CD annotations; its passwords come from the environment variables it names). From
it this writes a kapitan project: an inventory with one target per cluster (the namespaces in the
target, the registries and service accounts in a class) and a kadet component
(kapitan_component.py) that builds the same files with the same YAML objects genpolicy writes —
pull Secrets, ServiceAccounts, Helm values, kustomizations. kadet is kapitan's input type that
writes one file per namespace from one component; the jinja2 input renders one output file per
template file (with a new Jinja2 environment for each), so it needs a stub template per namespace
file, and it was the slower of the two (11.1 s against kadet's 6.9 s wall for the 2,000-namespace
bundle, with the same objects): kadet is the comparison that favours kapitan. Then, alternately `--repeat`
times, a full `genpolicy render` (empty output, empty cache) and a `kapitan compile` run as child
processes; wall and CPU (user + system, children included) come from `os.wait4`, the minimum of the
runs counts. Both outputs are parsed with yaml and compared as multisets of (file, object),
ignoring comments, key order and formatting; any difference stops the benchmark with the objects
that differ (never their contents: the Secrets hold credentials).

kapitan is found through env KAPITAN (the path of its executable) or on PATH; without it the
result is a "skipped: ..." string. It is not a dependency of genpolicy: install it into a venv of
its own, e.g. `python3.11 -m venv ~/.cache/genpolicy-tools/kapitan-venv &&
~/.cache/genpolicy-tools/kapitan-venv/bin/pip install kapitan==0.36.3`, then
`KAPITAN=~/.cache/genpolicy-tools/kapitan-venv/bin/kapitan`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
COMPONENT = HERE / "kapitan_component.py"
TARGET = 30.0
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SPEC_KEYS = {"apiVersion", "kind", "outputDir", "allowPlaintext", "registries", "clusters", "defaults",
              "namespaceGroups"}


class Unsupported(Exception):
    """The spec has something this benchmark's kapitan project does not build."""


class Mismatch(Exception):
    """kapitan's output and genpolicy's differ."""


@dataclass(frozen=True)
class Bundle:
    clusters: list[str]
    namespaces: list[str]
    registries: list[dict[str, str]]
    accounts: list[str]


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float


def bundle_of(spec: dict[str, Any], env: dict[str, str]) -> Bundle:
    """The bundle of a bench_render.make_spec spec; Unsupported for anything else."""
    if set(spec) - _SPEC_KEYS:
        raise Unsupported(f"the spec has {sorted(set(spec) - _SPEC_KEYS)}")
    for cluster in spec["clusters"]:
        if set(cluster) != {"name", "kubernetesVersion", "gitops"} or cluster["gitops"] != "argocd":
            raise Unsupported(f"cluster {cluster['name']!r} is not a plain-backend Argo CD cluster")
    groups = spec["namespaceGroups"]
    if any(set(group) != {"name", "namespaces"} for group in groups):
        raise Unsupported("a namespace group has settings of its own (kyverno, registries, ...)")
    defaults = spec["defaults"]
    registries = [_registry(r, env) for r in spec["registries"] if r["name"] in defaults["registries"]]
    return Bundle([c["name"] for c in spec["clusters"]], [ns for g in groups for ns in g["namespaces"]],
                  registries, list(defaults["serviceAccounts"]))


def _registry(registry: dict[str, Any], env: dict[str, str]) -> dict[str, str]:
    credentials = registry["credentials"]
    if set(credentials) != {"username", "fromEnv"} or set(credentials["fromEnv"]) != {"password"}:
        raise Unsupported(f"registry {registry['name']!r} has credentials other than username + password from env")
    variable = credentials["fromEnv"]["password"]
    if variable not in env:
        raise Unsupported(f"environment variable {variable} is not set")
    return {"name": registry["name"], "server": registry["server"], "username": credentials["username"],
            "password": env[variable]}


def write_project(bundle: Bundle, root: Path) -> None:
    """A kapitan project: a class with the compile entry and the registries, a target per cluster."""
    shutil.rmtree(root, ignore_errors=True)
    component = root / "components" / "pullsecrets"
    component.mkdir(parents=True)
    shutil.copyfile(COMPONENT, component / "__init__.py")
    compile_entry = {"input_type": "kadet", "input_paths": ["components/pullsecrets"], "output_path": ".",
                     "output_type": "yaml"}
    common = {"parameters": {"kapitan": {"compile": [compile_entry]},
                             "genpolicy": {"registries": bundle.registries, "serviceAccounts": bundle.accounts}}}
    _dump(root / "inventory" / "classes" / "genpolicy.yml", common)
    for cluster in bundle.clusters:
        target = {"classes": ["genpolicy"],
                  "parameters": {"kapitan": {"vars": {"target": cluster}},
                                 "genpolicy": {"cluster": cluster, "namespaces": bundle.namespaces}}}
        _dump(root / "inventory" / "targets" / f"{cluster}.yml", target)


def _dump(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def object_set(root: Path) -> Counter[tuple[str, str]]:
    """Every YAML document under root as (file, canonical JSON), comments and formatting ignored."""
    found: Counter[tuple[str, str]] = Counter()
    for path in sorted(root.rglob("*.y*ml")):
        rel = path.relative_to(root).with_suffix(".yaml").as_posix()
        for doc in yaml.load_all(path.read_bytes(), Loader=_Loader):
            if doc is not None:
                found[rel, json.dumps(doc, sort_keys=True)] += 1
    return found


def compare_outputs(genpolicy_out: Path, kapitan_out: Path) -> int:
    """The number of objects compared; Mismatch naming the first objects that differ."""
    ours, theirs = object_set(genpolicy_out), object_set(kapitan_out)
    if not ours:
        raise Mismatch(f"no YAML objects under {genpolicy_out}")
    if ours != theirs:
        raise Mismatch(_differences(ours - theirs, theirs - ours))
    return sum(ours.values())


def _differences(ours: Counter[tuple[str, str]], theirs: Counter[tuple[str, str]], shown: int = 5) -> str:
    """How many objects each side alone has, and the first few: where a pair differs, or which is missing."""
    mine = {_identity(rel, json.loads(text)): json.loads(text) for rel, text in sorted(ours)}
    other = {_identity(rel, json.loads(text)): json.loads(text) for rel, text in sorted(theirs)}
    notes = [f"{name}: differs at {', '.join(_paths(mine[name], other[name])[:3])}"
             if name in other else f"{name}: not in kapitan's output" for name in mine]
    notes += [f"{name}: not in genpolicy's output" for name in other if name not in mine]
    head = f"{sum(ours.values())} object(s) only in genpolicy's output, {sum(theirs.values())} only in kapitan's"
    return head + ": " + "; ".join(notes[:shown])


def _identity(rel: str, obj: Any) -> str:
    """File, kind and namespace/name of an object, never its values (a Secret's data is a credential)."""
    if not isinstance(obj, dict):
        return f"{rel}: {type(obj).__name__}"
    metadata = obj.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    name = "/".join(str(metadata[k]) for k in ("namespace", "name") if k in metadata)
    return f"{rel}: {obj.get('kind', 'values')} {name}".strip()


def _paths(a: Any, b: Any, prefix: str = "") -> list[str]:
    """The key paths at which two parsed objects differ (no values)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [p for key in sorted(set(a) | set(b), key=str)
                for p in (_paths(a.get(key), b.get(key), f"{prefix}.{key}") if key in a and key in b
                          else [f"{prefix}.{key}"])]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [p for i, (x, y) in enumerate(zip(a, b, strict=True)) for p in _paths(x, y, f"{prefix}[{i}]")]
    return [] if a == b else [prefix.lstrip(".") or "(the whole document)"]


def timed(command: list[str], env: dict[str, str], cwd: Path) -> Timing:
    """One child process: wall and CPU (user + system, its own children included) via os.wait4."""
    with tempfile.TemporaryFile("w+") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=log)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            log.seek(0)
            raise SystemExit(f"{Path(command[0]).name} failed: {log.read()[-2000:]}")
    return Timing(wall, usage.ru_utime + usage.ru_stime)


def find_kapitan() -> str | None:
    found = os.environ.get("KAPITAN") or shutil.which("kapitan")
    return found if found and os.access(found, os.X_OK) else None


def kapitan_version(kapitan: str) -> str:
    proc = subprocess.run([kapitan, "--version"], capture_output=True, text=True, check=True)
    return proc.stdout.strip().splitlines()[-1]


class Side:
    """One side of the comparison: the command, where it runs and where its output lands."""

    def __init__(self, command: list[str], cwd: Path, output: Path, env: dict[str, str]) -> None:
        self.command, self.cwd, self.output, self.env = command, cwd, output, env
        self.runs: list[Timing] = []

    def run(self, cache: Path | None = None) -> None:
        """One run into an empty output folder (and an empty cache folder, if given)."""
        for folder in (self.output, cache):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        env = self.env if cache is None else {**self.env, "XDG_CACHE_HOME": str(cache)}
        self.runs.append(timed(self.command, env, self.cwd))

    def best(self) -> dict[str, float]:
        return {"wall_s": round(min(t.wall for t in self.runs), 3), "cpu_s": round(min(t.cpu for t in self.runs), 3)}


def compare(spec: Path, env: dict[str, str], work: Path, repeat: int,
            kapitan: str | None = None) -> dict[str, Any] | str:
    """genpolicy's full render and kapitan's compile of the same bundle, alternately, min of `repeat`."""
    kapitan = kapitan or find_kapitan()
    if kapitan is None:
        return "skipped: kapitan is not installed (set KAPITAN=/path/to/kapitan)"
    try:
        bundle = bundle_of(yaml.load(spec.read_bytes(), Loader=_Loader), env)
    except Unsupported as exc:
        return f"skipped: this spec is not the benchmark's plain bundle ({exc})"
    work.mkdir(parents=True, exist_ok=True)
    ours = _genpolicy_side(spec, env, work)
    theirs = Side([kapitan, "compile"], work / "kapitan", work / "kapitan" / "compiled", _kapitan_env(env))
    write_project(bundle, theirs.cwd)
    for _ in range(repeat):
        ours.run(cache=work / "genpolicy-cache")
        theirs.run()
    objects = compare_outputs(ours.output, theirs.output)
    return _report(kapitan, bundle, objects, ours.best(), theirs.best())


def _genpolicy_side(spec: Path, env: dict[str, str], work: Path) -> Side:
    """genpolicy renders a copy of the spec under the same file name (it is printed in every header)."""
    folder = work / "genpolicy"
    folder.mkdir(exist_ok=True)
    copy = folder / spec.name
    shutil.copyfile(spec, copy)
    output = folder / str(yaml.load(copy.read_bytes(), Loader=_Loader).get("outputDir", "out"))
    return Side([sys.executable, "-m", "genpolicy", "render", str(copy)], folder, output, env)


def _kapitan_env(env: dict[str, str]) -> dict[str, str]:
    """kapitan runs from its own venv: drop this interpreter's venv and path settings."""
    return {k: v for k, v in env.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}}


def _report(kapitan: str, bundle: Bundle, objects: int, ours: dict[str, float],
            theirs: dict[str, float]) -> dict[str, Any]:
    ratio = round(theirs["wall_s"] / ours["wall_s"], 2)
    return {
        "kapitan_version": kapitan_version(kapitan), "input_type": "kadet", "targets": len(bundle.clusters),
        "namespaces": len(bundle.namespaces), "objects_compared": objects,
        "seconds": {"genpolicy_full_render": ours, "kapitan_compile": theirs},
        "kapitan_wall_vs_genpolicy_wall": {"value": ratio, "target": f">= {TARGET:g}", "met": ratio >= TARGET},
        "kapitan_cpu_vs_genpolicy_cpu": round(theirs["cpu_s"] / ours["cpu_s"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("spec", type=Path, help="a spec made by bench_render.make_spec")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="genpolicy-kapitan-"))
    report = {"load_average_before": os.getloadavg(), "cpus": os.cpu_count(), "repeat": args.repeat,
              "kapitan": compare(args.spec.resolve(), dict(os.environ), work, args.repeat),
              "load_average_after": os.getloadavg()}
    print(json.dumps(report, indent=2))
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
