"""genpolicy.registry: image references and lookup keys.

Checked against the kubelet semantics in ../shared/docs/kubelet-keyring.md.
"""

from __future__ import annotations

import pytest

from genpolicy.registry import (
    ImageRef,
    InvalidImage,
    normalize_image,
)

SHA256 = "sha256:" + "a" * 64


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

