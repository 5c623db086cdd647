"""genpolicy.forked: a function run in a forked child, its value piped back; a child that dies is an error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from test_shapes import ENV, SPEC

from conftest import write_spec
from genpolicy import forked
from genpolicy.errors import ExitCode

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is not available on this platform")


def _two_clusters(namespaces: str) -> str:
    return SPEC.replace("NAMESPACES", namespaces).replace("CLUSTER_EXTRA", "").replace(
        "clusters:\n", 'clusters:\n  - {name: dev, kubernetesVersion: "1.33", gitops: argocd}\n')


def _children() -> set[int]:
    """This process's live children (Linux /proc); zombies are reaped by the time a test looks."""
    path = Path(f"/proc/self/task/{os.getpid()}/children")
    if not path.exists():
        pytest.skip("/proc/<pid>/task/<pid>/children is not available here")
    return {int(pid) for pid in path.read_text().split()}


def _reaped(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_a_large_value_comes_back_whole() -> None:
    """More than a pipe's buffer (64 KiB): the parent reads while the child writes, neither blocks."""
    big = [os.urandom(1 << 20) for _ in range(5)]
    child = forked.start(lambda: (os.getpid(), big), [])
    pid, value = child.result()
    assert value == big and pid != os.getpid(), "the work ran in another process"
    assert child.pid == 0 and _reaped(pid)


def test_an_exception_in_the_child_names_its_type_and_line_never_its_message() -> None:
    def work() -> None:
        raise ValueError("secret-xyz-value")

    line = work.__code__.co_firstlineno + 1
    with pytest.raises(forked.WorkerFailed) as caught:
        forked.start(work, []).result()
    message = str(caught.value)
    assert f"ValueError at test_forked.py:{line}" in message
    assert "secret-xyz" not in message and "GENPOLICY_WORKERS=1" in message
    assert caught.value.exit_code == ExitCode.INTERNAL == 70


def test_a_child_killed_by_sigkill_is_an_error_not_a_hang() -> None:
    """multiprocessing.Pool waited forever for the task of a worker the out-of-memory killer took."""
    start = time.monotonic()
    with pytest.raises(forked.WorkerFailed, match=r"was killed by SIGKILL \(the out-of-memory killer\?\)"):
        forked.start(lambda: os.kill(os.getpid(), signal.SIGKILL), []).result()
    assert time.monotonic() - start < 10


@pytest.mark.parametrize(("code", "expected"), [(3, "exited with status 3"), (0, "exited with status 0")])
def test_a_child_that_exits_without_a_value_is_an_error(code: int, expected: str) -> None:
    with pytest.raises(forked.WorkerFailed, match=expected):
        forked.start(lambda: os._exit(code), []).result()


def test_an_unpicklable_value_is_an_error_naming_the_exit() -> None:
    with pytest.raises(forked.WorkerFailed, match="exited with status 1"):
        forked.start(lambda: (lambda: None), []).result()


def test_stop_kills_and_reaps_a_running_child_and_is_idempotent() -> None:
    child = forked.start(lambda: time.sleep(60), [])
    pid = child.pid
    assert pid in _children()
    start = time.monotonic()
    child.stop()
    child.stop()
    assert time.monotonic() - start < 10
    assert _reaped(pid) and pid not in _children()


def test_stop_after_result_does_nothing() -> None:
    child = forked.start(lambda: 42, [])
    assert child.result() == 42
    child.stop()
    assert repr(child) == "Child(pid=0)"


def test_an_exception_in_the_parent_leaves_no_child_behind(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while the parent renders its own share: the workers are killed and reaped, not orphaned."""
    from genpolicy import parallel
    from genpolicy.pipeline import RenderOptions, render

    spec = write_spec(tmp_path, _two_clusters("team-a"))
    started: list[int] = []
    real_start = forked.start

    def spying_start(work, into):  # type: ignore[no-untyped-def]
        child = real_start(work, into)
        started.append(child.pid)
        return child

    parent = os.getpid()

    def interrupted(*args, **kwargs):  # type: ignore[no-untyped-def]
        if os.getpid() == parent:
            raise KeyboardInterrupt
        return real_render(*args, **kwargs)

    real_render = parallel._render_share
    monkeypatch.setattr(forked, "start", spying_start)
    monkeypatch.setattr(parallel, "_render_share", interrupted)
    monkeypatch.setenv("GENPOLICY_WORKERS", "2")
    with pytest.raises(KeyboardInterrupt):
        render(RenderOptions(spec, output=tmp_path / "out", environ=ENV))
    assert started, "a worker was started"
    assert all(_reaped(pid) for pid in started) and not set(started) & _children()


def test_the_child_does_not_flush_the_parents_buffered_output(tmp_path: Path) -> None:
    """`os._exit` in the child: text the parent buffered before the fork is written once, by the parent."""
    script = tmp_path / "buffered.py"
    script.write_text(textwrap.dedent("""
        import sys
        from genpolicy import forked
        sys.stdout.write("before the fork\\n")  # buffered: stdout is a pipe
        print(forked.start(lambda: "from the child", []).result())
    """))
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                          cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, check=True)
    assert done.stdout == "before the fork\nfrom the child\n"



def test_a_child_is_ended_by_ctrl_c_unless_the_render_ignores_it() -> None:
    """`genpolicy render ... &` in a non-interactive shell runs with SIGINT ignored: a Ctrl-C meant for the
    shell's foreground job must not kill its workers (and fail a render that goes on)."""
    def interrupted() -> str:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)
        return "went on"

    with pytest.raises(forked.WorkerFailed, match="was killed by SIGINT"):
        forked.start(interrupted, []).result()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        assert forked.start(interrupted, []).result() == "went on"
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_ctrl_c_right_after_the_fork_runs_none_of_the_parents_code_in_the_child(tmp_path: Path) -> None:
    """SIGINT is blocked around the fork: the child dies of it before running anything of the parent's (its
    `finally` blocks, its interrupted message), and the parent has the child to stop before it is raised."""
    script = tmp_path / "ctrl_c.py"
    script.write_text(textwrap.dedent("""
        import os, signal, sys
        from genpolicy import forked
        real_fork = os.fork
        def fork():
            pid = real_fork()
            os.kill(os.getpid(), signal.SIGINT)  # in both: the parent and the child are interrupted at once
            return pid
        os.fork = fork
        children = []
        try:
            try:
                forked.start(lambda: "value", children)
            finally:
                sys.stdout.write(f"finally ran in {os.getpid()}\\n")
                sys.stdout.flush()
        except KeyboardInterrupt:
            try:
                children[0].result()
            except forked.WorkerFailed as exc:
                print(len(children), exc)
    """))
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                          cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, check=False)
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("finally ran in "), done.stdout + done.stderr
    assert lines[1].startswith("1 a worker process was killed by SIGINT"), done.stdout + done.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_child_dies_with_its_parent(tmp_path: Path) -> None:
    """`timeout` sends the render SIGTERM (or the OOM killer takes the parent): its workers go with it instead
    of rendering on, holding the job's stdout open."""
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent("""
        import sys, time
        from genpolicy import forked
        child = forked.start(lambda: time.sleep(120), [])
        print(child.pid, flush=True)
        time.sleep(120)
    """))
    root = Path(__file__).resolve().parents[1]
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=root,
                              env={**os.environ, "PYTHONPATH": str(root)})
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait(timeout=30)
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(child), "the worker outlived its parent"


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its new parent to reap it is dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in {"Z", "X"}


