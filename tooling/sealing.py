"""Seal values into a SealedSecret the way `kubeseal` does (bitnami-labs/sealed-secrets).

Each value is `HybridEncrypt`ed: a random AES-256 key is RSA-OAEP(SHA-256) encrypted with the
controller's public certificate, the value AES-GCM encrypted with that key (12 zero bytes of nonce,
no AAD), and the label binds the ciphertext to where it may be unsealed: "namespace/name" for the
default strict scope. Kustomize's `namespace:` changes what the controller sees, so seal for the
rendered namespace and name.

    uv run python -m tooling.sealing --cert CERT.pem --namespace NS --name NAME KEY=VALUE…

prints the SealedSecret YAML. `unseal` (with the private key) exists for tests.
"""

from __future__ import annotations

import argparse
import base64
import os
import struct
import sys
from functools import lru_cache

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE = b"\0" * 12


def _oaep(label: bytes) -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label)


def scope_label(namespace: str, name: str) -> bytes:
    """The strict-scope label: the value unseals only as NAME in NAMESPACE."""
    return f"{namespace}/{name}".encode()


def seal(cert_pem: bytes, value: bytes, label: bytes) -> str:
    """One `encryptedData` value (base64) for a certificate's public key."""
    public = x509.load_pem_x509_certificate(cert_pem).public_key()
    if not isinstance(public, rsa.RSAPublicKey):
        raise TypeError("the sealing certificate must hold an RSA key")
    session_key = os.urandom(32)
    rsa_ct = public.encrypt(session_key, _oaep(label))
    aes_ct = AESGCM(session_key).encrypt(_NONCE, value, None)
    return base64.b64encode(struct.pack(">H", len(rsa_ct)) + rsa_ct + aes_ct).decode()


@lru_cache(maxsize=2)
def _private_key(key_pem: bytes) -> rsa.RSAPrivateKey:
    private = serialization.load_pem_private_key(key_pem, password=None)  # ~0.5 s for RSA-4096
    if not isinstance(private, rsa.RSAPrivateKey):
        raise TypeError("the sealing key must be an RSA key")
    return private


def unseal(key_pem: bytes, sealed: str, label: bytes) -> bytes:
    """The plaintext of one `encryptedData` value (needs the controller's private key)."""
    private = _private_key(key_pem)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tooling.sealing", description=__doc__.splitlines()[0])
    parser.add_argument("--cert", required=True, help="the sealed-secrets controller's certificate (PEM)")
    parser.add_argument("--namespace", required=True, help="the rendered namespace of the Secret")
    parser.add_argument("--name", required=True, help="the Secret's name")
    parser.add_argument("pairs", nargs="+", metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    data: dict[str, str] = {}
    for pair in args.pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            print(f"sealing: expected KEY=VALUE, got {pair!r}", file=sys.stderr)
            return 2
        data[key] = value
    try:
        with open(args.cert, "rb") as f:
            doc = sealed_secret(f.read(), args.namespace, args.name, data)
    except (OSError, ValueError, TypeError) as e:
        print(f"sealing: {args.cert}: {e}", file=sys.stderr)
        return 2
    sys.stdout.write(yaml.safe_dump(doc, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
