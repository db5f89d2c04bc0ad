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
def test_committed_secrets_are_not_readable_with_the_test_key(env, keypair):
    """Issue 9, case 7: what an env commits is sealed with the env's certificate, never with the
    throwaway test certificate whose key is committed."""
    _, key = keypair
    docs = [d for d in from_rendered(render(env), repo.overlay_dir(env), env).docs if d.kind == "SealedSecret"]
    assert {d.name for d in docs} == {"geozarr-s3-credentials", "geozarr-stac-api-token",
                                      "geozarr-pgstac-backup", "geozarr-alert-receivers"}
    assert sealing.check_test_key(docs, repo.TEST_SEALING_KEY) == []
    for d in docs:
        for v in d.obj["spec"]["encryptedData"].values():
            with pytest.raises(ValueError):
                sealing.unseal(key, v, sealing.scope_label(d.namespace, d.name))


def test_test_key_rule_fires_on_a_secret_sealed_with_the_test_certificate(fixtures_dir):
    from tooling.schema.documents import read_documents

    bad, _ = read_documents(fixtures_dir / "sealing" / "test-key-sealed.invalid.yaml")
    found = sealing.check_test_key(bad, repo.TEST_SEALING_KEY)
    assert [(f.rule, f.path, f.name) for f in found] == [
        ("sealing.test-key", "spec.encryptedData.AWS_ACCESS_KEY_ID", "geozarr-s3-credentials"),
        ("sealing.test-key", "spec.encryptedData.AWS_SECRET_ACCESS_KEY", "geozarr-s3-credentials")]
    good, _ = read_documents(fixtures_dir / "sealing" / "env-cert-sealed.valid.yaml")
    assert sealing.check_test_key(good, repo.TEST_SEALING_KEY) == []


def test_envs_certificates_are_marked_placeholders_until_fetched():
    for env in repo.ENVS:
        assert sealing.is_placeholder(repo.sealing_cert_path(env).read_bytes()), env


def test_cli_reads_values_from_a_file_or_stdin_never_argv(capsys, fixtures_dir, tmp_path, monkeypatch, keypair):
    import io

    import yaml

    cert = str(fixtures_dir / "sealing/tls.crt")
    values = tmp_path / "values.env"
    values.write_text("# comment\ntoken=x=y\n")
    assert sealing.main(["--cert", cert, "--namespace", "ns", "--name", "n", "--from-env-file", str(values)]) == 0
    doc = yaml.safe_load(capsys.readouterr().out)
    assert sealing.unseal(keypair[1], doc["spec"]["encryptedData"]["token"], b"ns/n") == b"x=y"
    monkeypatch.setattr("sys.stdin", io.StringIO("token=from-stdin\n"))
    assert sealing.main(["--env", "staging", "--namespace", "ns", "--name", "n", "--from-env-file", "-"]) == 0
    out, err = capsys.readouterr()
    assert "kind: SealedSecret" in out and "PLACEHOLDER" in err
    assert sealing.main(["--cert", cert, "--namespace", "ns", "--name", "n", "token=x"]) == 2
    assert sealing.main(["--cert", "/nonexistent", "--namespace", "ns", "--name", "n",
                         "--from-env-file", str(values)]) == 2
    values.write_text("novalue\n")
    assert sealing.main(["--cert", cert, "--namespace", "ns", "--name", "n", "--from-env-file", str(values)]) == 2
    err = capsys.readouterr().err
    assert "line 1: expected KEY=VALUE" in err and "Traceback" not in err


def test_the_test_key_check_through_the_cache_is_the_check(fixtures_dir, tmp_path):
    """validate remembers the check's findings per exact SealedSecrets; the key's RSA check is
    remembered per exact key bytes: both read back the same verdicts, and other secrets miss."""
    from tooling.manifests import validate
    from tooling.manifests.toolcache import ToolCache
    from tooling.schema.documents import read_documents

    cache = ToolCache(tmp_path / "cache")
    bad, _ = read_documents(fixtures_dir / "sealing" / "test-key-sealed.invalid.yaml")
    good, _ = read_documents(fixtures_dir / "sealing" / "env-cert-sealed.valid.yaml")
    expected = sealing.check_test_key(bad, repo.TEST_SEALING_KEY)
    assert expected and validate.check_test_key(bad, cache) == expected
    assert validate.check_test_key(bad, cache) == expected  # read back
    assert validate.check_test_key(good, cache) == [] == sealing.check_test_key(good, repo.TEST_SEALING_KEY, cache)
    assert sealing.check_test_key(bad, repo.TEST_SEALING_KEY, cache) == expected  # key check remembered
    assert list(cache.directory.glob("rsa-key-checked-*.txt"))
