"""genpolicy.registry against the kubelet semantics in ../shared/docs/kubelet-keyring.md."""

from __future__ import annotations

import base64
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genpolicy.registry import (
    DEFAULT_REGISTRY_HOST,
    Entry,
    ImageRef,
    InvalidDockerConfig,
    InvalidImage,
    InvalidKey,
    InvalidServer,
    Keyring,
    Match,
    SourcedEntry,
    ambiguous_spellings,
    credentials_for_image,
    decode_auth,
    entries_from_secret,
    filepath_match,
    is_default_registry_match,
    make_docker_keyring,
    normalize_image,
    normalize_server,
    parse_dockercfg,
    parse_dockerconfigjson,
    parse_key,
    prefix_overlaps,
    union,
    urls_match,
)

SHA256 = "sha256:" + "a" * 64


def keyring(*entries: tuple[str, str]) -> Keyring[str]:
    """A keyring of (loc, credential-name) pairs, added in order."""
    ring: Keyring[str] = Keyring()
    for loc, credential in entries:
        ring.add(loc, credential)
    return ring


def creds(matches: list[Match[str]]) -> list[str]:
    return [m.credential for m in matches]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def config(auths: dict[str, object]) -> bytes:
    return json.dumps({"auths": auths}).encode()


# --------------------------------------------------------------------------------------------
# §3: docker config key -> match key (BasicDockerKeyring.Add)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("loc", "key"),
    [
        # the doc's example table, verbatim
        ("https://index.docker.io/v1/", "index.docker.io"),
        ("index.docker.io", "index.docker.io"),
        ("https://quay.io/v1/", "quay.io"),
        ("http://registry.example.com", "registry.example.com"),
        ("https://registry.example.com/v2/team", "registry.example.com/team"),
        ("*.docker.io:1111", "*.docker.io:1111"),
        ("https://*.docker.io/path:1111", "*.docker.io/path:1111"),
        ("index.docker.io/v1", "index.docker.io/v1"),
        # derived from the steps
        ("https://registry.example.com/v2/", "registry.example.com"),
        ("https://registry.example.com/team/", "registry.example.com/team/"),
        ("https://registry.example.com/v1/team/", "registry.example.com/team/"),
        ("https://quay.io/v2", "quay.io/v2"),
        ("Registry.Example.COM", "Registry.Example.COM"),
        ("user:pw@registry.example.com/x", "registry.example.com/x"),
        ("registry.example.com/x?y=1#frag", "registry.example.com/x"),
        ("registry.example.com/a%2Fb", "registry.example.com/a/b"),
        ("host/with space", "host/with space"),
        ("HTTPS://quay.io", "HTTPS://quay.io"),
        ("[::1]:5000/v2/x", "[::1]:5000/x"),
        ("", ""),
    ],
)
def test_parse_key(loc: str, key: str) -> None:
    assert parse_key(loc) == key


@pytest.mark.parametrize(
    "loc",
    ["registry.example.com:port", "a:b", "[::1", "host/%zz", "ho st", "host\x00", "host#%zz", "host%41.com",
     "user name@host", "[ab].example.com"],
)
def test_parse_key_rejects_what_go_url_parse_rejects(loc: str) -> None:
    with pytest.raises(InvalidKey, match="cannot parse"):
        parse_key(loc)


