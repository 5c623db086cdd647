"""A render killed at any moment (SIGKILL) leaves the output fully old or fully new."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, write_spec
from genpolicy import writer

SPEC = """
apiVersion: genpolicy/v1alpha1
kind: PullSecretSpec
allowPlaintext: true
registries:
  - name: reg
    server: reg.example.com
    credentials: {username: u, fromEnv: {password: PASS}}
clusters: [{name: c, kubernetesVersion: "1.33"}]
namespaceGroups: [{name: g, namespaces: [NAMESPACES], registries: [reg]}]
"""


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def render(spec: Path, password: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PASS": password, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "genpolicy", "render", str(spec)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.skipif(not writer._exchange_supported(), reason="no atomic directory exchange on this OS")
def test_sigkill_at_random_moments(tmp_path: Path) -> None:
    names = ", ".join(f"ns-{i:04d}" for i in range(400))
    old_spec = write_spec(tmp_path, SPEC.replace("NAMESPACES", names))
    assert render(old_spec, "old-password-1").wait() == 0
    old = snapshot(tmp_path / "out")
    new_names = ", ".join(f"ns-{i:04d}" for i in range(100, 500))
    new_spec = write_spec(tmp_path, SPEC.replace("NAMESPACES", new_names), name="new.yaml")
    timing = render(new_spec, "new-password-2")
    start = time.perf_counter()
    assert timing.wait() == 0
    duration = time.perf_counter() - start
    new = snapshot(tmp_path / "out")
    assert new != old
    rng = random.Random(7)
    outcomes = {"old": 0, "new": 0}
    for attempt in range(8):
        # restore the old state, then kill a render of the new spec somewhere in its run
        assert render(old_spec, "old-password-1").wait() == 0
        assert snapshot(tmp_path / "out") == old
        proc = render(new_spec, "new-password-2")
        time.sleep(rng.uniform(0.4, 1.2) * duration)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = snapshot(tmp_path / "out")
        assert state in (old, new), f"attempt {attempt}: mixed output after SIGKILL"
        outcomes["old" if state == old else "new"] += 1
    print(f"after SIGKILL: {outcomes}")


def test_sigkill_in_a_git_checkout_is_rolled_back_by_the_next_run(tmp_path: Path) -> None:
    """With `.git` in the output root the files are renamed one by one; the journal makes that safe."""
    names = ", ".join(f"ns-{i:04d}" for i in range(400))
    old_spec = write_spec(tmp_path, SPEC.replace("NAMESPACES", names))
    out = tmp_path / "out"
    (out / ".git").mkdir(parents=True)
    (out / ".git/HEAD").write_text("ref: refs/heads/main\n")
    assert render(old_spec, "old-password-1").wait() == 0
    old = snapshot(out)
    new_spec = write_spec(tmp_path, SPEC.replace("NAMESPACES", ", ".join(f"ns-{i:04d}" for i in range(100, 500))),
                          name="new.yaml")
    timing = render(new_spec, "new-password-2")
    start = time.perf_counter()
    assert timing.wait() == 0
    duration = time.perf_counter() - start
    new = snapshot(out)
    assert new != old and not (out / ".genpolicy-staging").exists()
    rng = random.Random(11)
    outcomes = {"old": 0, "new": 0, "rolled back": 0}
    for attempt in range(10):
        assert render(old_spec, "old-password-1").wait() == 0
        assert snapshot(out) == old
        (out / ".ns-leftover.yaml.x.genpolicy-tmp").write_text("older version's temporary")
        (out / "c" / ".a.yaml.1234.genpolicy-tmp").write_text("older version's temporary")
        proc = render(new_spec, "new-password-2")
        time.sleep(rng.uniform(0.6, 1.1) * duration)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        interrupted = (out / ".genpolicy-staging").exists()
        writer.recover(out)  # what the next render does first
        state = snapshot(out)
        assert state in (old, new), f"attempt {attempt}: mixed output after SIGKILL and recovery"
        assert not list(out.rglob("*.genpolicy-tmp")) and not (out / ".genpolicy-staging").exists()
        outcomes["rolled back" if interrupted and state == old else "old" if state == old else "new"] += 1
    print(f"after SIGKILL (.git): {outcomes}")


_KILL_AT_STEP = """
import json, os, signal, sys
from pathlib import Path
from genpolicy import journal, writer
root, step = Path(sys.argv[1]), int(sys.argv[2])
wanted = {rel: writer.Planned(text.encode()) for rel, text in json.loads(Path(sys.argv[3]).read_text()).items()}
result = writer.plan(root, wanted)
assert not writer.swap_chosen(result), "a small change goes through the journal"
calls, counting = [0], [False]  # count the journal's own calls (the plan's checks before it are not steps)
def dying(real):
    def step_then_die(*args, **kwargs):
        calls[0] += counting[0]
        if counting[0] and calls[0] == step:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)
    return step_then_die
for name in ("replace", "unlink", "link", "open", "rmdir"):
    setattr(journal.os, name, dying(getattr(os, name)))
apply_in_place = journal.apply_in_place
def counted(*args, **kwargs):
    counting[0] = True
    return apply_in_place(*args, **kwargs)
journal.apply_in_place = counted
writer.apply(result)
print("finished")
"""


def test_sigkill_at_every_step_of_a_small_change_is_rolled_back(tmp_path: Path) -> None:
    """A one-namespace change is written through the journal; a SIGKILL at any of its system calls
    leaves a folder that the next run's recovery makes fully old (or that is already fully new)."""
    names = [f"ns-{i:04d}" for i in range(40)]
    out = tmp_path / "out"
    spec = write_spec(tmp_path, SPEC.replace("NAMESPACES", ", ".join([*names[1:], "ns-added"])))
    assert render(spec, "same-password").wait() == 0
    new = snapshot(out)
    wanted = tmp_path / "wanted.json"
    wanted.write_text(json.dumps({rel: data.decode() for rel, data in new.items() if rel != writer.OWNED_FILE}))
    outcomes = {"rolled back": 0, "new": 0}
    for step in range(1, 100):
        shutil.rmtree(out)
        write_spec(tmp_path, SPEC.replace("NAMESPACES", ", ".join(names)))  # same file name: same headers
        assert render(spec, "same-password").wait() == 0
        old = snapshot(out)
        proc = subprocess.run([sys.executable, "-c", _KILL_AT_STEP, str(out), str(step), str(wanted)],
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
        assert proc.returncode in (0, -signal.SIGKILL), proc.stderr
        writer.recover(out)
        state = snapshot(out)
        assert state in (old, new), f"step {step}: mixed output after SIGKILL and recovery"
        assert not (out / ".genpolicy-staging").exists()
        outcomes["new" if state == new else "rolled back"] += 1
        if proc.returncode == 0:
            break
    assert proc.returncode == 0 and outcomes["rolled back"] >= 5, outcomes
    print(f"SIGKILL at each of {step - 1} steps of a one-namespace change: {outcomes}")
