"""SOPS (age, YAML): upstream fixtures, round trips, tamper detection, format, and interop with the
`age` CLI and the npm `sops-age` package.

Age identities are generated at run time; the fixtures' public test keys are read in place from
shared/fixtures/sops (never copied into the repository).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pyrage
import pytest
import yaml
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SHARED
from genpolicy.crypto.sops import (
    SopsError,
    decrypt_document,
    encrypt_secret_manifest,
    render_sops_config,
)

HERE = Path(__file__).resolve().parent
FIXTURES = SHARED / "fixtures" / "sops"
FLUX = FIXTURES / "fluxcd-kustomize-controller"
HUMPHD = FIXTURES / "humphd-sops-age"
STAMP = "2026-07-01T12:00:00Z"
PASSWORD = "s3cr3t-Pa55word"
ENC = re.compile(r"ENC\[AES256_GCM,data:([^,]*),iv:([^,]+),tag:([^,]+),type:(\w+)\]")


def _identity() -> tuple[str, str]:
    ident = pyrage.x25519.Identity.generate()
    return str(ident), str(ident.to_public())


def _secret() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "regcred", "namespace": "apps", "labels": {"app": "web", "on": "yes"}},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(b'{"auths":{}}').decode(), "empty": ""},
        "stringData": {"password": PASSWORD, "config.yaml": "a: 1\nb: [x]\n"},
    }


def _need_fixtures() -> None:
    if not FIXTURES.is_dir():
        pytest.skip(f"shared SOPS fixtures not found at {FIXTURES}")


def _humphd_expected() -> dict[str, Any]:
    expected: dict[str, Any] = json.loads((HUMPHD / "secret.json").read_text())
    del expected["0word"]  # only in the upstream JSON fixture, not in the YAML one (see fixtures README)
    return expected


FIXTURE_CASES = [
    ("humphd", "secret.enc.yaml", "key.txt", None),
    ("flux-algorithms", "algorithms-age.yaml", "age.txt", {"key": "value"}),
    ("flux-merge1", "patches-merge1.yaml", "age.txt", {"key": "merge1"}),
    ("flux-merge2", "patches-merge2.yaml", "age.txt", {"merge2": "merge2"}),
    ("flux-global", "global-secret.yaml", "age-global.txt", {"key": "global-value"}),
]


def _fixture(case: str, file: str, key: str) -> tuple[str, str]:
    _need_fixtures()
    folder = HUMPHD if case == "humphd" else FLUX
    return (folder / file).read_text(), (folder / key).read_text()


# -- reading files made by real sops -----------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "file", "key", "string_data"), FIXTURE_CASES, ids=[c[0] for c in FIXTURE_CASES]
)
def test_fixture_decrypts_and_mac_verifies(
    case: str, file: str, key: str, string_data: dict[str, str] | None
) -> None:
    text, identity = _fixture(case, file, key)
    plain = decrypt_document(text, identity)
    if string_data is None:
        assert plain == _humphd_expected()
        assert type(plain["int"]) is int and type(plain["float"]) is float and plain["boolean"] is True
    else:
        assert plain["stringData"] == string_data
        assert plain["apiVersion"] == "v1" and plain["kind"] == "Secret"
    assert "sops" not in plain


def test_fixture_mac_covers_unencrypted_leaves() -> None:
    text, identity = _fixture("flux-global", "global-secret.yaml", "age-global.txt")
    renamed = text.replace("name: global-age-secret", "name: other-secret")
    with pytest.raises(SopsError, match="MAC mismatch"):
        decrypt_document(renamed, identity)
    assert decrypt_document(renamed, identity, verify_mac=False)["metadata"]["name"] == "other-secret"


def test_fixture_wrong_identity() -> None:
    text, _ = _fixture("flux-algorithms", "algorithms-age.yaml", "age.txt")
    with pytest.raises(SopsError, match="none of the age identities"):
        decrypt_document(text, _identity()[0])


def test_fixture_value_moved_to_other_key_fails() -> None:
    text, identity = _fixture("humphd", "secret.enc.yaml", "key.txt")
    token = re.search(r"^string: (ENC\[.*\])$", text, re.M)
    assert token is not None
    moved = text.replace(f"string: {token[1]}", f"other: {token[1]}")
    with pytest.raises(SopsError, match="other: decryption failed"):
        decrypt_document(moved, identity)


# -- writing -----------------------------------------------------------------------------------


def test_round_trip_and_every_recipient_opens() -> None:
    (id1, r1), (id2, r2) = _identity(), _identity()
    doc = _secret()
    text = encrypt_secret_manifest(doc, [r1, r2], lastmodified=STAMP)
    assert decrypt_document(text, id1) == doc
    assert decrypt_document(text, f"# created: today\n# public key: {r2}\n{id2}\n") == doc
    assert PASSWORD not in text and "a: 1" not in text


def test_input_is_not_mutated() -> None:
    doc = _secret()
    encrypt_secret_manifest(doc, [_identity()[1]], lastmodified=STAMP)
    assert doc == _secret()


def test_output_layout_matches_sops() -> None:
    _, recipient = _identity()
    text = encrypt_secret_manifest(_secret(), [recipient], lastmodified=STAMP)
    lines = text.splitlines()
    top = [line.split(":")[0] for line in lines if line and not line.startswith(" ")]
    assert top == ["apiVersion", "kind", "metadata", "type", "data", "stringData", "sops"]
    sops_keys = [line.strip().split(":")[0] for line in lines if re.match(r"^ {4}\w", line)]
    assert sops_keys[-5:] == ["age", "encrypted_regex", "lastmodified", "mac", "version"]
    assert "    name: regcred" in lines
    assert '        "on": "yes"' in lines  # YAML 1.1 would read on/yes as booleans: quoted
    assert "        - enc: |" in lines and f"          recipient: {recipient}" in lines
    assert "            -----BEGIN AGE ENCRYPTED FILE-----" in lines
    assert '    lastmodified: "2026-07-01T12:00:00Z"' in lines
    assert "    encrypted_regex: ^(data|stringData)$" in lines and "    version: 3.9.0" in lines
    assert re.search(
        r"^    mac: ENC\[AES256_GCM,data:[A-Za-z0-9+/=]+,iv:.{44},tag:.{24},type:str\]$", text, re.M
    )
    assert "mac: ENC[" in text  # the marker Flux uses to recognise an encrypted file
    assert '    empty: ""' in lines
    assert text.endswith("version: 3.9.0\n")
    assert yaml.safe_load(text)["metadata"] == _secret()["metadata"]


def test_armor_is_exactly_as_age_writes_it() -> None:
    _, recipient = _identity()
    meta = yaml.safe_load(encrypt_secret_manifest(_secret(), [recipient], lastmodified=STAMP))["sops"]
    armored = meta["age"][0]["enc"]
    assert armored.endswith("-----END AGE ENCRYPTED FILE-----\n") and not armored.endswith("\n\n")
    lines = armored.splitlines()
    assert lines[0] == "-----BEGIN AGE ENCRYPTED FILE-----"
    body = lines[1:-1]
    assert all(len(line) == 64 for line in body[:-1]) and 0 < len(body[-1]) <= 64
    binary = base64.b64decode("".join(body), validate=True)
    assert binary.startswith(b"age-encryption.org/v1\n-> X25519 ")


def _open(token: str, key: bytes, aad: bytes) -> tuple[bytes, str]:
    """Decrypt an ENC token with raw AES-GCM, independently of genpolicy's reader."""
    match = ENC.fullmatch(token)
    assert match is not None
    data, iv, tag = (base64.b64decode(part, validate=True) for part in match.groups()[:3])
    assert len(iv) == 32 and len(tag) == 16
    return AESGCM(key).decrypt(iv, data + tag, aad), match[4]


