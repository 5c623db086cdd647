"""genpolicy.registry: docker config bodies.

Checked against the kubelet semantics in ../shared/docs/kubelet-keyring.md.
"""

from __future__ import annotations

import base64
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from genpolicy.registry import (
    Entry,
    InvalidDockerConfig,
    Keyring,
    SourcedEntry,
    decode_auth,
    entries_from_secret,
    parse_dockercfg,
    parse_dockerconfigjson,
    union,
)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def config(auths: dict[str, object]) -> bytes:
    return json.dumps({"auths": auths}).encode()



# --------------------------------------------------------------------------------------------
# §2.1/§2.2: docker config bodies
# --------------------------------------------------------------------------------------------


def test_dockerconfigjson_username_password() -> None:
    body = config({"ghcr.io": {"username": "u", "password": "p", "email": "e@x"}})
    assert parse_dockerconfigjson(body) == {"ghcr.io": Entry("u", "p", "e@x")}


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        ("dXNlcjpwYXNzd29yZA==", ("user", "password")),  # padded
        ("dXNlcjpwYXNzd29yZA", ("user", "password")),  # unpadded -> RawStdEncoding
        ("dXNlcjpw\r\nYXNzd29yZA==", ("user", "password")),  # \r\n skipped
        ("dXNlcjpwYXNzd29yZA==\n", ("user", "password")),
        (b64("user:pa:ss"), ("user", "pa:ss")),  # split at the first ':'
        (b64(":only-password"), ("", "only-password")),
        (b64("user:"), ("user", "")),
        ("dXNlcjpwYXNzd29yZB", ("user", "password")),  # non-zero trailing bits are ignored
    ],
)
def test_decode_auth(auth: str, expected: tuple[str, str]) -> None:
    assert decode_auth(auth) == expected


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        ("dXNlcjpwYXNz ", "unpadded base64"),  # trailing space
        ("dXNlcjpwYXNzd29yZA== ", "padded base64"),  # ends in '=' after trimming, then garbage
        ("dXNlcjpwYXNzd29yZA=", "padded base64"),  # not enough padding
        ("dXNlcjpwYXNzd29yZ", "unpadded base64"),  # 1 symbol left over
        ("dXNl=cjpw", "unpadded base64"),
        ("dXNlcjpw!A==", "padded base64"),
        (b64("no-colon-here"), "no ':' found"),
    ],
)
def test_decode_auth_rejects(auth: str, message: str) -> None:
    with pytest.raises(InvalidDockerConfig, match=message):
        decode_auth(auth)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"username": "u", "password": "p", "auth": b64("a:b")}, Entry("a", "b")),  # auth overrides
        ({"username": "u", "password": "p", "auth": ""}, Entry("u", "p")),  # empty auth ignored
        ({"Username": "u", "PASSWORD": "p", "EMAIL": "e"}, Entry("u", "p", "e")),  # case-insensitive
        ({"Auth": b64("a:b")}, Entry("a", "b")),
        ({"u\u017fername": "long-s"}, Entry("long-s", "")),  # Go folds U+017F to 'S'
        ({"username": "u", "identitytoken": "tok", "registrytoken": "r"}, Entry("u", "")),
        ({"username": "u", "password": None}, Entry("u", "")),
        ({"unknown": [1, {"x": True}]}, Entry("", "")),
        ({"username": "\ud800"}, Entry("\ufffd", "")),  # Go decodes a lone surrogate to U+FFFD
    ],
)
def test_entry_decoding(entry: dict[str, object], expected: Entry) -> None:
    assert parse_dockerconfigjson(config({"r.io": entry})) == {"r.io": expected}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"auths":{"r.io":{"username":"a","username":"b"}}}', {"r.io": Entry("b", "")}),
        (b'{"auths":{"r.io":{"username":"a","username":null}}}', {"r.io": Entry("a", "")}),
        (b'{"auths":{"r.io":{"username":"a"},"r.io":{"password":"p"}}}', {"r.io": Entry("", "p")}),
        (b'{"auths":{"r.io":null}}', {"r.io": Entry("", "")}),
        (b'{"AUTHS":{"r.io":{"username":"a"}}}', {"r.io": Entry("a", "")}),
        (b'{"auths":{"a.io":{}},"auths":{"b.io":{}}}', {"a.io": Entry("", ""), "b.io": Entry("", "")}),
        (b'{"auths":{"a.io":{}},"auths":null}', {}),
        (b'{"auths":null}', {}),
        (b"null", {}),
        (b'{"r.io":{"username":"a"}}', {}),  # no auths wrapper: counted, but no entries
        (b'{"credsStore":"desktop","credHelpers":{"r.io":"x"},"auths":{}}', {}),
        (b'{"HttpHeaders":{"User-Agent":"x","X":null},"auths":{"r.io":{}}}', {"r.io": Entry("", "")}),
        (b'{"other": 123456789012345678901234567890e999999, "auths": {}}', {}),
        (b'{"auths":{"r.io":{"username":"\xff"}}}', {"r.io": Entry("\ufffd", "")}),
    ],
)
def test_dockerconfigjson_go_json_semantics(body: bytes, expected: dict[str, Entry]) -> None:
    assert parse_dockerconfigjson(body) == expected


