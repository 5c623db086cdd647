"""Benchmark: render + validate + write a large spec, then a no-change re-render.

Usage: python benchmarks/bench_render.py [--namespaces 2000] [--registries 4] [--accounts 2] [--workdir DIR]

Reports, in one run: objects/s for the full render, the no-change re-render time, peak RSS, the
time to write the same bytes with plain Python (the disk baseline; the disk here is shared and
noisy, so compare ratios), and the per-object time of the naive kubernetes-validate baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[1]


def make_spec(folder: Path, namespaces: int, registries: int, accounts: int, clusters: int = 1,
              kyverno_groups: int = 0) -> Path:
    regs = [{"name": f"reg{i}", "server": f"registry{i}.example.com:5000/team{i}",
             "credentials": {"username": f"user{i}", "fromEnv": {"password": f"BENCH_PASS_{i}"}}}
            for i in range(registries)]
    names = ["big"] if clusters == 1 else [f"c{i:02d}" for i in range(clusters)]
    spec = {
        "apiVersion": "genpolicy/v1alpha1", "kind": "PullSecretSpec", "outputDir": "out",
        "allowPlaintext": True, "registries": regs,
        "clusters": [{"name": n, "kubernetesVersion": "1.33", "gitops": "argocd",
                      **({"kyverno": {"version": "1.13"}} if kyverno_groups else {})} for n in names],
        "defaults": {"registries": [r["name"] for r in regs],
                     "serviceAccounts": ["default"] + [f"sa{i}" for i in range(1, accounts)]},
        "namespaceGroups": [{"name": "all", "namespaces": [f"ns-{i:05d}" for i in range(namespaces)]}]
        + [{"name": f"team{i}", "distribution": "kyverno", "namespaces": [f"team{i}-*"]}
           for i in range(kyverno_groups)],
    }
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def timed_render(spec: Path, env: dict[str, str], *args: str) -> tuple[float, str, int]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "genpolicy", "render", str(spec), *args], env=env,
                          capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"render failed ({proc.returncode}): {proc.stderr[-2000:]}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, proc.stderr.strip(), usage


def write_same_bytes(source: Path, target: Path) -> float:
    files = [(p.relative_to(source), p.read_bytes()) for p in source.rglob("*") if p.is_file()]
    start = time.perf_counter()
    for rel, data in files:
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    return time.perf_counter() - start


def read_same_bytes(source: Path) -> float:
    """The floor of a no-change re-render: reading every output file once."""
    start = time.perf_counter()
    for path in source.rglob("*"):
        if path.is_file():
            path.read_bytes()
    return time.perf_counter() - start


def naive_per_object(out: Path, samples: int = 10) -> float:
    files = sorted(p for p in out.glob("*/namespaces/*.yaml") if p.name != "kustomization.yaml")[:3]
    docs = [d for p in files for d in yaml.safe_load_all(p.read_text())]
    docs = (docs * samples)[:samples]
    start = time.perf_counter()
    for doc in docs:
        kubernetes_validate.validate(doc, "1.33", strict=True)
    return (time.perf_counter() - start) / len(docs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--namespaces", type=int, default=2000)
    parser.add_argument("--registries", type=int, default=4)
    parser.add_argument("--accounts", type=int, default=2)
    parser.add_argument("--clusters", type=int, default=1)
    parser.add_argument("--kyverno-groups", type=int, default=0)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="genpolicy-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    spec = make_spec(work, args.namespaces, args.registries, args.accounts, args.clusters, args.kyverno_groups)
    env = {**os.environ, **{f"BENCH_PASS_{i}": f"bench-password-{i}" for i in range(args.registries)},
           "XDG_CACHE_HOME": str(work / "cache")}  # a fresh no-change cache for this run
    objects = args.clusters * args.namespaces * (args.registries + args.accounts)

    full, full_log, rss = timed_render(spec, env)
    again_full, _, _ = timed_render(spec, env, "--no-cache")  # no change, full render + compare
    again, again_log, _ = timed_render(spec, env)  # no change, answered by the verified cache
    files = sum(1 for p in (work / "out").rglob("*") if p.is_file())
    size = sum(p.stat().st_size for p in (work / "out").rglob("*") if p.is_file())
    disk = write_same_bytes(work / "out", work / "copy")
    read = read_same_bytes(work / "out")
    naive = naive_per_object(work / "out")
    ours_per_object = full / objects
    report = {
        "namespaces": args.namespaces, "registries": args.registries, "service_accounts": args.accounts,
        "objects": objects, "files": files, "bytes": size,
        "full_render_s": round(full, 3), "objects_per_s": round(objects / full),
        "no_change_rerender_s": round(again, 3), "no_change_rerender_no_cache_s": round(again_full, 3),
        "read_same_bytes_s": round(read, 3), "no_change_vs_plain_read": round(again / read, 1),
        "no_change_no_cache_vs_plain_read": round(again_full / read, 1),
        "write_same_bytes_s": round(disk, 3), "full_render_vs_plain_write": round(full / disk, 1),
        "peak_rss_mib": round(rss / 1024, 1),
        "naive_kubernetes_validate_ms_per_object": round(naive * 1e3, 2),
        "naive_validate_all_objects_s (extrapolated)": round(naive * objects, 1),
        "genpolicy_ms_per_object_end_to_end": round(ours_per_object * 1e3, 4),
        "naive_over_genpolicy_per_object": round(naive / ours_per_object),
        "log_full": full_log.splitlines()[-1], "log_rerender": again_log.splitlines()[-1],
    }
    print(json.dumps(report, indent=2))
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
