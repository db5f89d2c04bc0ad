"""Seal values into a SealedSecret the way `kubeseal` does (bitnami-labs/sealed-secrets).

Each value is `HybridEncrypt`ed: a random AES-256 key is RSA-OAEP(SHA-256) encrypted with the
controller's public certificate, the value AES-GCM encrypted with that key (12 zero bytes of nonce,
no AAD), and the label binds the ciphertext to where it may be unsealed: "namespace/name" for the
default strict scope. Kustomize's `namespace:` changes what the controller sees, so seal for the
rendered namespace and name.

    uv run python -m tooling.sealing --env ENV --namespace NS --name NAME --from-env-file FILE|-

prints the SealedSecret YAML. The values come from a file (or stdin: `-`) of `KEY=VALUE` lines,
never from the command line (which `ps` and the shell history show). `--env ENV` seals with the
env's certificate `overlays/ENV/sealing-cert.pem` (the controller's, from `kubeseal --fetch-cert`;
until it is fetched, a PLACEHOLDER certificate whose private key nobody has: the sealer says so);
`--cert CERT.pem` with any other. `unseal` (with the private key) exists for tests and for
`check_test_key`: a SealedSecret of an env that the committed test key can unseal is an error of
that env (`sealing.test-key`, run by `invoke validate`).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import os
import struct
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from conformance.findings import Finding, Rule, Severity

_NONCE = b"\0" * 12


def _oaep(label: bytes) -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label)


def scope_label(namespace: str, name: str) -> bytes:
    """The strict-scope label: the value unseals only as NAME in NAMESPACE."""
    return f"{namespace}/{name}".encode()


def seal(cert_pem: bytes, value: bytes, label: bytes) -> str:
    """One `encryptedData` value (base64) for a certificate's public key."""
    from cryptography import x509  # imported where used: `invoke validate` needs no certificate

    public = x509.load_pem_x509_certificate(cert_pem).public_key()
    if not isinstance(public, rsa.RSAPublicKey):
        raise TypeError("the sealing certificate must hold an RSA key")
    session_key = os.urandom(32)
    rsa_ct = public.encrypt(session_key, _oaep(label))
    aes_ct = AESGCM(session_key).encrypt(_NONCE, value, None)
    return base64.b64encode(struct.pack(">H", len(rsa_ct)) + rsa_ct + aes_ct).decode()


@lru_cache(maxsize=4)
def _private_key(key_pem: bytes, checked_before: bool = False) -> rsa.RSAPrivateKey:
    """The RSA key of KEY_PEM. Loading checks the key's consistency (~0.5 s for RSA-4096) unless
    CHECKED_BEFORE: these exact bytes passed that check already (see `_key_checked`)."""
    private = serialization.load_pem_private_key(key_pem, password=None,
                                                 unsafe_skip_rsa_key_validation=checked_before)
    if not isinstance(private, rsa.RSAPrivateKey):
        raise TypeError("the sealing key must be an RSA key")
    return private


def _key_checked(key_pem: bytes, cache: Any) -> bool:
    """Whether CACHE (a tooling.manifests.toolcache.ToolCache, or None) remembers that these exact
    key bytes loaded with the full key check; loads them with it once when it does not."""
    if cache is None:
        return False
    name = f"rsa-key-checked-{hashlib.sha256(key_pem).hexdigest()}.txt"
    if cache.read_text(name) == "checked":
        return True
    _private_key(key_pem)  # raises on a bad key: nothing is remembered
    cache.write_text(name, "checked")
    return True


def unseal(key_pem: bytes, sealed: str, label: bytes, checked_before: bool = False) -> bytes:
    """The plaintext of one `encryptedData` value (needs the controller's private key)."""
    private = _private_key(key_pem, checked_before)
    raw = base64.b64decode(sealed)
    (size,) = struct.unpack(">H", raw[:2])
    session_key = private.decrypt(raw[2 : 2 + size], _oaep(label))
    return AESGCM(session_key).decrypt(_NONCE, raw[2 + size :], None)


def sealed_secret(cert_pem: bytes, namespace: str, name: str, data: dict[str, str]) -> dict:
    """A SealedSecret (strict scope) whose controller makes Secret NAME in NAMESPACE."""
    label = scope_label(namespace, name)
    return {
        "apiVersion": "bitnami.com/v1alpha1",
        "kind": "SealedSecret",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "encryptedData": {k: seal(cert_pem, v.encode(), label) for k, v in sorted(data.items())},
            "template": {"metadata": {"name": name, "namespace": namespace}, "type": "Opaque"},
        },
    }


TEST_KEY = Rule("sealing.test-key", Severity.ERROR,
                "no SealedSecret of an env can be unsealed with the committed test key "
                "(tests/manifests/fixtures/sealing/tls.key): seal with the env's certificate")
PLACEHOLDER = "PLACEHOLDER"
_SCOPE_ANNOTATIONS = ("sealedsecrets.bitnami.com/cluster-wide", "sealedsecrets.bitnami.com/namespace-wide")


