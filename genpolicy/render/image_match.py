"""Registry keys as image patterns for Kyverno, mirroring the kubelet's matching.

One RE2 regular expression over the raw `image` string of a container, used by both policy
engines: CEL `matches()` and JMESPath `regex_match()` in ClusterPolicy preconditions (raw strings,
so Kyverno's `defaultRegistry` setting cannot change the answer).

Both follow the kubelet (see genpolicy.registry): ports must be equal, `*` in a host label matches one
label, a key path is a plain string prefix (`/team` also matches `/teammate`), and Docker Hub
(`docker.io`) covers short names (`nginx`, `user/app`) and `index.docker.io/...`.
"""

from __future__ import annotations

DOCKER_HUB = "docker.io"

# Raw image strings that normalise to Docker Hub: no '/', or a first segment without '.', ':' or
# uppercase (CEL callers also exclude `localhost/`, which RE2 cannot express without lookahead).
_HUB_REGEX = r"^([^/]+$|(docker\.io|index\.docker\.io)/|[^./:A-Z]+/)"


_RE2_SPECIAL = set("\\.+*?()|[]{}^$")


def re_escape(text: str) -> str:
    """Escape RE2 metacharacters only (keeps `-`, `/` and `:` readable)."""
    return "".join("\\" + ch if ch in _RE2_SPECIAL else ch for ch in text)


def split_key(key: str) -> tuple[str, str, str]:
    """`host[:port][/path]` -> (host, port, path) with the path's leading '/' kept."""
    hostport, slash, path = key.partition("/")
    host, _, port = hostport.partition(":")
    return host, port, slash + path if slash else ""


_HUB_HOSTS = r"(docker\.io|index\.docker\.io)/"


def _hub_path_regex(path: str) -> str:
    """Docker Hub keys with a path (`docker.io/myorg`): the image may spell the host or not, and a
    one-segment name is `library/<name>` (`nginx` is docker.io/library/nginx)."""
    first, slash, rest = path.partition("/")
    forms = [f"^{_HUB_HOSTS}{re_escape(path)}"]
    if "." not in first and ":" not in first and first == first.lower():
        # a short name `org/...`: its first segment must stay host-free (no '.', ':' or uppercase)
        forms.append(f"^{re_escape(first)}/{re_escape(rest)}" if slash else f"^{re_escape(first)}[^/.:A-Z]*/")
    library = "library/"
    if library.startswith(path) or path.startswith(library):
        name_prefix = re_escape(path[len(library):]) if path.startswith(library) else ""
        forms += [f"^{name_prefix}[^/]*$", f"^{_HUB_HOSTS}{name_prefix}[^/]*$"]
    return "|".join(f"({form})" for form in forms)


def image_regex(key: str) -> str:
    """An RE2 regex for raw image strings the kubelet would match against this key."""
    if key == DOCKER_HUB:
        return _HUB_REGEX
    if key.startswith(DOCKER_HUB + "/"):
        return _hub_path_regex(key[len(DOCKER_HUB) + 1:])
    host, port, path = split_key(key)
    labels = [r"[^./:]*".join(re_escape(part) for part in label.split("*")) for label in host.split(".")]
    regex = "^" + r"\.".join(labels) + (f":{port}" if port else "")
    return regex + (re_escape(path) if path else "/")


def excludes_localhost(key: str) -> bool:
    """Whether the condition must also reject `localhost/...` (Docker Hub keys only)."""
    return key == DOCKER_HUB or key.startswith(DOCKER_HUB + "/")


def namespace_regex(patterns: list[str] | tuple[str, ...]) -> str:
    """An anchored RE2 regex for namespace names and Kyverno-style wildcards (`*`, `?`)."""
    parts = []
    for pattern in patterns:
        parts.append("".join("[a-z0-9-]*" if ch == "*" else "[a-z0-9-]" if ch == "?" else re_escape(ch)
                             for ch in pattern))
    return "^(" + "|".join(parts) + ")$"
