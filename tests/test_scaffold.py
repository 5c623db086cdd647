"""`genpolicy init` (the cookiecutter scaffold), `genpolicy templates`, and the published pre-commit hooks."""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner, Result

from conftest import CRDS, ROOT, Run
from conftest import run_cli as _run_cli
from genpolicy.cli import cli
from genpolicy.errors import ExitCode, SpecError
from genpolicy.scaffold import Answers, derive_registry_name, init_command, scaffold, template_dir
from genpolicy.templates_cmd import DESCRIPTIONS, describe, templates_group
from genpolicy.templating import builtin_template_dir

SCAFFOLD_FILES = {
    "genpolicy.yaml", ".gitignore", ".github/workflows/genpolicy.yml", ".gitlab-ci.yml", ".pre-commit-config.yaml",
    "README.md", ".yamllint",
}
GITHUB_CHECK = "genpolicy render genpolicy.yaml --check --format github"
GITLAB_CHECK = "genpolicy render genpolicy.yaml --check --format text"


def run_cli(*args: str | Path, cwd: Path | None = None) -> Run:
    """The real entry point, importable from any working directory (the package may not be installed)."""
    return _run_cli(*args, env={"PYTHONPATH": str(ROOT)}, cwd=cwd)


def init(*args: str | Path, input: str | None = None) -> Result:
    return CliRunner().invoke(init_command, [str(a) for a in args], input=input, catch_exceptions=False)


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture
def shim_path(tmp_path: Path) -> str:
    """A PATH whose `genpolicy` is this checkout's real entry point (as `pip install` would provide)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "genpolicy"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m genpolicy "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    return f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


def run_script(script: str, cwd: Path, path: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": path, "PYTHONPATH": str(ROOT)}
    return subprocess.run(["sh", "-ec", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
                          check=False)


def github_check_step(target: Path) -> str:
    workflow = load(target / ".github/workflows/genpolicy.yml")
    scripts = [step["run"] for step in workflow["jobs"]["check"]["steps"] if GITHUB_CHECK in step.get("run", "")]
    assert len(scripts) == 1, workflow
    return str(scripts[0])


# -- init ----------------------------------------------------------------------------------------------------------


def test_init_no_input_writes_the_scaffold_and_nothing_in_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    target = tmp_path / "gitops"
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(ROOT)}
    env.pop("COOKIECUTTER_CONFIG", None)
    proc = subprocess.run(  # a fresh process, so cookiecutter computes its default paths from this HOME
        [sys.executable, "-c", "from genpolicy.scaffold import init_command; init_command()", str(target),
         "--no-input"], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert files_under(target) == SCAFFOLD_FILES
    assert list(home.iterdir()) == [], "cookiecutter wrote config/replay files under $HOME"
    assert "genpolicy render" in proc.stderr and "cookiecutter" not in (proc.stdout + proc.stderr).lower()
    ignored = (target / ".gitignore").read_text().splitlines()
    assert {"*.agekey", "*.key", "*-key.pem", ".env"} <= set(ignored) and "*.pem" not in ignored
    spec = load(target / "genpolicy.yaml")
    assert spec["clusters"] == [{"name": "prod", "kubernetesVersion": "1.33", "gitops": "argocd"}]
    assert spec["registries"][0]["server"] == "ghcr.io"
    assert "externalSecret" in spec["registries"][0]["credentials"] and "allowPlaintext" not in spec
    for path in target.rglob("*"):
        assert path.stat().st_mode & 0o111 == 0 or path.is_dir(), path


@pytest.mark.parametrize("gitops", ["argocd", "flux"])
def test_scaffold_renders_and_check_passes_right_after(tmp_path: Path, gitops: str) -> None:
    target = tmp_path / "repo"
    result = init(target, "--no-input", "--gitops", gitops, "--cluster", "edge-1", "--kubernetes-version", "1.35",
                  "--registry-server", "https://harbor.example.com:8443/team-a", "--namespace", "shop")
    assert result.exit_code == 0, result.output
    crds = ["--crds", str(CRDS)] if CRDS.is_dir() else []
    first = run_cli("render", "genpolicy.yaml", *crds, cwd=target)
    assert first.code == 0, first.output
    assert "not validated" not in first.stderr  # shipped CRD schemas: validated with or without --crds
    check = run_cli("render", "genpolicy.yaml", "--check", *crds, cwd=target)
    assert check.code == 0 and "up to date" in check.stderr, check.output
    manifest = (target / "out/edge-1/namespaces/shop.yaml").read_text()
    assert "kind: ExternalSecret" in manifest and "harbor-pull" in manifest
    assert ("kustomize.toolkit.fluxcd.io/prune" in manifest) == (gitops == "flux")
    assert ("argocd.argoproj.io/sync-options" in manifest) == (gitops == "argocd")


def test_ci_scripts_pass_after_render_and_fail_readably_when_stale(tmp_path: Path, shim_path: str) -> None:
    target = tmp_path / "repo"
    assert init(target, "--no-input").exit_code == 0
    assert run_cli("render", "genpolicy.yaml", cwd=target).code == 0
    github = github_check_step(target)
    gitlab = "\n".join(load(target / ".gitlab-ci.yml")["genpolicy-check"]["script"][1:])
    assert GITLAB_CHECK in gitlab
    for script in (github, gitlab):
        passed = run_script(script, target, shim_path)
        assert passed.returncode == 0, passed.stdout + passed.stderr
    spec = target / "genpolicy.yaml"
    spec.write_text(spec.read_text().replace('namespaces: ["default"]', 'namespaces: ["default", "team-b"]'))
    stale = run_script(github, target, shim_path)
    assert stale.returncode == 1, stale.stdout + stale.stderr
    assert "::error title=genpolicy::out/ does not match genpolicy.yaml" in stale.stdout
    assert "would create" in stale.stdout and "team-b.yaml" in stale.stdout
    stale = run_script(gitlab, target, shim_path)
    assert stale.returncode == 1 and "run 'genpolicy render genpolicy.yaml'" in stale.stdout


def test_refuses_a_non_empty_target_and_force_replaces_only_scaffold_files(tmp_path: Path) -> None:
    target = tmp_path / "repo"
    target.mkdir()
    (target / "notes.txt").write_text("mine\n")
    (target / "README.md").write_text("old readme\n")
    refused = init(target, "--no-input")
    assert refused.exit_code == 6
    assert "is not empty (README.md, notes.txt)" in refused.output and "--force" in refused.output
    assert files_under(target) == {"notes.txt", "README.md"} and (target / "README.md").read_text() == "old readme\n"
    forced = init(target, "--no-input", "--force")
    assert forced.exit_code == 0, forced.output
    assert files_under(target) == SCAFFOLD_FILES | {"notes.txt"}
    assert (target / "notes.txt").read_text() == "mine\n"
    assert "Image pull credentials" in (target / "README.md").read_text()
    assert "replaced 1 existing file(s)" in forced.output


def test_refuses_a_file_target_and_accepts_a_fresh_git_clone(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    assert init(tmp_path / "afile", "--no-input", "--force").exit_code == 2  # click: not a folder
    clone = tmp_path / "clone"
    (clone / ".git").mkdir(parents=True)
    assert init(clone, "--no-input").exit_code == 0
    assert files_under(clone) >= SCAFFOLD_FILES


def test_a_symlink_in_the_way_is_replaced_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("untouched\n")
    target = tmp_path / "repo"
    target.mkdir()
    (target / "README.md").symlink_to(outside)
    assert init(target, "--no-input", "--force").exit_code == 0
    assert outside.read_text() == "untouched\n"
    assert not (target / "README.md").is_symlink()


def test_interactive_prompts_with_defaults_and_re_asking(tmp_path: Path) -> None:
    target = tmp_path / "repo"
    answers = ["Not_A_Label", "staging", "1.99", "1.35", "flux", "quay.io", "", "my-store", "team-a"]
    result = init(target, input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    assert "Cluster name [prod]:" in result.output and "Short name for the registry [quay]:" in result.output
    assert "'Not_A_Label' is not a DNS label" in result.output and "is not supported" in result.output
    spec = load(target / "genpolicy.yaml")
    assert spec["clusters"] == [{"name": "staging", "kubernetesVersion": "1.35", "gitops": "flux"}]
    registry = spec["registries"][0]
    assert (registry["name"], registry["server"]) == ("quay", "quay.io")
    assert registry["credentials"]["externalSecret"]["store"] == {"kind": "ClusterSecretStore", "name": "my-store"}
    assert spec["namespaceGroups"][0]["namespaces"] == ["team-a"]


def test_options_are_not_asked_again(tmp_path: Path) -> None:
    result = init(tmp_path / "repo", "--cluster", "east", "--gitops", "flux", "--registry-server", "gcr.io",
                  input="\n" * 4)
    assert result.exit_code == 0, result.output
    assert "Cluster name" not in result.output and "GitOps engine" not in result.output
    assert "Kubernetes version of the cluster [1.33]:" in result.output
    assert load(tmp_path / "repo/genpolicy.yaml")["clusters"][0]["name"] == "east"


def test_closed_stdin_without_no_input_is_a_usage_error(tmp_path: Path) -> None:
    result = init(tmp_path / "repo", input="")
    assert result.exit_code == 2
    assert "pass --no-input" in result.output
    assert not (tmp_path / "repo").exists()


@pytest.mark.parametrize("option", [["--cluster", "Prod"], ["--kubernetes-version", "2.0"],
                                    ["--registry-server", 'ghcr.io"\nallowPlaintext: true'], ["--gitops", "jenkins"]])
def test_bad_option_values_are_usage_errors(tmp_path: Path, option: list[str]) -> None:
    result = CliRunner().invoke(init_command, [str(tmp_path / "repo"), "--no-input", *option])
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "repo").exists()


def test_the_starter_spec_is_validated_before_anything_is_written(tmp_path: Path) -> None:
    target = tmp_path / "repo"
    for answers, path in [(Answers(cluster="Not_Valid"), "clusters[0].name"),
                          (Answers(kubernetes_version="1.99"), "clusters[0].kubernetesVersion")]:
        with pytest.raises(SpecError) as caught:  # bypasses the option checks: genpolicy's own loader still refuses
            scaffold(target, answers)
        assert caught.value.exit_code == ExitCode.SPEC
        assert [(p.file, p.path) for p in caught.value.problems] == [(str(target / "genpolicy.yaml"), path)]
        assert not target.exists()


def test_ci_paths_point_back_to_a_folder_inside_a_git_repository(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    target = tmp_path / "platform" / "pull-secrets"
    assert init(target, "--no-input").exit_code == 0
    workflow = load(target / ".github/workflows/genpolicy.yml")
    assert workflow["jobs"]["check"]["defaults"]["run"]["working-directory"] == "platform/pull-secrets"
    assert load(target / ".gitlab-ci.yml")["genpolicy-check"]["variables"]["GENPOLICY_DIR"] == "platform/pull-secrets"
    hook = load(target / ".pre-commit-config.yaml")["repos"][0]["hooks"][0]
    assert hook["args"] == ["platform/pull-secrets/genpolicy.yaml"]
    assert run_cli("render", target / "genpolicy.yaml").code == 0
    # pre-commit runs hooks from the repository root: entry + args must pass there
    hook_run = run_cli(*shlex.split(hook["entry"])[1:], *hook["args"], cwd=tmp_path)
    assert hook_run.code == 0, hook_run.output


def test_github_workflow_parses_and_runs_the_check(tmp_path: Path) -> None:
    target = tmp_path / "repo"
    assert init(target, "--no-input").exit_code == 0
    workflow = load(target / ".github/workflows/genpolicy.yml")
    assert set(workflow[True]) == {"pull_request", "push"}  # PyYAML reads the `on` key as a boolean
    steps = workflow["jobs"]["check"]["steps"]
    assert any(step.get("uses", "").startswith("actions/checkout@") for step in steps)
    assert any("pip install" in step.get("run", "") and "genpolicy" in step["run"] for step in steps)
    assert "::error" in github_check_step(target)
    gitlab = load(target / ".gitlab-ci.yml")["genpolicy-check"]
    assert any("pip install" in line for line in gitlab["before_script"])


@pytest.mark.parametrize(("server", "name"), [
    ("ghcr.io", "ghcr"), ("https://harbor.example.com:8443/team-a", "harbor"), ("docker.io", "dockerhub"),
    ("https://index.docker.io/v1/", "dockerhub"), ("registry.gitlab.com", "gitlab"),
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "ecr"), ("*.azurecr.io", "azurecr"),
    ("localhost:5000", "localhost"), ("my_reg.example", "my-reg"),
])
def test_derive_registry_name(server: str, name: str) -> None:
    assert derive_registry_name(server) == name


def test_template_dir_is_the_checkouts_scaffold() -> None:
    found = template_dir()
    assert found == ROOT / "scaffold"
    assert (found / "{{cookiecutter.repo_dir}}" / "genpolicy.yaml").is_file()


# -- pre-commit hooks ----------------------------------------------------------------------------------------------


def _assert_real_command(entry: str) -> None:
    argv = shlex.split(entry)
    assert argv[0] == "genpolicy"
    command = cli.commands.get(argv[1])
    assert command is not None, f"{argv[1]} is not a genpolicy command"
    known = {opt for param in command.params if isinstance(param, click.Option) for opt in param.opts}
    assert set(argv[2:]) <= known, argv


def test_published_pre_commit_hooks_name_real_commands() -> None:
    hooks = {hook["id"]: hook for hook in load(ROOT / ".pre-commit-hooks.yaml")}
    assert set(hooks) == {"genpolicy-check", "genpolicy-validate"}
    check, validate = hooks["genpolicy-check"], hooks["genpolicy-validate"]
    assert check["entry"] == "genpolicy render --check" and check["pass_filenames"] is False
    assert validate["entry"] == "genpolicy validate" and validate.get("pass_filenames", True) is True
    for hook in hooks.values():
        assert hook["language"] == "python" and hook["name"] and hook["description"]
        _assert_real_command(hook["entry"])
        pattern = re.compile(hook["files"])
        assert pattern.search("genpolicy.yaml") and pattern.search("ci/x.yml") and not pattern.search("x.json")
    assert check["args"] == ["genpolicy.yaml"]


def test_scaffold_pre_commit_config_uses_the_genpolicy_hooks(tmp_path: Path) -> None:
    target = tmp_path / "repo"
    assert init(target, "--no-input").exit_code == 0
    (repo,) = [r for r in load(target / ".pre-commit-config.yaml")["repos"] if r["repo"] == "local"]
    published = {hook["id"]: hook for hook in load(ROOT / ".pre-commit-hooks.yaml")}
    assert repo["repo"] == "local"
    for hook in repo["hooks"]:
        assert hook["entry"] == published[hook["id"]]["entry"]
        _assert_real_command(hook["entry"])
    assert run_cli("render", "genpolicy.yaml", cwd=target).code == 0
    hook = repo["hooks"][0]
    assert run_cli(*shlex.split(hook["entry"])[1:], *hook["args"], cwd=target).code == 0


# -- templates -----------------------------------------------------------------------------------------------------


def test_templates_list_describes_every_builtin() -> None:
    result = CliRunner().invoke(templates_group, ["list"])
    assert result.exit_code == 0, result.output
    root = builtin_template_dir()
    builtins = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.j2"))
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines] == builtins
    for line in lines:
        name = line.split()[0]
        assert line.split(None, 1)[1] == DESCRIPTIONS.get(name, line.split(None, 1)[1])
    assert "secret.yaml.j2" in builtins and "(no description)" not in result.output


def test_describe_falls_back_to_a_leading_jinja_comment(tmp_path: Path) -> None:
    (tmp_path / "a.yaml.j2").write_text("{# the a template #}\nkind: A\n")
    (tmp_path / "b.yaml.j2").write_text("kind: B\n")
    assert describe("a.yaml.j2", tmp_path / "a.yaml.j2") == "the a template"
    assert describe("b.yaml.j2", tmp_path / "b.yaml.j2") == "(no description)"


def test_templates_export_copies_and_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "my-templates"
    runner = CliRunner()
    first = runner.invoke(templates_group, ["export", str(target)])
    assert first.exit_code == 0, first.output
    root = builtin_template_dir()
    builtins = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*.j2")}
    assert {p.relative_to(target).as_posix(): p.read_bytes() for p in target.rglob("*") if p.is_file()} == builtins
    (target / "secret.yaml.j2").write_text("# customised\n")
    again = runner.invoke(templates_group, ["export", str(target)])
    assert again.exit_code == 6 and "--force" in again.output and "secret.yaml.j2" in again.output
    assert (target / "secret.yaml.j2").read_text() == "# customised\n"
    forced = runner.invoke(templates_group, ["export", str(target), "--force"])
    assert forced.exit_code == 0 and (target / "secret.yaml.j2").read_bytes() == builtins["secret.yaml.j2"]


def test_exported_templates_render_the_same_output(tmp_path: Path) -> None:
    target = tmp_path / "repo"
    assert init(target, "--no-input").exit_code == 0
    assert CliRunner().invoke(templates_group, ["export", str(tmp_path / "tpl")]).exit_code == 0
    assert run_cli("render", "genpolicy.yaml", cwd=target).code == 0
    check = run_cli("render", "genpolicy.yaml", "--check", "--templates", tmp_path / "tpl", cwd=target)
    assert check.code == 0, check.output


def test_templates_export_onto_a_file_is_a_write_error(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    result = CliRunner().invoke(templates_group, ["export", str(tmp_path / "afile")])
    assert result.exit_code == 2 and "is a file" in result.output


# -- how CI installs genpolicy (issue 13: the package is on no index) ----------------------------------------------

@pytest.mark.parametrize(("direct", "requirement", "local"), [
    ({"url": "https://github.com/acme/genpolicy.git",
      "vcs_info": {"vcs": "git", "commit_id": "0123abc", "requested_revision": "v0.1.0"}},
     "genpolicy @ git+https://github.com/acme/genpolicy.git@0123abc", False),
    ({"url": "https://git.example/genpolicy.git", "vcs_info": {"vcs": "git", "commit_id": "9f"},
      "subdirectory": "tools/genpolicy"},
     "genpolicy @ git+https://git.example/genpolicy.git@9f#subdirectory=tools/genpolicy", False),
    ({"url": "https://files.example/genpolicy-0.1.0-py3-none-any.whl", "archive_info": {"hashes": {}}},
     "genpolicy @ https://files.example/genpolicy-0.1.0-py3-none-any.whl", False),
    ({"url": "file:///home/me/src/genpolicy", "dir_info": {"editable": True}},
     "genpolicy @ file:///home/me/src/genpolicy", True),
    ({}, "genpolicy==0.1.0", False),
])
def test_install_source_from_direct_url(direct: dict[str, Any], requirement: str, local: bool) -> None:
    from genpolicy.install_source import from_direct_url

    source = from_direct_url(direct, "0.1.0")
    assert (source.requirement, source.local) == (requirement, local)


def test_ci_installs_genpolicy_the_way_it_was_installed_here(tmp_path: Path) -> None:
    from genpolicy.install_source import installed_source

    target = tmp_path / "repo"
    assert init(target, "--no-input").exit_code == 0
    workflow = (target / ".github/workflows/genpolicy.yml").read_text()
    assert "genpolicy==" not in workflow or installed_source().requirement.startswith("genpolicy==")
    assert installed_source().requirement in workflow.replace('\\"', '"')
    assert installed_source().requirement in (target / ".gitlab-ci.yml").read_text()
    chosen = "genpolicy @ git+https://git.example.com/tools/genpolicy.git@v0.1.0"
    other = tmp_path / "other"
    assert init(other, "--no-input", "--genpolicy-package", chosen).exit_code == 0
    assert json_install_step(other) == f"python -m pip install --disable-pip-version-check {json.dumps(chosen)}"


def json_install_step(target: Path) -> str:
    workflow = load(target / ".github/workflows/genpolicy.yml")
    return next(step["run"] for step in workflow["jobs"]["check"]["steps"] if step.get("name") == "Install genpolicy")


def test_scaffolded_ci_installs_and_passes_with_only_the_local_source(tmp_path: Path) -> None:
    """No index, no PYTHONPATH: a fresh virtualenv installs genpolicy from the scaffold's own install
    step (here: this checkout, as `pip install -e .` recorded it) and the check step passes."""
    pytest.importorskip("hatchling", reason="hatchling (the build backend, in the test extras) is needed to build "
                                            "genpolicy offline")
    from genpolicy.install_source import installed_source

    if not installed_source().local:
        pytest.skip(f"genpolicy is installed as {installed_source().requirement!r}, not from a local path")
    target = tmp_path / "repo"
    result = init(target, "--no-input")
    assert result.exit_code == 0 and "a path on this machine" in result.output
    assert run_cli("render", "genpolicy.yaml", cwd=target).code == 0
    venv = tmp_path / "ci-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    site = subprocess.run([str(venv / "bin/python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          check=True, capture_output=True, text=True).stdout.strip()
    deps = subprocess.run([sys.executable, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "deps.pth").write_text(deps + "\n")  # the dependencies a CI image would get from its index
    env = {"PATH": f"{venv / 'bin'}{os.pathsep}/usr/bin:/bin", "HOME": str(tmp_path), "PIP_NO_INDEX": "1",
           "PIP_NO_BUILD_ISOLATION": "0"}
    script = json_install_step(target) + "\n" + github_check_step(target)
    ran = subprocess.run(["sh", "-ec", script], cwd=target, env=env, capture_output=True, text=True, timeout=300,
                         check=False)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert Path(venv / "bin/genpolicy").exists(), "the install step installed genpolicy into the CI environment"
    old = "python -m pip install --disable-pip-version-check --no-deps --force-reinstall 'genpolicy==0.1.0'"
    ran = subprocess.run(["sh", "-ec", old], cwd=target, env=env, capture_output=True, text=True, timeout=300,
                         check=False)
    assert ran.returncode != 0 and "genpolicy==0.1.0" in ran.stderr, "no index serves genpolicy==<version>"


def test_gitignore_keeps_certificates_and_hides_private_keys(tmp_path: Path) -> None:
    target = tmp_path / "repo"
    assert init(target, "--no-input").exit_code == 0
    subprocess.run(["git", "init", "-q", str(target)], check=True)
    names = ["certs/prod-sealed-secrets.pem", "sealed-secrets.pem", "ca.crt", "tls.key", "age.agekey",
             "tls-key.pem", "credentials/token.txt", ".env"]
    ran = subprocess.run(["git", "check-ignore", "--no-index", *names], cwd=target, capture_output=True, text=True,
                         check=False)
    assert set(ran.stdout.split()) == {"tls.key", "age.agekey", "tls-key.pem", "credentials/token.txt", ".env"}


@pytest.mark.parametrize("workdir", [".", "infra/pull-secrets"])
def test_scaffold_lints_out_with_the_repositorys_yamllint_rules(tmp_path: Path, workdir: str) -> None:
    """The scaffold ships genpolicy's .yamllint; its CI and pre-commit run it on out/, which passes right after
    `render` and fails once a file in out/ takes another style."""
    from yamllint import linter
    from yamllint.config import YamlLintConfig

    (tmp_path / ".git").mkdir()  # the CI and hook paths are relative to the git root
    target = tmp_path / workdir
    assert init(target, "--no-input").exit_code == 0
    scaffold_rules = load(target / ".yamllint")["rules"]
    assert scaffold_rules == load(ROOT / ".yamllint")["rules"]
    assert run_cli("render", "genpolicy.yaml", cwd=target).code == 0
    config = YamlLintConfig(file=str(target / ".yamllint"))
    files = sorted((target / "out").rglob("*.yaml"))
    assert files and all(list(linter.run(f.read_text(), config, str(f.relative_to(target)))) == [] for f in files)
    broken = files[0].read_text().replace("\n- ", "\n  - ")
    assert broken != files[0].read_text()
    assert any(p.rule == "indentation" for p in linter.run(broken, config, str(files[0].relative_to(target))))
    workflow = load(target / ".github/workflows/genpolicy.yml")
    assert "yamllint --strict -c .yamllint out" in "".join(s.get("run", "") for s in workflow["jobs"]["check"]["steps"])
    assert load(target / ".gitlab-ci.yml")["genpolicy-yamllint"]["script"][-1] == "yamllint --strict -c .yamllint out"
    (hook,) = next(r for r in load(target / ".pre-commit-config.yaml")["repos"] if "yamllint" in r["repo"])["hooks"]
    prefix = "" if workdir == "." else workdir + "/"
    assert hook["args"] == ["--strict", "-c", prefix + ".yamllint"] and hook["files"] == f"^{prefix}out/"