def test_huge_integers_in_ignored_fields_are_fine() -> None:
    body = b'{"n": ' + b"9" * 5000 + b', "auths": {}}'
    assert parse_dockerconfigjson(body) == {}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "not valid JSON"),
        (b'{"auths":{}', "not valid JSON"),
        (b'{"auths":{}}{}', "not valid JSON"),
        (b'{"auths":NaN}', "not valid JSON"),
        (b"\xef\xbb\xbf{}", "not valid JSON"),  # Go rejects a BOM
        (b"[]", "must be a JSON object, got an array"),
        (b'"x"', "must be a JSON object, got a string"),
        (b'{"auths":[]}', "auths must be an object, got an array"),
        (b'{"auths":"x"}', "auths must be an object, got a string"),
        (b'{"auths":{"r.io":"x"}}', "expected an object, got a string"),
        (b'{"auths":{"r.io":[]}}', "expected an object, got an array"),
        (b'{"auths":{"r.io":{"username":5}}}', "'username' must be a string, got a number"),
        (b'{"auths":{"r.io":{"email":true}}}', "'email' must be a string, got a boolean"),
        (b'{"auths":{"r.io":{"auth":"!!"}}}', "not valid unpadded base64"),
        (b'{"HttpHeaders":[],"auths":{}}', "HttpHeaders must be an object"),
        (b'{"httpheaders":{"X":1},"auths":{}}', "must be a string, got a number"),
    ],
)
def test_dockerconfigjson_errors(body: bytes, message: str) -> None:
    with pytest.raises(InvalidDockerConfig, match=re.escape(message)):
        parse_dockerconfigjson(body)


@pytest.mark.parametrize(
    "body",
    [
        config({"r.io": {"password": "s3cr3t-VALUE", "username": 5}}),
        config({"r.io": {"auth": b64("user:s3cr3t-VALUE") + " "}}),
        config({"r.io": {"auth": b64("s3cr3t-VALUE")}}),
        config({"robot:s3cr3t-VALUE@r.io": {"auth": "%%"}}),
        b'{"auths":{"r.io":{"password":"s3cr3t-VALUE"',
    ],
)
def test_errors_never_contain_credentials(body: bytes) -> None:
    with pytest.raises(InvalidDockerConfig) as info:
        parse_dockerconfigjson(body)
    text = str(info.value)
    assert "s3cr3t" not in text and b64("user:s3cr3t-VALUE") not in text and "czNjcjN0" not in text


def test_dockercfg_legacy_flat_map() -> None:
    hub = "https://index.docker.io/v1/"
    body = json.dumps({hub: {"auth": b64("u:p"), "email": "e"}, "q.io": None}).encode()
    assert parse_dockercfg(body) == {hub: Entry("u", "p", "e"), "q.io": Entry("", "")}
    assert parse_dockercfg(b"null") == {}
    with pytest.raises(InvalidDockerConfig, match="got an array"):
        parse_dockercfg(b"[]")


@pytest.mark.parametrize(
    ("secret_type", "data", "expected"),
    [
        ("kubernetes.io/dockerconfigjson", {".dockerconfigjson": config({"r.io": {}})},
         {"r.io": Entry("", "")}),
        ("kubernetes.io/dockercfg", {".dockercfg": b'{"r.io":{}}'}, {"r.io": Entry("", "")}),
        ("kubernetes.io/dockerconfigjson", {".dockerconfigjson": b""}, None),
        ("kubernetes.io/dockerconfigjson", {".dockercfg": b'{"r.io":{}}'}, None),
        ("kubernetes.io/dockercfg", {".dockerconfigjson": config({"r.io": {}})}, None),
        ("Opaque", {".dockerconfigjson": config({"r.io": {}})}, None),
        ("kubernetes.io/dockerconfigjson", {".dockerconfigjson": b'{"r.io":{}}'}, {}),
    ],
)
def test_entries_from_secret(secret_type: str, data: dict[str, bytes], expected: object) -> None:
    assert entries_from_secret(secret_type, data) == expected


def test_reprs_never_show_passwords() -> None:
    entry = Entry("robot", "hunter2", "e@x")
    sourced = SourcedEntry("ns/pull", entry)
    ring = Keyring[SourcedEntry]()
    ring.add("quay.io", sourced)
    texts = [repr(entry), str(entry), repr(sourced), repr(ring), repr(ring.lookup("quay.io/x"))]
    texts.append(repr(union(ring)))
    assert all("hunter2" not in text for text in texts)
    assert "robot" in repr(entry) and "ns/pull" in repr(sourced) and "'quay.io': 1" in repr(ring)



# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters=":")), st.text(
    alphabet=st.characters(exclude_categories=["Cs"])), st.booleans())
def test_decode_auth_round_trips(username: str, password: str, padded: bool) -> None:
    encoded = b64(f"{username}:{password}")
    assert decode_auth(encoded if padded else encoded.rstrip("=")) == (username, password)