@pytest.mark.parametrize(("clusters", "template_error", "bug"), [
    (2, "c0", "c1"),  # the parent's cluster has the template error, the worker's (after it) a bug
    (3, "c1", "c2"),  # the worker's cluster first, a bug in the parent's own later cluster
    (4, "c2", "c3"),  # the parent's second cluster first, a bug in the worker's second cluster
])
def test_the_first_failure_in_spec_order_is_reported_as_a_serial_render_does(
        tmp_path: Path, clusters: int, template_error: str, bug: str) -> None:
    """One cluster has a template error (exit 5), a later one a bug (`1 // 0`, exit 70): a serial render stops at
    the first, and so must a parallel one (two workers: clusters c0, c2 in the parent, c1, c3 in a worker),
    whichever process failed first."""
    extra = "".join(f'  - {{name: c{i}, kubernetesVersion: "1.33", gitops: argocd}}\n' for i in range(clusters))
    body = SPEC.replace("NAMESPACES", "team-a").replace("CLUSTER_EXTRA", "").replace(
        '  - name: prod\n    kubernetesVersion: "1.33"\n    gitops: argocd\n    \n', "")
    spec = write_spec(tmp_path, body.replace("clusters:\n", "clusters:\n" + extra))
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "helm-values.yaml.j2").write_text(
        f'{{% if cluster == "{template_error}" %}}{{{{ nothing.here }}}}'
        f'{{% elif cluster == "{bug}" %}}{{{{ 1 // 0 }}}}{{% endif %}}\n')
    root = Path(__file__).resolve().parents[1]
    runs = {}
    for workers in ("1", "2"):
        runs[workers] = subprocess.run(
            [sys.executable, "-m", "genpolicy", "render", str(spec), "--templates", str(tmp_path / "tpl")],
            env={**os.environ, **ENV, "GENPOLICY_WORKERS": workers}, cwd=root, capture_output=True, text=True,
            timeout=120, check=False)
    assert runs["1"].returncode == runs["2"].returncode == 5, runs["2"].stderr
    assert runs["1"].stderr == runs["2"].stderr
    assert f"clusters[{int(template_error[1:])}]" in runs["2"].stderr or template_error in runs["2"].stderr
    assert "ZeroDivisionError" not in runs["2"].stderr