def test_parse_key_error_hides_userinfo() -> None:
    with pytest.raises(InvalidKey) as info:
        parse_key("robot:hunter2@registry.example.com:bad")
    assert "hunter2" not in str(info.value) and "***@registry.example.com" in str(info.value)


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
# §4: image -> lookup key
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("nginx", ImageRef("docker.io", "library/nginx", "latest")),
        ("nginx:1.25", ImageRef("docker.io", "library/nginx", "1.25")),
        ("docker.io/nginx", ImageRef("docker.io", "library/nginx", "latest")),
        ("index.docker.io/nginx", ImageRef("docker.io", "library/nginx", "latest")),
        ("index.docker.io/foo/bar", ImageRef("docker.io", "foo/bar", "latest")),
        ("foo/bar", ImageRef("docker.io", "foo/bar", "latest")),
        ("a/b/c/d", ImageRef("docker.io", "a/b/c/d", "latest")),
        (f"url:5000/repo@{SHA256}", ImageRef("url:5000", "repo", "", SHA256)),
        ("localhost:5000/x:1", ImageRef("localhost:5000", "x", "1")),
        ("localhost/foo", ImageRef("localhost", "foo", "latest")),
        ("Foo/bar", ImageRef("Foo", "bar", "latest")),  # uppercase first component is a domain
        (f"quay.io/coreos/etcd:v3.5@{SHA256}", ImageRef("quay.io", "coreos/etcd", "v3.5", SHA256)),
        ("[::1]:5000/x", ImageRef("[::1]:5000", "x", "latest")),
        ("foo_bar.com/x", ImageRef("", "foo_bar.com/x", "latest")),  # not a valid domain: all path
        ("gcr.io/p/img@sha512:" + "b" * 128, ImageRef("gcr.io", "p/img", "", "sha512:" + "b" * 128)),
    ],
)
def test_normalize_image(image: str, expected: ImageRef) -> None:
    assert normalize_image(image) == expected


@pytest.mark.parametrize(
    ("image", "key"),
    [
        ("nginx:1.25", "docker.io/library/nginx"),
        ("index.docker.io/foo/bar", "docker.io/foo/bar"),
        (f"url:5000/repo@{SHA256}", "url:5000/repo"),
        ("localhost:5000/x:1", "localhost:5000/x"),
        ("foo_bar.com/x", "foo_bar.com/x"),
    ],
)
def test_image_lookup_key(image: str, key: str) -> None:
    assert normalize_image(image).lookup_key == key


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("foo/Bar", "must be lowercase"),
        ("NGINX", "must be lowercase"),
        ("a" * 64, "image ID"),
        ("//", "invalid reference format"),
        ("foo:bar/baz", "invalid reference format"),
        ("", "invalid reference format"),
        ("nginx:", "invalid reference format"),
        ("nginx@sha256:abc", "invalid reference format"),
        ("-foo/bar", "invalid reference format"),
        ("foo/bar/", "invalid reference format"),
        ("nginx@sha256:" + "A" * 64, "lowercase hex"),
        ("nginx@sha256:" + "a" * 63 + "0a", "lowercase hex"),
        ("nginx@md5:" + "a" * 32, "unsupported digest algorithm"),
        ("a/" + "b" * 256, "longer than 255"),
    ],
)
def test_normalize_image_rejects(image: str, message: str) -> None:
    with pytest.raises(InvalidImage, match=message):
        normalize_image(image)


