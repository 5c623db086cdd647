"""Property tests: hostile spec values round-trip or are rejected; renders are deterministic; bad YAML never crashes."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from test_yamllint import lint_bundle

from genpolicy.errors import GenpolicyError
from genpolicy.pipeline import RenderOptions, render
from genpolicy.specfile import parse_spec

SAFE_NAME = st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True)
FREE_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
LONG_TEXT = st.lists(st.sampled_from(["word", " ", "  ", "é", "{{ .x }}", ": ", " #", "'", '"', "\n", "\u2028"]),
                     max_size=40).map("".join)
YAML12 = YAML(typ="safe", pure=True)


def spec_text(namespaces: list[str], annotation: str, username: str) -> str:
    doc = {
        "apiVersion": "genpolicy/v1alpha1", "kind": "PullSecretSpec", "allowPlaintext": True,
        "commonAnnotations": {"example.com/note": annotation},
        "registries": [{"name": "r", "server": "reg.example.com", "credentials": {
            "inline": {"username": username, "password": "pw-" + username}}}],
        "clusters": [{"name": "c", "kubernetesVersion": "1.33"}],
        "namespaceGroups": [{"name": "g", "namespaces": namespaces, "registries": ["r"]}],
    }
    return yaml.safe_dump(doc, allow_unicode=False)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(SAFE_NAME, min_size=1, max_size=4, unique=True), st.one_of(FREE_TEXT, LONG_TEXT),
       FREE_TEXT.filter(lambda s: s != "" and ":" not in s and all(ord(c) >= 0x20 and ord(c) != 0x7F for c in s)))
def test_values_round_trip_and_render_is_deterministic(
    tmp_path: Path, namespaces: list[str], annotation: str, username: str
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text(namespaces, annotation, username))
    first = render(RenderOptions(spec, output=tmp_path / "out", environ={}))
    second = render(RenderOptions(spec, output=tmp_path / "out", environ={}))
    assert {p: f.content() for p, f in first.bundle.files.items()} == {
        p: f.content() for p, f in second.bundle.files.items()}
    files = {p: f.content() for p, f in first.bundle.files.items()}
    assert lint_bundle(files) == []  # the repository's yamllint config: one style, whatever the values
    for content in files.values():
        # YAML 1.1 (PyYAML) and YAML 1.2 (ruamel.yaml) read the same documents back
        docs = list(yaml.safe_load_all(content))
        assert docs == list(YAML12.load_all(content))
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") in ("Secret", "ServiceAccount"):
                assert doc["metadata"]["annotations"]["example.com/note"] == annotation
                assert set(doc) <= {"apiVersion", "kind", "metadata", "type", "data", "imagePullSecrets"}


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes_the_loader(text: str) -> None:
    try:
        parse_spec(text, "spec.yaml")
    except GenpolicyError as exc:
        assert exc.problems and all(p.file == "spec.yaml" for p in exc.problems)


VALID = spec_text(["a"], "note", "user")


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(VALID) - 1), st.integers(0, 20), st.text(max_size=8))
def test_mutated_specs_fail_cleanly(pos: int, cut: int, insert: str) -> None:
    text = VALID[:pos] + insert + VALID[pos + cut:]
    try:
        parse_spec(text, "spec.yaml")
    except GenpolicyError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.file == "spec.yaml" and problem.message
            assert "pw-user" not in str(problem)
