"""``EncryptedFileSecretStore``: registry tokens at rest on one machine.

- The Fernet key lives in ``<data_dir>/secret.key``, mode 0600. It is created exclusively
  (``O_CREAT | O_EXCL``, mode 0600) under a temporary name, then hard-linked into place, so a
  concurrent starter never sees a half-written key and never overwrites an existing one. An
  existing key file that group or others may read is refused: the secrets are only as private as
  that file, and fixing its mode is the operator's decision, not ours to make silently.
- The secrets (``credential_id -> {username, token}``) are one JSON document encrypted as a whole
  with Fernet (AES-CBC + HMAC), in ``<data_dir>/secrets.enc``: neither tokens nor usernames
  nor even the credential ids are readable without the key, and tampering is detected. Writes
  replace the file atomically (a 0600 temp file, fsync, rename), under a thread lock and an
  ``flock`` so concurrent writers never lose each other's changes.
- Tokens are ``SecretStr`` on the way in and out; nothing here logs or reprs one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr

from imagedeploy.adapters.local.datadir import ensure_private_dir, is_storage_error
from imagedeploy.domain.errors import StorageUnavailable

logger = logging.getLogger(__name__)

KEY_FILE = "secret.key"
SECRETS_FILE = "secrets.enc"
_LOCK_FILE = "secrets.lock"
_FORMAT_VERSION = 1


class SecretStoreError(RuntimeError):
    """The secret store cannot be used as it is on disk (permissions, a replaced key, a damaged
    file); the message says which file and what to do."""


class EncryptedFileSecretStore:
    """The ``SecretStore`` port in a Fernet-encrypted file under ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        ensure_private_dir(self.data_dir)
        self._fernet = Fernet(load_or_create_key(self.data_dir / KEY_FILE))
        self._path = self.data_dir / SECRETS_FILE
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"EncryptedFileSecretStore(data_dir={str(self.data_dir)!r})"

    def put(self, credential_id: str, username: str, token: SecretStr) -> None:
        with self._locked():
            secrets = self._read()
            secrets[credential_id] = {"username": username, "token": token.get_secret_value()}
            self._write(secrets)
        logger.info("registry secret stored", extra={"credential_id": credential_id})

    def get(self, credential_id: str) -> SecretStr | None:
        entry = self._read().get(credential_id)
        return None if entry is None else SecretStr(entry["token"])

    def delete(self, credential_id: str) -> None:
        """Deleting a secret that is not there is not an error (deletes are retried)."""
        with self._locked():
            secrets = self._read()
            if secrets.pop(credential_id, None) is not None:
                self._write(secrets)
                logger.info("registry secret deleted", extra={"credential_id": credential_id})

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialize read-modify-write cycles between threads and between processes."""
        with self._lock:
            try:
                fd = os.open(self.data_dir / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                if not is_storage_error(exc):
                    raise
                raise _unavailable(exc) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # releases the flock

    def _read(self) -> dict[str, dict[str, str]]:
        try:
            blob = self._path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            document = json.loads(self._fernet.decrypt(blob))
        except InvalidToken:
            raise SecretStoreError(
                f"{self._path} cannot be decrypted with {self.data_dir / KEY_FILE}: the key was "
                "replaced or the file is damaged; restore the original key file, or delete both "
                "files and enter the registry credentials again"
            ) from None
        secrets: dict[str, dict[str, str]] = document["secrets"]
        return secrets

    def _write(self, secrets: dict[str, dict[str, str]]) -> None:
        try:
            self._replace(secrets)
        except OSError as exc:
            if not is_storage_error(exc):
                raise
            raise _unavailable(exc) from None

    def _replace(self, secrets: dict[str, dict[str, str]]) -> None:
        plain = json.dumps({"version": _FORMAT_VERSION, "secrets": secrets}).encode()
        blob = self._fernet.encrypt(plain)
        tmp = self._path.with_name(f".{SECRETS_FILE}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.unlink(missing_ok=True)  # left over by a crash; we hold the lock
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                os.fchmod(out.fileno(), 0o600)  # whatever the umask
                out.write(blob)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self._path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(self.data_dir)


def _unavailable(exc: OSError) -> StorageUnavailable:
    return StorageUnavailable(
        "the registry credential could not be saved: the data directory's disk is full or "
        f"read-only ({os.strerror(exc.errno or 0)}); nothing was changed; free space or make it "
        "writable, then retry"
    )


def load_or_create_key(path: Path) -> bytes:
    """The Fernet key in ``path``, created (0600) the first time; the SQLite store seals its
    secret-bearing rows with the same key."""
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    key = Fernet.generate_key()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.unlink(missing_ok=True)  # left over by a crashed start that had the same pid
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            os.write(fd, key)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # atomic, and fails if another process created the key first
        except FileExistsError:
            pass  # theirs wins; read it below
        else:
            _fsync_dir(path.parent)
            logger.info("secret key created", extra={"path": str(path)})
    finally:
        tmp.unlink(missing_ok=True)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SecretStoreError(f"{path} is not a regular file")
        if info.st_mode & 0o077:
            raise SecretStoreError(
                f"{path} is accessible to group or others (mode {stat.filemode(info.st_mode)}); "
                f"the registry tokens are only as private as this key: run `chmod 600 {path}` "
                "and start again"
            )
        key = os.read(fd, 4096).strip()
    finally:
        os.close(fd)
    try:
        Fernet(key)
    except ValueError:
        raise SecretStoreError(
            f"{path} does not hold a valid key (32 url-safe base64-encoded bytes)"
        ) from None
    return key


def _fsync_dir(directory: Path) -> None:
    """Make a rename or link durable: it is an entry in the directory."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