# --------------------------------------------------------------------------------------------
# §5: URLsMatch and filepath.Match
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "lookup", "expected"),
    [
        ("*.kubernetes.io", "prefix.kubernetes.io", True),
        ("prefix.*.io", "prefix.kubernetes.io", True),
        ("prefix.kubernetes.*", "prefix.kubernetes.io", True),
        ("*-good.kubernetes.io", "prefix-good.kubernetes.io", True),
        ("*.kubernetes.io/blah", "prefix.kubernetes.io/blah", True),
        ("prefix.*.io/foo", "prefix.kubernetes.io/foo/bar", True),
        ("*.kubernetes.io:1111/blah", "prefix.kubernetes.io:1111/blah", True),
        ("*kubernetes.io", "kubernetes.io", True),  # '*' matches the empty string
        ("*.*.*.kubernetes.io", "a.b.c.kubernetes.io", True),
        ("*.kubernetes.io", "kubernetes.io", False),  # label count
        ("*.*.kubernetes.io", "prefix.kubernetes.io", False),
        ("*.example.com", "a.b.example.com/x", False),  # '*' never crosses '.'
        ("*.kubernetes.io:1111/blah", "prefix.kubernetes.io:1112/blah", False),  # port
        ("prefix.*.io/foo", "prefix.kubernetes.io:1111/foo/bar", False),
        ("prefix.*.io:1111/foo", "prefix.kubernetes.io/foo/bar", False),
        ("registry.example.com", "registry.example.com:443/x", False),  # no default port
        ("registry.example.com:443", "registry.example.com/x", False),
        ("registry.example.com:5000", "registry.example.com:05000/x", False),  # ports are strings
        ("*.kubernetes.io/foo", "prefix.kubernetes.io/bar", False),  # path
        ("*.kubernetes.io", "prefix.kubernetes.com", False),
        ("registry.example.com/team", "registry.example.com/teammate/app", True),  # plain prefix
        ("bar.example.com/pong", "bar.example.com/pongz", True),
        ("registry.example.com/team/", "registry.example.com/teammate", False),
        ("Registry.example.com", "registry.example.com/x", False),  # case-sensitive
        ("registry.example.com/Team", "registry.example.com/team", False),
        ("*.example.com", "FOO.example.com/x", True),
        ("x[a-c].example.com", "xb.example.com/y", True),
        ("x[a-c].example.com", "xd.example.com/y", False),
        ("[a-c]x.example.com", "bx.example.com", False),  # url.Parse fails: looks like IPv6
        ("x[^a].example.com", "xb.example.com", False),  # url.Parse rejects '^' in a host
        ("x?.example.com", "xy.example.com", False),  # '?' starts a query
        ("x[.example.com", "x.example.com", False),  # malformed pattern
        ("*.docker.io", "docker.io/library/nginx", False),
        ("registry-1.docker.io", "docker.io/library/nginx", False),
        ("docker.io", "docker.io/library/nginx", True),
        ("index.docker.io", "docker.io/library/nginx", False),
        ("localhost:5000", "localhost:5000/x", True),
        ("[::1]:5000", "[::1]:5000/x", True),
        ("", "docker.io/library/nginx", False),
    ],
)
def test_urls_match(key: str, lookup: str, expected: bool) -> None:
    assert urls_match(key, lookup) is expected


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("abc", "abc", True),
        ("*", "abc", True),
        ("*c", "abc", True),
        ("a*", "a", True),
        ("a*", "ab/c", False),
        ("a*/b", "abc/b", True),
        ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
        ("a*b?c*x", "abxbbxdbxebxczzx", True),
        ("a*b?c*x", "abxbbxdbxebxczzy", False),
        ("ab[c]", "abc", True),
        ("ab[b-d]", "abc", True),
        ("ab[e-g]", "abc", False),
        ("ab[^c]", "abc", False),
        ("ab[^e-g]", "abc", True),
        ("a[!a]b", "a!b", True),  # '!' is not negation in Go
        ("a\\*b", "a*b", True),
        ("a\\*b", "ab", False),
        ("a?b", "a\u263ab", True),  # '?' is one rune, not one byte
        ("a???b", "a\u263ab", False),
        ("a[^a]b", "a\u263ab", True),
        ("K*", "kubernetes", False),  # case-sensitive
        ("*x", "xxx", True),
    ],
)
def test_filepath_match(pattern: str, name: str, expected: bool) -> None:
    assert filepath_match(pattern, name) is expected


@pytest.mark.parametrize(
    "pattern", ["[", "[^", "[^bc", "a[", "[a-", "[]a]", "[-]", "[x-]", "\\", "[a-b-c]", "*x[", "a[b"]
)
def test_filepath_match_malformed_pattern(pattern: str) -> None:
    with pytest.raises(ValueError, match="malformed"):
        filepath_match(pattern, "a")


