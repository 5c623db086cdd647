"""genpolicy.registry: docker config keys, URLsMatch/filepath.Match and keyring lookup order.

Checked against the kubelet semantics in ../shared/docs/kubelet-keyring.md.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genpolicy.registry import (
    DEFAULT_REGISTRY_HOST,
    Entry,
    InvalidImage,
    InvalidKey,
    Keyring,
    Match,
    SourcedEntry,
    ambiguous_spellings,
    credentials_for_image,
    filepath_match,
    is_default_registry_match,
    make_docker_keyring,
    normalize_image,
    normalize_server,
    parse_key,
    prefix_overlaps,
    union,
    urls_match,
)


def keyring(*entries: tuple[str, str]) -> Keyring[str]:
    """A keyring of (loc, credential-name) pairs, added in order."""
    ring: Keyring[str] = Keyring()
    for loc, credential in entries:
        ring.add(loc, credential)
    return ring


def creds(matches: list[Match[str]]) -> list[str]:
    return [m.credential for m in matches]



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
# Properties
# --------------------------------------------------------------------------------------------


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
