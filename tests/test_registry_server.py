"""genpolicy.registry: normalize_server, what genpolicy emits.

Checked against the kubelet semantics in ../shared/docs/kubelet-keyring.md.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genpolicy.registry import (
    InvalidServer,
    normalize_server,
    parse_key,
    urls_match,
)

# --------------------------------------------------------------------------------------------
# normalize_server: what genpolicy emits
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("server", "key"),
    [
        ("docker.io", "docker.io"),
        ("DOCKER.IO", "docker.io"),
        ("index.docker.io", "docker.io"),
        ("https://index.docker.io/v1/", "docker.io"),
        ("https://index.docker.io/v1", "docker.io"),
        ("http://index.docker.io/v2/", "docker.io"),
        ("registry-1.docker.io", "docker.io"),
        ("registry.hub.docker.com", "docker.io"),
        ("docker.io/library", "docker.io/library"),
        ("index.docker.io/myorg/", "docker.io/myorg/"),
        ("docker.io:443", "docker.io:443"),
        ("ghcr.io", "ghcr.io"),
        ("https://ghcr.io/", "ghcr.io"),
        ("HTTPS://GHCR.IO", "ghcr.io"),
        ("https://Harbor.Example.com:8443/team-a/", "harbor.example.com:8443/team-a/"),
        ("https://harbor.corp.example:8443/platform/", "harbor.corp.example:8443/platform/"),
        ("harbor.example.com/v2/team/app/", "harbor.example.com/team/app/"),
        ("harbor.example.com/v2/", "harbor.example.com"),
        ("harbor.example.com:8443/v2/team-a", "harbor.example.com:8443/team-a"),
        ("https://quay.io/v1/", "quay.io"),
        ("quay.io/coreos", "quay.io/coreos"),
        ("*.azurecr.io", "*.azurecr.io"),
        ("*.Example.com", "*.example.com"),
        ("*kubernetes.io", "*kubernetes.io"),
        ("x[a-c].example.com", "x[a-c].example.com"),
        ("localhost", "localhost"),
        ("localhost:5000", "localhost:5000"),
        ("registry:5000", "registry:5000"),
        ("10.0.0.1:5000/x", "10.0.0.1:5000/x"),
        ("[::1]:5000", "[::1]:5000"),
        ("[FE80::1]", "[fe80::1]"),
        ("index.docker.io/v2/v1/", "docker.io"),
        ("r.example.com/team/app.v2/x_y", "r.example.com/team/app.v2/x_y"),
    ],
)
def test_normalize_server(server: str, key: str) -> None:
    assert normalize_server(server) == key
    assert parse_key(key) == key  # the kubelet reads the emitted key unchanged


@pytest.mark.parametrize(
    ("server", "message"),
    [
        ("", "empty"),
        (" ghcr.io", "whitespace"),
        ("gh cr.io", "whitespace"),
        ("ghcr.io\n", "whitespace"),
        ("ghcr.\u00edo", "non-ASCII"),
        ("user@ghcr.io", "userinfo"),
        ("ghcr.io?x=1", "'?'"),
        ("ghcr.io#frag", "'#'"),
        ("a?.example.com", "no '\\?' glob"),
        ("ghcr.io:", "empty port"),
        ("ghcr.io:abc", "invalid port"),
        ("ghcr.io:0", "invalid port"),
        ("ghcr.io:65536", "invalid port"),
        ("ghcr.io:0443", "leading zeros"),
        ("ghcr.io:1:2", "more than one ':'"),
        ("ghcr..io", "empty host label"),
        (".ghcr.io", "empty host label"),
        ("ghcr.io.", "empty host label"),
        ("ghcr_io.com", "not a valid host name label"),
        ("-ghcr.io", "not a valid host name label"),
        ("ghcr.io/*", "only honoured in the host"),
        ("ghcr.io:*", "only honoured in the host"),
        ("ghcr.io/team/[ab]", "only honoured in the host"),
        ("https://", "no host"),
        ("/team", "no host"),
        ("oci://ghcr.io", "scheme 'oci'"),
        ("ghcr.io/Team", "lowercase"),
        ("ghcr.io//team", "empty path segment"),
        ("ghcr.io/te%61m", "percent-encoding"),
        ("*.docker.io/path:1111", "':' in the path"),
        ("registry", "single name"),
        ("*", "single name"),
        ("h.example.com/v1", "exactly '/v1' is ambiguous"),
        ("https://h.example.com/v2", "exactly '/v2' is ambiguous"),
        ("h.example.com/v2/v1/", "exactly '/v1/' is ambiguous"),
        ("h.example.com//", "empty path segment"),
        ("h.example.com/v1//", "empty path segment"),
        ("h.example.com/v2/v2/x", "still start with '/v2/'"),
        ("x[^a].example.com", "negated class"),
        ("x[a.example.com", "malformed glob"),
        ("x[a-c].example.com:5000", "lose the port"),
        ("[ab]c.example.com", "IPv6"),
        ("[::1", "IPv6"),
        ("[::1]x", "after the IPv6"),
    ],
)
def test_normalize_server_rejects(server: str, message: str) -> None:
    with pytest.raises(InvalidServer, match=message):
        normalize_server(server)


def test_invalid_server_is_a_value_error_and_hides_passwords() -> None:
    with pytest.raises(ValueError, match="userinfo") as info:
        normalize_server("https://robot:hunter2@ghcr.io")
    assert isinstance(info.value, InvalidServer)
    assert "hunter2" not in str(info.value)



# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------


_label = st.from_regex(r"[a-zA-Z0-9*_]([a-zA-Z0-9*-]{0,5}[a-zA-Z0-9*])?", fullmatch=True)
_servers = st.builds(
    lambda scheme, labels, port, segments, trailing: (
        scheme + ".".join(labels) + port + "".join("/" + s for s in segments) + trailing
    ),
    st.sampled_from(["", "https://", "http://", "HTTPS://"]),
    st.lists(_label, min_size=1, max_size=4),
    st.one_of(st.just(""), st.integers(0, 70000).map(lambda p: f":{p}")),
    st.lists(st.sampled_from(["v1", "v2", "team", "a.b", "x-y", "Team", "v1x", ""]), max_size=4),
    st.sampled_from(["", "/"]),
)


@settings(max_examples=400)
@given(st.one_of(_servers, st.text(max_size=40)))
def test_normalize_server_is_idempotent_and_read_unchanged_by_the_kubelet(server: str) -> None:
    try:
        key = normalize_server(server)
    except InvalidServer:
        return
    assert normalize_server(key) == key
    assert parse_key(key) == key
    assert urls_match(key, key)