@pytest.mark.parametrize(
    ("lookup", "expected"),
    [
        ("", False),
        ("nginx", True),
        ("library/ubuntu", True),
        ("docker.io/library/nginx", True),
        ("index.docker.io/foo", True),
        ("localhost/foo", True),  # D11
        ("Foo/bar", True),
        ("localhost:5000/foo", False),
        ("quay.io/foo", False),
        ("registry-1.docker.io/x", False),
        ("/foo", False),
    ],
)
def test_is_default_registry_match(lookup: str, expected: bool) -> None:
    assert is_default_registry_match(lookup) is expected


# --------------------------------------------------------------------------------------------
# Keyring order and the numbered consequences
# --------------------------------------------------------------------------------------------


def test_keys_sorted_descending_bytewise() -> None:
    ring = keyring(
        ("quay.io", "a"), ("*.example.com", "b"), ("quay.io/coreos", "c"), ("foo.example.com", "d"),
        ("quay.io", "e"),
    )
    assert ring.credentials("quay.io") == ("a", "e")
    assert ring.keys == ("quay.io/coreos", "quay.io", "foo.example.com", "*.example.com")


def test_longer_key_with_same_prefix_comes_first() -> None:
    ring = keyring(("quay.io", "plain"), ("https://quay.io/v2/coreos", "coreos"))
    assert creds(ring.lookup("quay.io/coreos/etcd")) == ["coreos", "plain"]
    assert creds(ring.lookup("quay.io/other/app")) == ["plain"]


def test_exact_host_before_glob() -> None:
    ring = keyring(("*.example.com", "glob"), ("foo.example.com", "exact"))
    assert creds(ring.lookup("foo.example.com/x")) == ["exact", "glob"]


def test_order_is_not_a_specificity_sort() -> None:
    ring = keyring(("*.example.com/x", "glob-with-path"), ("foo.example.com", "host-only"))
    assert creds(ring.lookup("foo.example.com/x/app")) == ["host-only", "glob-with-path"]


def test_insertion_order_within_one_key_and_duplicates_tried_twice() -> None:
    ring = keyring(("quay.io", "secret-a"), ("https://quay.io/v1/", "secret-b"), ("quay.io", "secret-a"))
    assert creds(ring.lookup("quay.io/x")) == ["secret-a", "secret-b", "secret-a"]


def test_identical_credential_under_two_matching_keys_is_tried_twice() -> None:
    ring = keyring(("quay.io", "same"), ("quay.io/coreos", "same"))
    assert [(m.key, m.credential) for m in ring.lookup("quay.io/coreos/etcd")] == [
        ("quay.io/coreos", "same"), ("quay.io", "same")]


def test_hub_fallback_when_nothing_matched() -> None:
    ring = keyring(("https://index.docker.io/v1/", "hub"))
    assert ring.lookup("docker.io/library/nginx") == [Match(DEFAULT_REGISTRY_HOST, "hub", fallback=True)]


@pytest.mark.parametrize("loc", ["index.docker.io", "https://index.docker.io/v1/", "index.docker.io/v2/"])
def test_index_docker_io_spellings_only_work_through_the_fallback(loc: str) -> None:
    ring = keyring((loc, "hub"))
    assert not urls_match(ring.keys[0], "docker.io/library/nginx")
    assert creds(ring.lookup("docker.io/library/nginx")) == ["hub"]


def test_no_hub_fallback_for_other_registries() -> None:
    ring = keyring(("https://index.docker.io/v1/", "hub"))
    assert ring.lookup("quay.io/coreos/etcd") == []
    assert ring.lookup("localhost:5000/foo") == []


def test_docker_io_matches_hub_images_directly() -> None:
    ring = keyring(("docker.io", "direct"))
    assert ring.lookup("docker.io/library/nginx") == [Match("docker.io", "direct")]


def test_docker_io_hides_index_docker_io_from_another_secret() -> None:
    """D07: secret A has the classic Hub key, secret B `docker.io`; both land in ONE keyring."""
    ring = keyring(("https://index.docker.io/v1/", "secret-a"), ("docker.io", "secret-b"))
    assert creds(ring.lookup("docker.io/library/nginx")) == ["secret-b"]