def _label_of(doc: Any) -> bytes:
    """The label the controller unseals DOC's values with (strict, namespace- or cluster-wide)."""
    annotations = (doc.obj.get("metadata") or {}).get("annotations") or {}
    if str(annotations.get(_SCOPE_ANNOTATIONS[0], "")).lower() == "true":
        return b""
    if str(annotations.get(_SCOPE_ANNOTATIONS[1], "")).lower() == "true":
        return doc.namespace.encode()
    return scope_label(doc.namespace, doc.name)


def _unseals(key_pem: bytes, value: object, label: bytes, checked_before: bool) -> bool:
    try:
        unseal(key_pem, str(value), label, checked_before)
    except Exception:  # noqa: BLE001 - any failure to decrypt means "not this key"
        return False
    return True


def check_test_key(docs: list[Any], key_path: Path, cache: Any = None) -> list[Finding]:
    """`sealing.test-key`: every value of every SealedSecret in DOCS that KEY_PATH unseals. CACHE
    (a ToolCache): remembers that the key's bytes passed the RSA key check, so that it is loaded
    without repeating it."""
    if not key_path.is_file():
        return []
    key_pem = key_path.read_bytes()
    try:
        checked = _key_checked(key_pem, cache)
    except Exception:  # noqa: BLE001 - a key that does not load unseals nothing
        return []
    found: list[Finding] = []
    for doc in docs:
        if doc.kind != "SealedSecret":
            continue
        data = (doc.obj.get("spec") or {}).get("encryptedData") or {}
        label = _label_of(doc)
        for key, value in sorted(data.items()) if isinstance(data, dict) else []:
            if _unseals(key_pem, value, label, checked):
                found.append(TEST_KEY.finding(
                    f"encryptedData.{key} is sealed with the committed throwaway test certificate: "
                    "anyone with this repository can read it; seal it with the env's certificate "
                    "(overlays/<env>/sealing-cert.pem, from `kubeseal --fetch-cert`)",
                    path=f"spec.encryptedData.{key}", **doc.where()))
    return found


def is_placeholder(cert_pem: bytes) -> bool:
    """Whether CERT_PEM is a placeholder certificate (not a controller's)."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    cert = x509.load_pem_x509_certificate(cert_pem)
    names = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return any(PLACEHOLDER in str(n.value) for n in names)


def placeholder_cert(env: str) -> bytes:
    """A self-signed certificate standing in for ENV's controller certificate until it is fetched:
    its private key is thrown away here, so what is sealed with it can be unsealed by nobody."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"{PLACEHOLDER}: replace with kubeseal --fetch-cert"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"geozarr {env} sealed-secrets placeholder"),
    ])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=3650)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def read_env_file(text: str) -> dict[str, str]:
    """`KEY=VALUE` lines (blank lines and `#` comments skipped); ValueError naming a bad line."""
    data: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"line {number}: expected KEY=VALUE")
        data[key.strip()] = value
    if not data:
        raise ValueError("no KEY=VALUE line")
    return data


class _Parser(argparse.ArgumentParser):
    """A usage error is one line and exit 2; a KEY=VALUE argument is told where values go."""

    def error(self, message: str) -> None:  # type: ignore[override]
        if "unrecognized arguments" in message and "=" in message:
            message = ("values are never taken from the command line (ps, shell history): "
                       "put KEY=VALUE lines in a file, or pipe them, with --from-env-file FILE|-")
        print(f"sealing: {message}", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m tooling.sealing", description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--env", help="seal with overlays/ENV/sealing-cert.pem")
    which.add_argument("--cert", help="seal with this certificate (PEM)")
    which.add_argument("--placeholder-cert-for", metavar="ENV",
                       help="print a new PLACEHOLDER certificate for ENV (its key is discarded)")
    parser.add_argument("--namespace", help="the rendered namespace of the Secret")
    parser.add_argument("--name", help="the Secret's name")
    parser.add_argument("--from-env-file", metavar="FILE",
                        help="KEY=VALUE lines to seal; '-' reads them from stdin")
    return parser


def _fail(message: str) -> int:
    print(f"sealing: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.placeholder_cert_for:
        sys.stdout.write(placeholder_cert(args.placeholder_cert_for).decode())
        return 0
    if not (args.namespace and args.name and args.from_env_file):
        return _fail("--namespace, --name and --from-env-file are required to seal")
    try:
        from tooling import repo

        cert_path = Path(args.cert) if args.cert else repo.sealing_cert_path(args.env)
        text = sys.stdin.read() if args.from_env_file == "-" else Path(args.from_env_file).read_text()
        data = read_env_file(text)
        cert_pem = cert_path.read_bytes()
        doc = sealed_secret(cert_pem, args.namespace, args.name, data)
    except (OSError, ValueError, TypeError) as e:
        return _fail(str(e))
    if is_placeholder(cert_pem):
        print(f"sealing: WARNING: {cert_path} is a PLACEHOLDER certificate: no controller can unseal "
              "this; fetch the env's with `kubeseal --fetch-cert` first", file=sys.stderr)
    sys.stdout.write(yaml.safe_dump(doc, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
