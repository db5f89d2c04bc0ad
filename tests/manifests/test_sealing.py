"""The SealedSecrets: sealed (kubeseal's HybridEncrypt) for the namespace/name they render to."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag

from tooling import repo, sealing
from tooling.manifests.render import render
from tooling.manifests.rendered import from_rendered


@pytest.fixture(scope="module")
def keypair(fixtures_dir):
    d = fixtures_dir / "sealing"
    return (d / "tls.crt").read_bytes(), (d / "tls.key").read_bytes()


def test_round_trip_and_scope(keypair):
    cert, key = keypair
    label = sealing.scope_label("geozarr", "geozarr-s3-credentials")
    sealed = sealing.seal(cert, b"secret", label)
    assert sealing.unseal(key, sealed, label) == b"secret"
    with pytest.raises(ValueError):  # RSA-OAEP label mismatch: another namespace cannot unseal it
        sealing.unseal(key, sealed, sealing.scope_label("geozarr-staging", "geozarr-s3-credentials"))


def test_tampered_value_is_refused(keypair):
    cert, key = keypair
    label = b"ns/name"
    raw = bytearray(__import__("base64").b64decode(sealing.seal(cert, b"secret", label)))
    raw[-1] ^= 1
    with pytest.raises(InvalidTag):
        sealing.unseal(key, __import__("base64").b64encode(bytes(raw)).decode(), label)


@pytest.mark.parametrize("env", repo.ENVS)
def test_committed_secrets_unseal_where_they_render(env, keypair):
    _, key = keypair
    docs = [d for d in from_rendered(render(env), repo.overlay_dir(env), env).docs if d.kind == "SealedSecret"]
    assert {d.name for d in docs} == {"geozarr-s3-credentials", "geozarr-stac-api-token", "geozarr-alert-receivers"}
    for d in docs:
        label = sealing.scope_label(d.namespace, d.name)
        for k, v in d.obj["spec"]["encryptedData"].items():
            assert sealing.unseal(key, v, label), f"{d.name}.{k}"


def test_cli(capsys, fixtures_dir):
    code = sealing.main(["--cert", str(fixtures_dir / "sealing/tls.crt"), "--namespace", "ns", "--name", "n", "token=x"])
    assert code == 0 and "kind: SealedSecret" in capsys.readouterr().out
    assert sealing.main(["--cert", "/nonexistent", "--namespace", "ns", "--name", "n", "token=x"]) == 2
    assert sealing.main(["--cert", str(fixtures_dir / "sealing/tls.crt"), "--namespace", "ns", "--name", "n", "novalue"]) == 2