def test_each_union_member_falls_back_on_its_own() -> None:
    secrets = keyring(("docker.io", "secret-b"))
    node = keyring(("https://index.docker.io/v1/", "node-hub"))
    assert creds(union(secrets, node).lookup("docker.io/library/nginx")) == ["secret-b", "node-hub"]


def test_localhost_gets_hub_credentials() -> None:
    """D11: `localhost` has no '.' or ':', so it "looks like Docker Hub"."""
    ring = keyring(("https://index.docker.io/v1/", "hub"))
    assert creds(ring.lookup(normalize_image("localhost/foo").lookup_key)) == ["hub"]


def test_uppercase_domain_gets_hub_credentials() -> None:
    ring = keyring(("index.docker.io", "hub"), ("foo", "never"))
    assert creds(credentials_for_image(ring, "Foo/bar")) == ["hub"]


@pytest.mark.parametrize("loc", ["*.docker.io", "registry-1.docker.io", "https://registry-1.docker.io/v2/"])
def test_three_label_hub_keys_never_match_hub_images(loc: str) -> None:
    ring = keyring((loc, "never"))
    assert ring.lookup("docker.io/library/nginx") == []


def test_team_prefix_also_matches_teammate() -> None:
    ring = keyring(("harbor.example.com/team", "team"))
    assert creds(credentials_for_image(ring, "harbor.example.com/teammate/app:1")) == ["team"]


def test_port_mismatch_never_matches() -> None:
    ring = keyring(("registry.example.com", "no-port"), ("registry.example.com:5000", "port"))
    assert creds(ring.lookup("registry.example.com:5000/x")) == ["port"]
    assert creds(ring.lookup("registry.example.com/x")) == ["no-port"]
    assert ring.lookup("registry.example.com:443/x") == []


def test_label_count_mismatch_never_matches() -> None:
    ring = keyring(("*.example.com", "glob"))
    assert ring.lookup("example.com/x") == []
    assert ring.lookup("a.b.example.com/x") == []
    assert creds(ring.lookup("a.example.com/x")) == ["glob"]


def test_star_prefix_matches_bare_domain() -> None:
    ring = keyring(("*kubernetes.io", "k"))
    assert creds(ring.lookup("kubernetes.io/x")) == ["k"]


def test_unparseable_key_is_skipped() -> None:
    ring: Keyring[str] = Keyring()
    assert ring.add("registry.example.com:bad", "skipped") is None
    assert ring.add("https://quay.io/v1/", "kept") == "quay.io"
    assert ring.keys == ("quay.io",) and len(ring) == 1


def test_union_concatenates_in_member_order_without_dedup() -> None:
    secrets = keyring(("quay.io", "shared"), ("quay.io/coreos", "secret"))
    node = keyring(("quay.io", "shared"))
    plugins = keyring(("*.io", "plugin"))
    result = union(secrets, union(node, plugins)).lookup("quay.io/coreos/etcd")
    assert creds(result) == ["secret", "shared", "shared", "plugin"]


def test_make_docker_keyring_merges_secrets_then_default() -> None:
    a = SourcedEntry("ns/a", Entry("alice", "pa"))
    b = SourcedEntry("ns/b", Entry("bob", "pb"))
    node = Keyring[SourcedEntry]()
    node.add("quay.io", SourcedEntry("node", Entry("n", "pn")))
    ring = make_docker_keyring([("ns/a", {"quay.io": a.entry}), ("ns/b", {"quay.io": b.entry})], node)
    assert [m.credential.source for m in ring.lookup("quay.io/x")] == ["ns/a", "ns/b", "node"]


def test_make_docker_keyring_without_secrets_returns_the_default_unchanged() -> None:
    node = Keyring[SourcedEntry]()
    assert make_docker_keyring([], node) is node
    assert make_docker_keyring([]).lookup("docker.io/library/nginx") == []