def test_a_bug_in_a_worker_is_exit_70_naming_where_never_what(tmp_path: Path) -> None:
    """The worker's exception reaches the parent as its type and line (its message may hold a value)."""
    spec = write_spec(tmp_path, _two_clusters("team-a"))
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "helm-values.yaml.j2").write_text('{% if cluster == "prod" %}{{ 1 // 0 }}{% endif %}\n')
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run(
        [sys.executable, "-m", "genpolicy", "render", str(spec), "--templates", str(tmp_path / "tpl")],
        env={**os.environ, **ENV, "GENPOLICY_WORKERS": "2"}, cwd=root, capture_output=True, text=True,
        timeout=120, check=False)
    assert run.returncode == 70, run.stderr
    assert "internal error in a worker process (ZeroDivisionError at helm-values.yaml.j2:1)" in run.stderr
    assert "division" not in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.splitlines()) == 1, "one line: not the message and the message again as a summary"
    assert not (tmp_path / "out").exists()


SLOW_HEADER = ("{% set x = namespace(n=0) %}{% for i in range(3000000) %}{% set x.n = x.n + i %}{% endfor %}"
               + (Path(__file__).resolve().parents[1] / "templates" / "header.yaml.j2").read_text())


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_worker_killed_mid_render_fails_the_render_and_writes_nothing(tmp_path: Path) -> None:
    """The out-of-memory killer takes a worker of `genpolicy render`: exit 70 within seconds naming the
    signal, the output as it was. (With multiprocessing.Pool the render waited for the lost task forever:
    the timeout below is how that fails.)"""
    path = write_spec(tmp_path, _two_clusters("team-a"))
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, **ENV, "GENPOLICY_WORKERS": "2"}
    command = [sys.executable, "-m", "genpolicy", "render", str(path)]
    subprocess.run(command, env=env, cwd=root, capture_output=True, timeout=120, check=True)
    before = _tree(tmp_path / "out")
    write_spec(tmp_path, _two_clusters("team-a, team-b"))  # a render that got through would change out/
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "header.yaml.j2").write_text(SLOW_HEADER)  # each worker renders for a second or more
    proc = subprocess.Popen([*command, "--templates", str(tmp_path / "tpl")], env=env, cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    if not children.exists():
        proc.kill()
        pytest.skip("/proc/<pid>/task/<pid>/children is not available here")
    killed, deadline = 0, time.monotonic() + 60
    while not killed and proc.poll() is None and time.monotonic() < deadline:
        pids = children.read_text().split()
        if pids:
            killed = int(pids[0])
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.005)
    try:
        _, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("the render hung after its worker was killed")
    assert killed, "the render forked a worker"
    assert proc.returncode == ExitCode.INTERNAL == 70, stderr
    assert "a worker process was killed by SIGKILL (the out-of-memory killer?)" in stderr
    assert "Traceback" not in stderr and ENV["REG_PASS"] not in stderr
    assert _tree(tmp_path / "out") == before, "a failed render changes nothing"
    assert not [p for p in tmp_path.iterdir() if p.name not in {"spec.yaml", "out", "tpl"}], "no staging left"
