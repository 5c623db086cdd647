"""The worker target where workers pay: clusters whose namespace Secrets are each sealed on their own.

With namespaces rendered by shape (genpolicy.render.shapes), a plain cluster renders in about a
tenth of a second and genpolicy does not fork for it (genpolicy.parallel). Sealing encrypts every
namespace's Secret separately (RSA-OAEP + AES-GCM), which is what two processes can split. This
turns the benchmark's generated spec into a Sealed Secrets one, with a certificate made here (its
private key is never written), and measures one worker, two workers and genpolicy's own choice.
Their `peak_rss_mib` is not a figure: a child started from the benchmark after it loaded the
floors' objects starts at that size (see bench_render.measure_rss; run alone, the default render of
10 x 500 sealed namespaces peaks at 128 MiB).
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any, Protocol

import yaml


class Bench(Protocol):
    spec: Path

    def full(self, **extra: str) -> Any: ...


def seal(spec: Path) -> None:
    """Every cluster of the generated spec seals its Secrets for a fresh certificate beside the spec."""
    certificate = spec.parent / "sealed-secrets.pem"
    certificate.write_bytes(_certificate())
    data = yaml.safe_load(spec.read_text())
    for cluster in data["clusters"]:
        cluster["backend"] = "sealed-secrets"
        cluster["sealedSecrets"] = {"certificate": certificate.name}
    spec.write_text(yaml.safe_dump(data, sort_keys=False))


def _certificate() -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # kept in memory only
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sealed-secret")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def measure(bench: Bench, summary: Any) -> dict[str, Any]:
    """One worker, two, and the default (no GENPOLICY_WORKERS) on the sealed spec; `summary` formats a run."""
    seal(bench.spec)
    serial = bench.full(GENPOLICY_WORKERS="1")
    two = bench.full(GENPOLICY_WORKERS="2")
    default = bench.full()
    return {"seconds": {"one_worker": summary(serial), "two_workers": summary(two), "default": summary(default)},
            "targets": {"two_worker_speed_up_wall": {"value": round(serial.wall / two.wall, 3), "target": ">= 1.8",
                                                     "met": serial.wall / two.wall >= 1.8}},
            "also": {"default_vs_two_workers_wall": round(default.wall / two.wall, 3)}}
