"""Read credentials from their sources (environment, files, inline) at render time only."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from genpolicy.errors import CredentialError, Problem
from genpolicy.inputs import MAX_CONFIG_BYTES, MAX_CREDENTIAL_BYTES, load_json, read_bytes
from genpolicy.registry import (
    InvalidDockerConfig,
    InvalidServer,
    normalize_server,
    parse_dockercfg,
    parse_dockerconfigjson,
)
from genpolicy.secrets import Credential, Sensitive
from genpolicy.specfile.loader import LoadedYaml, format_path
from genpolicy.specfile.model import READ_SOURCES, Registry, Spec, check_username


class CredentialReader:
    """Resolves each registry's credentials once; errors name the registry and source, never the value."""

    def __init__(self, spec: Spec, loaded: LoadedYaml, base_dir: Path, environ: Mapping[str, str] | None = None):
        self.spec = spec
        self.loaded = loaded
        self.base_dir = base_dir
        self.environ = os.environ if environ is None else environ
        self._cache: dict[str, Credential] = {}

    def read_all(self, registries: list[Registry], optional: set[str] | None = None) -> dict[str, Credential]:
        """Credentials for every registry that needs values; all problems reported at once.

        Registries in `optional` may be unreadable (`render --check` of encrypted Secrets).
        """
        problems: list[Problem] = []
        for registry in registries:
            if registry.name in self._cache or registry.credentials.kind not in READ_SOURCES:
                continue
            try:
                self._cache[registry.name] = self._read(registry)
            except CredentialError as exc:
                if registry.name not in (optional or set()):
                    problems.extend(exc.problems)
        if problems:
            raise CredentialError("cannot read credentials", problems)
        return dict(self._cache)

    def _problem(self, registry: Registry, field: str, message: str) -> CredentialError:
        index = next(i for i, r in enumerate(self.spec.registries) if r.name == registry.name)
        path: tuple[str | int, ...] = ("registries", index, "credentials", *field.split("."))
        line, col = self.loaded.positions.of_value(path)
        return CredentialError(message, [Problem(self.loaded.filename, line, col, format_path(path), message)])

    def _read(self, registry: Registry) -> Credential:
        creds = registry.credentials
        if creds.inline is not None:
            return Credential(creds.inline.username, Sensitive(creds.inline.password.get_secret_value()), "inline")
        if creds.from_env is not None:
            env = creds.from_env
            username, password = _both(
                lambda: creds.username or self._env(registry, "fromEnv.username", env.username or ""),
                lambda: self._env(registry, "fromEnv.password", env.password))
            self._check_username(registry, "fromEnv.username", username)
            return Credential(username, Sensitive(password), f"env {env.password}")
        if creds.from_file is not None:
            files = creds.from_file
            username, password = _both(
                lambda: creds.username or self._file(registry, "fromFile.username", files.username or ""),
                lambda: self._file(registry, "fromFile.password", files.password))
            self._check_username(registry, "fromFile.username", username)
            return Credential(username, Sensitive(password), f"file {files.password}")
        if creds.docker_config is not None:
            return self._docker_config(registry)
        raise AssertionError(f"{creds.kind} credentials are never read")

    def _docker_config(self, registry: Registry) -> Credential:
        source = registry.credentials.docker_config
        assert source is not None
        path = self.base_dir / source.path
        raw = self._read_file(registry, "dockerConfig.path", path, MAX_CONFIG_BYTES)
        try:
            load_json(raw, str(path), error=CredentialError)  # nesting limit before the parser recurses
        except (CredentialError, ValueError) as exc:
            if isinstance(exc, CredentialError):
                raise self._problem(registry, "dockerConfig.path",
                                    f"registry {registry.name!r}: {path}: {exc.problems[0].message}") from None
        try:
            entries = parse_dockerconfigjson(raw)
        except InvalidDockerConfig as exc:
            raise self._problem(registry, "dockerConfig.path", f"registry {registry.name!r}: {path}: {exc}") from None
        if not entries:
            try:
                entries = parse_dockercfg(raw)
            except InvalidDockerConfig:
                entries = {}
        wanted = normalize_server(source.server or registry.server)
        for key, entry in entries.items():
            try:
                matches = normalize_server(key) == wanted
            except InvalidServer:
                matches = False
            if matches and entry.password:
                username = registry.credentials.username or entry.username
                self._check_username(registry, "dockerConfig.path", username)
                return Credential(username, Sensitive(entry.password), f"docker config {source.path}")
        keys = ", ".join(sorted(entries)) or "none"
        raise self._problem(registry, "dockerConfig.path",
                            f"registry {registry.name!r}: {path} has no credential for {wanted!r} (keys: {keys})")

    def _check_username(self, registry: Registry, field: str, username: str) -> None:
        try:
            check_username(username)
        except ValueError as exc:
            raise self._problem(registry, field, f"registry {registry.name!r}: {exc}") from None

    def _read_file(self, registry: Registry, field: str, path: Path, limit: int) -> bytes:
        try:
            return read_bytes(path, what="credential file", limit=limit, error=CredentialError)
        except CredentialError as exc:
            message = exc.problems[0].message
            reason = message.replace("cannot read:", f"cannot read {path}:", 1) if message.startswith(
                "cannot read:") else f"{path}: {message}"
            raise self._problem(registry, field, f"registry {registry.name!r}: {reason}") from None

    def _env(self, registry: Registry, field: str, name: str) -> str:
        value = self.environ.get(name)
        if value is None:
            raise self._problem(registry, field, f"registry {registry.name!r}: environment variable {name} is not set")
        if not value:
            raise self._problem(registry, field, f"registry {registry.name!r}: environment variable {name} is empty")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # undecodable bytes (surrogate escapes) from the OS environment
            raise self._problem(registry, field, f"registry {registry.name!r}: environment variable {name} "
                                                 "is not valid UTF-8") from None
        return value

    def _file(self, registry: Registry, field: str, name: str) -> str:
        path = self.base_dir / name
        raw = self._read_file(registry, field, path, MAX_CREDENTIAL_BYTES)
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self._problem(registry, field, f"registry {registry.name!r}: {path} is not UTF-8 text") from None
        value = value[:-1] if value.endswith("\n") else value
        value = value[:-1] if value.endswith("\r") else value
        if not value:
            raise self._problem(registry, field, f"registry {registry.name!r}: {path} is empty")
        return value


def _both(username: Callable[[], str], password: Callable[[], str]) -> tuple[str, str]:
    """Read the username and the password; when either fails, report both failures at once."""
    values: list[str] = []
    problems: list[Problem] = []
    for read in (username, password):
        try:
            values.append(read())
        except CredentialError as exc:
            problems.extend(exc.problems)
            values.append("")
    if problems:
        raise CredentialError(problems[0].message, problems)
    return values[0], values[1]