def test_values_aad_and_mac_follow_the_spec_independently() -> None:
    key = os.urandom(32)
    doc = _secret()
    doc["stringData"]["list"] = ["x", {"deep": "y"}]
    out = yaml.safe_load(encrypt_secret_manifest(doc, [_identity()[1]], lastmodified=STAMP, data_key=key))
    assert _open(out["stringData"]["password"], key, b"stringData:password:") == (PASSWORD.encode(), "str")
    assert _open(out["stringData"]["config.yaml"], key, b"stringData:config.yaml:")[0] == b"a: 1\nb: [x]\n"
    assert _open(out["stringData"]["list"][0], key, b"stringData:list:")[0] == b"x"
    assert _open(out["stringData"]["list"][1]["deep"], key, b"stringData:list:deep:")[0] == b"y"
    assert out["data"]["empty"] == "" and out["metadata"]["name"] == "regcred"
    leaves = [
        "v1",
        "Secret",
        "regcred",
        "apps",
        "web",
        "yes",
        "kubernetes.io/dockerconfigjson",
        doc["data"][".dockerconfigjson"],
        "",
        PASSWORD,
        "a: 1\nb: [x]\n",
        "x",
        "y",
    ]
    digest = hashlib.sha512("".join(leaves).encode()).hexdigest().upper()
    assert _open(out["sops"]["mac"], key, STAMP.encode()) == (digest.encode(), "str")


