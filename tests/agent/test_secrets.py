"""The site's age identity and its secrets: made on first use with mode 0600 and kept across
restarts (a loose mode is tightened), a broken identity file is a clear stall; secrets encrypted to
the site decrypt in memory, while another site's ciphertext, a damaged one or binary plaintext is
``SecretDecryptFailed`` naming the secret and never its value."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pyrage import x25519

from aiedge.agent.errors import SecretDecryptFailed, Stalled
from aiedge.agent.secrets import load_identity, secrets_fingerprint
from aiedge.contracts import DesiredApp
from aiedge.gitops.age import encrypt

IMAGE = "reg.example.com/team/m@sha256:" + "ab" * 32


def _app(secrets: dict[str, str]) -> DesiredApp:
    return DesiredApp(name="housing", model="m", image=IMAGE, secrets=secrets)


def test_identity_is_made_once_with_mode_0600_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "data" / "age-identity.txt"
    first = load_identity(path)
    assert first.recipient.startswith("age1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert f"# public key: {first.recipient}\n" in text and "AGE-SECRET-KEY-1" in text
    assert "AGE-SECRET-KEY" not in repr(first)
    assert load_identity(path).recipient == first.recipient  # a restart keeps the key
    path.chmod(0o644)
    assert load_identity(path).recipient == first.recipient
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_a_broken_identity_file_stalls_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "age-identity.txt"
    path.write_text("# public key: age1...\nnot a key\n")
    with pytest.raises(Stalled, match=r"age-identity\.txt: expected one AGE-SECRET-KEY-1"):
        load_identity(path)


def test_secrets_decrypt_only_with_the_sites_own_identity(tmp_path: Path) -> None:
    site = load_identity(tmp_path / "a" / "age-identity.txt")
    other = load_identity(tmp_path / "b" / "age-identity.txt")
    app = _app({"API_KEY": encrypt(b"hunter2", site.recipient), "EMPTY": encrypt(b"", site.recipient)})
    assert site.env_for(app) == {"API_KEY": "hunter2", "EMPTY": ""}
    with pytest.raises(SecretDecryptFailed) as e:
        other.env_for(app)
    message = str(e.value)
    assert e.value.reason == "SecretDecryptFailed"
    assert "secret API_KEY of app housing does not decrypt" in message and other.recipient in message
    assert "hunter2" not in message


def test_damaged_and_binary_secrets_fail_by_name(tmp_path: Path) -> None:
    site = load_identity(tmp_path / "age-identity.txt")
    good = encrypt(b"v", site.recipient)
    damaged = good.replace(good.splitlines()[2], "A" * len(good.splitlines()[2]))
    with pytest.raises(SecretDecryptFailed, match="secret TOKEN of app housing does not decrypt"):
        site.env_for(_app({"TOKEN": damaged}))
    with pytest.raises(SecretDecryptFailed, match="secret BLOB of app housing is not UTF-8 text"):
        site.env_for(_app({"BLOB": encrypt(b"\xff\xfe", site.recipient)}))
    with pytest.raises(SecretDecryptFailed, match="holds a NUL byte"):
        site.env_for(_app({"NUL": encrypt(b"a\0b", site.recipient)}))


def test_fingerprint_follows_the_ciphertexts_not_the_identity() -> None:
    recipient = str(x25519.Identity.generate().to_public())
    one, two = encrypt(b"same", recipient), encrypt(b"same", recipient)
    assert one != two  # age is randomized: a re-encrypted value is a new ciphertext
    assert secrets_fingerprint(_app({"K": one})) == secrets_fingerprint(_app({"K": one}))
    assert secrets_fingerprint(_app({"K": one})) != secrets_fingerprint(_app({"K": two}))


def test_wire_form_omits_empty_secrets_and_round_trips() -> None:
    plain = _app({})
    assert "secrets" not in plain.model_dump_json()
    with_secret = _app({"K": "-----BEGIN AGE ENCRYPTED FILE-----\n...\n-----END AGE ENCRYPTED FILE-----\n"})
    assert DesiredApp.model_validate_json(with_secret.model_dump_json()) == with_secret
