"""Sealing-key rotation with two throwaway keys: every SealedSecret of an env re-sealed for the new
certificate opens with the new key to the same values and no longer with the old one; a wrong old
key changes nothing."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tooling import repo, resealing, sealing

NAMESPACE = "geozarr-staging"  # overlays/staging/env.yaml


def _throwaway_key(tmp: Path, name: str) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"sealed-secret-{name}")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = tmp / f"{name}.key", tmp / f"{name}.crt"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


VALUES = {
    "geozarr-s3-credentials": {"AWS_ACCESS_KEY_ID": "AKIA-test", "AWS_SECRET_ACCESS_KEY": "s3cr3t"},
    "geozarr-stac-api-token": {"token": "t0ken"},
}


@pytest.fixture
def sealed_with_a(tmp_path: Path) -> tuple[Path, dict[str, tuple[Path, Path]]]:
    keys = {n: _throwaway_key(tmp_path, n) for n in ("a", "b")}
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    cert_a = keys["a"][1].read_bytes()
    for name, data in VALUES.items():
        doc = sealing.sealed_secret(cert_a, NAMESPACE, name, data)
        (secrets / f"{name}.yaml").write_text(
            "# a comment kept\n" + yaml.safe_dump(doc, sort_keys=False)
        )
    # namespace-wide scope: the label is the namespace alone
    wide = sealing.sealed_secret(cert_a, NAMESPACE, "wide", {})
    wide["metadata"]["annotations"] = {resealing.NAMESPACE_WIDE: "true"}
    wide["spec"]["encryptedData"] = {"v": sealing.seal(cert_a, b"wide-value", NAMESPACE.encode())}
    (secrets / "wide.yaml").write_text(yaml.safe_dump(wide, sort_keys=False))
    (secrets / "README.txt").write_text("not a manifest")
    return secrets, keys


def _open(secrets: Path, key: Path) -> dict[str, dict[str, bytes]]:
    out = {}
    for path in sorted(secrets.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        label = resealing.scope_label(doc, NAMESPACE)
        out[doc["metadata"]["name"]] = {
            k: sealing.unseal(key.read_bytes(), v, label)
            for k, v in doc["spec"]["encryptedData"].items()
        }
    return out


def test_reseal_moves_every_value_to_the_new_key(sealed_with_a, capsys) -> None:
    secrets, keys = sealed_with_a
    before = _open(secrets, keys["a"][0])
    assert resealing.main("staging", str(keys["a"][0]), str(keys["b"][1]), str(secrets)) == 0
    assert "resealed 2 value(s)" in capsys.readouterr().out
    assert _open(secrets, keys["b"][0]) == before
    assert before["wide"] == {"v": b"wide-value"}
    with pytest.raises(ValueError):
        _open(secrets, keys["a"][0])
    assert (secrets / "geozarr-stac-api-token.yaml").read_text().startswith("# a comment kept\n")


def test_wrong_old_key_changes_nothing(sealed_with_a, capsys) -> None:
    secrets, keys = sealed_with_a
    snapshot = {p.name: p.read_bytes() for p in secrets.iterdir()}
    assert resealing.main("staging", str(keys["b"][0]), str(keys["b"][1]), str(secrets)) == 2
    assert "does not unseal with the old key" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in secrets.iterdir()} == snapshot


def test_secrets_of_the_committed_shape_reseal(tmp_path: Path) -> None:
    """Secrets named and scoped like staging's committed ones, sealed with the old (test) key,
    move to a new key. (The committed ones are sealed with the env's certificate, whose key no
    one here holds: issue 9's sealing.test-key rule.)"""
    import yaml

    fixture = repo.ROOT / "tests" / "manifests" / "fixtures" / "sealing"
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    old_cert = (fixture / "tls.crt").read_bytes()
    for path in sorted((repo.overlay_dir("staging") / "secrets").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        meta = doc["metadata"]
        values = {k: f"placeholder-{k}" for k in doc["spec"]["encryptedData"]}
        sealed = sealing.sealed_secret(old_cert, meta["namespace"], meta["name"], values)
        (secrets / path.name).write_text(yaml.safe_dump(sealed, sort_keys=False))
    before = _open(secrets, fixture / "tls.key")
    new_key, new_cert = _throwaway_key(tmp_path, "new")
    assert resealing.main("staging", str(fixture / "tls.key"), str(new_cert), str(secrets)) == 0
    assert _open(secrets, new_key) == before and len(before) == 4