def test_typed_values_round_trip_with_go_formatting() -> None:
    identity, recipient = _identity()
    key = os.urandom(32)
    doc = {"data": {"i": 7, "f": 1.0, "g": 0.1, "big": 1e21, "t": True, "n": None, "neg": -3}}
    out = yaml.safe_load(encrypt_secret_manifest(doc, [recipient], lastmodified=STAMP, data_key=key))
    assert _open(out["data"]["i"], key, b"data:i:") == (b"7", "int")
    assert _open(out["data"]["f"], key, b"data:f:") == (b"1", "float")
    assert _open(out["data"]["big"], key, b"data:big:") == (b"1000000000000000000000", "float")
    assert _open(out["data"]["t"], key, b"data:t:") == (b"True", "bool")
    assert out["data"]["n"] is None
    assert decrypt_document(encrypt_secret_manifest(doc, [recipient], lastmodified=STAMP), identity) == doc


def test_two_encryptions_differ_but_decrypt_the_same() -> None:
    identity, recipient = _identity()
    key = os.urandom(32)
    one, two = (
        encrypt_secret_manifest(_secret(), [recipient], lastmodified=STAMP, data_key=key) for _ in "12"
    )
    assert one != two
    assert decrypt_document(one, identity) == decrypt_document(two, identity)


# -- tampering ---------------------------------------------------------------------------------


def _encrypted() -> tuple[str, str, bytes]:
    identity, recipient = _identity()
    key = os.urandom(32)
    return encrypt_secret_manifest(_secret(), [recipient], lastmodified=STAMP, data_key=key), identity, key


def test_changed_ciphertext_character_fails() -> None:
    text, identity, _ = _encrypted()
    token = yaml.safe_load(text)["stringData"]["password"]
    data = ENC.fullmatch(token)[1]  # type: ignore[index]
    flipped = ("B" if data[0] == "A" else "A") + data[1:]
    with pytest.raises(SopsError, match=r"stringData\.password: decryption failed") as info:
        decrypt_document(text.replace(f"data:{data},", f"data:{flipped},"), identity)
    assert PASSWORD not in str(info.value)


def test_swapped_values_fail() -> None:
    text, identity, _ = _encrypted()
    values = yaml.safe_load(text)["stringData"]
    swapped = text.replace(values["password"], "@@P@@").replace(values["config.yaml"], values["password"])
    swapped = swapped.replace("@@P@@", values["config.yaml"])
    with pytest.raises(SopsError, match="decryption failed"):
        decrypt_document(swapped, identity)


def test_wrong_mac_fails() -> None:
    text, identity, key = _encrypted()
    iv = os.urandom(32)
    sealed = AESGCM(key).encrypt(iv, hashlib.sha512(b"forged").hexdigest().upper().encode(), STAMP.encode())
    fake = (
        f"ENC[AES256_GCM,data:{base64.b64encode(sealed[:-16]).decode()},iv:{base64.b64encode(iv).decode()},"
        f"tag:{base64.b64encode(sealed[-16:]).decode()},type:str]"
    )
    real = yaml.safe_load(text)["sops"]["mac"]
    with pytest.raises(SopsError, match="MAC mismatch"):
        decrypt_document(text.replace(real, fake), identity)
    with pytest.raises(SopsError, match=r"sops\.mac: decryption failed"):
        decrypt_document(text.replace(STAMP, "2026-07-01T12:00:01Z"), identity)
    with pytest.raises(SopsError, match="MAC mismatch"):
        decrypt_document(text.replace("namespace: apps", "namespace: prod"), identity)


