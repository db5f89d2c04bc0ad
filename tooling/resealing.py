"""Re-seal every SealedSecret of an env for a new sealed-secrets controller certificate (key
rotation, or a cluster rebuilt with a new key): `invoke seal --reseal --env ENV --old-key OLD.pem
--cert NEW.pem`. Each value is unsealed with the old private key (from its custody backup,
docs/runbooks/sealing-key.md) and sealed again for the new certificate, with the same scope
label, through tooling.sealing. All or nothing: every value is re-sealed in memory first; a value
the old key cannot open stops the run before any file is written. Comments above the documents
are kept; the files are rewritten atomically.
"""

from __future__ import annotations

import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography.exceptions import InvalidTag

from tooling import repo, sealing, yamlio

CLUSTER_WIDE = "sealedsecrets.bitnami.com/cluster-wide"
NAMESPACE_WIDE = "sealedsecrets.bitnami.com/namespace-wide"


class ResealError(Exception):
    """Nothing was written (exit 2)."""


@dataclass
class Resealed:
    path: Path
    text: str
    values: int


def scope_label(doc: dict[str, Any], namespace: str) -> bytes:
    """The label the controller unseals DOC's values with (its scope annotations decide)."""
    meta = doc.get("metadata") or {}
    annotations = {
        **(meta.get("annotations") or {}),
        **(((doc.get("spec") or {}).get("template") or {}).get("metadata") or {}).get(
            "annotations", {}
        ),
    }
    if str(annotations.get(CLUSTER_WIDE, "")).lower() == "true":
        return b""
    if str(annotations.get(NAMESPACE_WIDE, "")).lower() == "true":
        return namespace.encode()
    return sealing.scope_label(namespace, str(meta.get("name", "")))


def reseal_document(
    doc: dict[str, Any], namespace: str, old_key: bytes, new_cert: bytes, where: str
) -> int:
    """Re-seal DOC's encryptedData in place; the number of values."""
    ns = (doc.get("metadata") or {}).get("namespace") or namespace
    if ns != namespace:
        raise ResealError(
            f"{where}: SealedSecret {doc['metadata'].get('name')} is for namespace {ns!r}, "
            f"the env renders into {namespace!r}"
        )
    label = scope_label(doc, namespace)
    data = (doc.get("spec") or {}).get("encryptedData") or {}
    for key, value in data.items():
        try:
            plain = sealing.unseal(old_key, value, label)
        except (ValueError, InvalidTag, struct.error) as e:  # not sealed for this key
            raise ResealError(
                f"{where}: {doc['metadata'].get('name')}.{key} does not unseal with the "
                f"old key ({type(e).__name__}): nothing was written"
            ) from e
        data[key] = sealing.seal(new_cert, plain, label)
    return len(data)


def _header(text: str) -> str:
    lines = []
    for line in text.splitlines(keepends=True):
        if not line.startswith("#"):
            break
        lines.append(line)
    return "".join(lines)


def reseal_file(path: Path, namespace: str, old_key: bytes, new_cert: bytes) -> Resealed:
    text = path.read_text()
    try:
        docs = [d for d in yamlio.load_all(text) if d is not None]
    except yaml.YAMLError as e:
        raise ResealError(f"{repo.relpath(path)}: not YAML ({e})") from e
    values = sum(
        reseal_document(d, namespace, old_key, new_cert, repo.relpath(path))
        for d in docs
        if isinstance(d, dict) and d.get("kind") == "SealedSecret"
    )
    body = yaml.safe_dump_all(docs, sort_keys=False, width=10_000)
    return Resealed(path, _header(text) + body, values)


def reseal_dir(secrets: Path, namespace: str, old_key: bytes, new_cert: bytes) -> list[Resealed]:
    """Every SealedSecret file under SECRETS re-sealed, then written (only if all succeeded)."""
    files = sorted(p for p in secrets.rglob("*") if p.suffix in (".yaml", ".yml"))
    done = [r for r in (reseal_file(p, namespace, old_key, new_cert) for p in files) if r.values]
    for r in done:
        tmp = r.path.with_name(r.path.name + ".partial")
        tmp.write_text(r.text)
        tmp.replace(r.path)
    return done


def main(env: str, old_key: str, cert: str, secrets_dir: str = "") -> int:
    from tooling.envconfig import EnvConfigError, read_env_config

    try:
        namespace = read_env_config(env).namespace
        secrets = Path(secrets_dir) if secrets_dir else repo.overlay_dir(env) / "secrets"
        old_pem, new_pem = Path(old_key).read_bytes(), Path(cert).read_bytes()
        sealing.seal(new_pem, b"probe", b"")  # a readable RSA certificate, before touching files
        done = reseal_dir(secrets, namespace, old_pem, new_pem)
    except (EnvConfigError, ResealError, ValueError, TypeError) as e:
        print(f"seal --reseal: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"seal --reseal: {e.filename}: {e.strerror}", file=sys.stderr)
        return 2
    for r in done:
        print(f"resealed {r.values} value(s) in {repo.relpath(r.path)}")
    if not done:
        print(f"seal --reseal: no SealedSecret under {repo.relpath(secrets)}", file=sys.stderr)
        return 2
    return 0