def test_credentials_for_image_rejects_invalid_images_before_lookup() -> None:
    with pytest.raises(InvalidImage):
        credentials_for_image(keyring(("index.docker.io", "hub")), "Nginx:Latest")


def test_ambiguous_spellings_within_one_config() -> None:
    locs = ["quay.io", "https://quay.io/v1/", "ghcr.io", "bad:port", "ghcr.io/team"]
    assert ambiguous_spellings(locs) == {"quay.io": ["quay.io", "https://quay.io/v1/"]}


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("harbor.example.com/team", "harbor.example.com/teammate", True),
        ("harbor.example.com/teammate", "harbor.example.com/team", True),
        ("harbor.example.com/team", "harbor.example.com/team/sub", False),
        ("harbor.example.com/team", "harbor.example.com/team", False),
        ("harbor.example.com", "harbor.example.com/team", False),
        ("harbor.example.com/team/", "harbor.example.com/teammate", False),
        ("*.example.com/team", "harbor.example.com/teammate", True),
        ("harbor.example.com:8443/team", "harbor.example.com/teammate", False),
    ],
)
def test_prefix_overlaps(a: str, b: str, expected: bool) -> None:
    assert prefix_overlaps(a, b) is expected


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


@settings(max_examples=300)
@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40))
def test_parse_key_only_raises_invalid_key_on_printable_input(loc: str) -> None:
    try:
        assert isinstance(parse_key(loc), str)
    except InvalidKey:
        pass


@given(st.text(alphabet="abcxyz0123456789.-/*", max_size=30))
def test_parse_key_never_raises_on_plain_keys(loc: str) -> None:
    key = parse_key(loc)
    assert not key.startswith(("https://", "http://")) or loc.startswith("http")


@given(st.text(alphabet="ab*?", max_size=8), st.text(alphabet="ab", max_size=8))
def test_filepath_match_agrees_with_a_regex_for_simple_globs(pattern: str, name: str) -> None:
    regex = "".join({"*": "[^/]*", "?": "[^/]"}.get(ch, re.escape(ch)) for ch in pattern)
    assert filepath_match(pattern, name) is bool(re.fullmatch(regex, name))


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters=":")), st.text(
    alphabet=st.characters(exclude_categories=["Cs"])), st.booleans())
def test_decode_auth_round_trips(username: str, password: str, padded: bool) -> None:
    encoded = b64(f"{username}:{password}")
    assert decode_auth(encoded if padded else encoded.rstrip("=")) == (username, password)


@given(st.lists(st.sampled_from(["quay.io", "quay.io/coreos", "*.io", "quay.io/core", "q*.io", "other.io"]),
                min_size=1, max_size=6))
def test_lookup_order_is_descending_key_order(locs: list[str]) -> None:
    ring = keyring(*((loc, loc) for loc in locs))
    keys = [m.key for m in ring.lookup("quay.io/coreos/etcd")]
    assert keys == sorted(keys, reverse=True)
    assert set(keys) == {loc for loc in locs if urls_match(loc, "quay.io/coreos/etcd")}


def test_a_trailing_slash_keeps_a_path_key_to_its_own_project() -> None:
    """`server: .../platform/` must not reach `.../platformx/app` (issue 13 item 1): the key keeps the
    slash, exactly as the kubelet reads a `kubectl create secret docker-registry --docker-server` key."""
    server = "https://harbor.corp.example:8443/platform/"
    key = normalize_server(server)
    assert key == parse_key(server) == "harbor.corp.example:8443/platform/"
    ring = Keyring[str]()
    ring.add(key, "robot")
    assert credentials_for_image(ring, "harbor.corp.example:8443/platformx/app:1") == []
    assert [m.credential for m in credentials_for_image(ring, "harbor.corp.example:8443/platform/app:1")] == ["robot"]
    assert not urls_match(normalize_server("harbor.corp.example:8443/platform"), "harbor.corp.example:8443/x")
    assert urls_match(normalize_server("harbor.corp.example:8443/platform"), "harbor.corp.example:8443/platformx/a")