def test_plain_value_where_encryption_is_required_fails() -> None:
    text, identity, _ = _encrypted()
    token = yaml.safe_load(text)["stringData"]["password"]
    with pytest.raises(SopsError, match=r"stringData\.password: value is not in the sops") as info:
        decrypt_document(text.replace(token, "leaked-plaintext"), identity)
    assert "leaked-plaintext" not in str(info.value)


# -- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recipients", "message"),
    [
        ([], "at least one age recipient"),
        (["age1bad"], "not an age X25519 recipient"),
        (["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO"], "not an age X25519 recipient"),
        ("age1abc", "not one string"),
    ],
)
def test_bad_recipients(recipients: Any, message: str) -> None:
    with pytest.raises(SopsError, match=message):
        encrypt_secret_manifest(_secret(), recipients, lastmodified=STAMP)


def test_secret_key_given_as_recipient_is_not_echoed() -> None:
    identity, _ = _identity()
    with pytest.raises(SopsError, match="secret key was given") as info:
        encrypt_secret_manifest(_secret(), [identity], lastmodified=STAMP)
    assert identity[15:] not in str(info.value)


def test_recipient_checksum_and_duplicates() -> None:
    _, recipient = _identity()
    broken = recipient[:-1] + ("q" if recipient[-1] != "q" else "p")
    with pytest.raises(SopsError, match="invalid age recipient"):
        encrypt_secret_manifest(_secret(), [broken], lastmodified=STAMP)
    with pytest.raises(SopsError, match="duplicate age recipient"):
        encrypt_secret_manifest(_secret(), [recipient, recipient], lastmodified=STAMP)


@pytest.mark.parametrize(
    "stamp", ["2026-07-01T12:00:00", "2026-07-01T12:00:00.5Z", "2026-13-01T12:00:00Z", ""]
)
def test_bad_lastmodified(stamp: str) -> None:
    with pytest.raises(SopsError, match="lastmodified"):
        encrypt_secret_manifest(_secret(), [_identity()[1]], lastmodified=stamp)


def test_other_input_errors_never_show_values() -> None:
    recipient = _identity()[1]
    with pytest.raises(SopsError, match="exactly 32 bytes"):
        encrypt_secret_manifest(_secret(), [recipient], lastmodified=STAMP, data_key=b"short")
    with pytest.raises(SopsError, match="reserved"):
        encrypt_secret_manifest({"sops": {}}, [recipient], lastmodified=STAMP)
    with pytest.raises(SopsError, match="not a valid regular expression"):
        encrypt_secret_manifest(_secret(), [recipient], lastmodified=STAMP, encrypted_regex="(")
    with pytest.raises(SopsError, match=r"stringData\.when: unsupported value type datetime") as info:
        import datetime as dt

        encrypt_secret_manifest(
            {"stringData": {"when": dt.datetime(2026, 1, 1)}}, [recipient], lastmodified=STAMP
        )
    assert "2026" not in str(info.value)


def test_reader_rejects_non_sops_and_multi_document() -> None:
    identity = _identity()[0]
    with pytest.raises(SopsError, match="no 'sops' metadata"):
        decrypt_document("a: 1\n", identity)
    with pytest.raises(SopsError, match="exactly one YAML document"):
        decrypt_document("a: 1\n---\nb: 2\n", identity)
    with pytest.raises(SopsError, match="no AGE-SECRET-KEY"):
        decrypt_document(_encrypted()[0], "not a key")


TRICKY = [
    "yes",
    "on",
    "0o17",
    "0x1F",
    "1_000",
    "~",
    "null",
    "1.5",
    "2026-01-01",
    "true",
    ".5",
    "1e3",
    "012",
    "a: b",
    "- x",
    "#c",
    "&a",
    "x #y",
    "  lead",
    "trail  ",
    "l1\nl2\n",
    "\n\nx",
    "x\n\n",
    "\x85",
    "a\u2028b",
]
KEYS = st.text(min_size=1, max_size=10).filter(lambda key: key not in ("data", "stringData"))
SCALARS = st.one_of(
    st.text(max_size=30),
    st.sampled_from(TRICKY),
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
)
TREES = st.recursive(
    SCALARS, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(KEYS, kids, max_size=3), max_leaves=8
)


@settings(max_examples=60, deadline=None)
@given(metadata=st.dictionaries(KEYS, TREES, max_size=3), data=st.dictionaries(KEYS, TREES, max_size=3))
def test_round_trip_property(metadata: dict[str, Any], data: dict[str, Any]) -> None:
    identity, recipient = _identity()
    doc = {"metadata": metadata, "stringData": data}
    text = encrypt_secret_manifest(doc, [recipient], lastmodified=STAMP)
    assert decrypt_document(text, identity) == doc
    assert yaml.safe_load(text)["metadata"] == metadata  # plain parts read back unchanged by PyYAML too


# -- .sops.yaml --------------------------------------------------------------------------------


def test_render_sops_config() -> None:
    (_, r1), (_, r2) = _identity(), _identity()
    text = render_sops_config([(r"^clusters/prod/.*\.yaml$", [r1, r2]), ("^clusters/dev/", [r1])])
    assert yaml.safe_load(text) == {
        "creation_rules": [
            {
                "path_regex": r"^clusters/prod/.*\.yaml$",
                "encrypted_regex": "^(data|stringData)$",
                "age": f"{r1},{r2}",
            },
            {"path_regex": "^clusters/dev/", "encrypted_regex": "^(data|stringData)$", "age": r1},
        ]
    }
    assert f'      age: "{r1},{r2}"' in text.splitlines()
    with pytest.raises(SopsError, match="not a valid regular expression"):
        render_sops_config([("(", [r1])])
    with pytest.raises(SopsError, match="not an age X25519 recipient"):
        render_sops_config([("x", ["nope"])])
    with pytest.raises(SopsError, match="at least one creation rule"):
        render_sops_config([])


# -- interop -----------------------------------------------------------------------------------


def test_age_cli_decrypts_our_data_key_stanzas(tmp_path: Path) -> None:
    age = shutil.which("age")
    if age is None:
        pytest.skip("the `age` binary is not on PATH (apt-get install -y age)")
    key = os.urandom(32)
    identities = [_identity(), _identity()]
    text = encrypt_secret_manifest(_secret(), [r for _, r in identities], lastmodified=STAMP, data_key=key)
    stanzas = yaml.safe_load(text)["sops"]["age"]
    for index, ((identity, recipient), stanza) in enumerate(zip(identities, stanzas, strict=True)):
        assert stanza["recipient"] == recipient
        (tmp_path / f"id{index}.txt").write_text(identity + "\n")
        (tmp_path / f"key{index}.age").write_text(stanza["enc"])
        command = [
            age,
            "--decrypt",
            "-i",
            str(tmp_path / f"id{index}.txt"),
            str(tmp_path / f"key{index}.age"),
        ]
        proc = subprocess.run(command, capture_output=True, timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr.decode()
        assert proc.stdout == key


def _sops_age_runner() -> tuple[str, Path]:
    node = shutil.which("node")
    modules = Path(os.environ.get("GENPOLICY_NODE_MODULES", HERE / "interop" / "node_modules"))
    if node is None:
        pytest.skip("node is not on PATH")
    if not (modules / "sops-age" / "package.json").is_file():
        pytest.skip(
            f"npm package sops-age not installed under {modules} "
            "(cd tests/interop && npm install --no-save sops-age@4.0.2)"
        )
    return node, modules


def _run_sops_age(node: str, modules: Path, path: Path, identity: str) -> Any:
    env = {**os.environ, "SOPS_AGE_KEY": identity, "GENPOLICY_NODE_MODULES": str(modules)}
    proc = subprocess.run(
        [node, str(HERE / "interop" / "sops_decrypt.mjs"), str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_npm_sops_age_decrypts_our_output(tmp_path: Path) -> None:
    node, modules = _sops_age_runner()
    (_, r1), (id2, r2) = _identity(), _identity()
    doc = _secret()
    doc["stringData"]["list"] = ["x", {"deep": "y"}]
    doc["data"]["typed"] = {"i": 7, "f": 3.5, "t": False}
    path = tmp_path / "secret.sops.yaml"
    path.write_text(encrypt_secret_manifest(doc, [r1, r2], lastmodified=STAMP))
    assert _run_sops_age(node, modules, path, id2) == doc


def test_npm_sops_age_agrees_on_a_fixture() -> None:
    node, modules = _sops_age_runner()
    _need_fixtures()
    identity = next(line for line in (HUMPHD / "key.txt").read_text().splitlines() if line.startswith("AGE-"))
    assert _run_sops_age(node, modules, HUMPHD / "secret.enc.yaml", identity) == _humphd_expected()
