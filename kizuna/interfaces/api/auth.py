"""Bearer tokens for the API: bound to one node and one role, HMAC-signed per node.

A token is ``kz1.<payload>.<signature>``: ``payload`` is base64url JSON
``{"v": 1, "node", "role", "agreement", "iat", "exp", "jti"}`` and ``signature`` is
base64url HMAC-SHA256 of ``kz1.<payload>`` under the node's key. The key is 32 random bytes
kept in the node's data directory (``<data-dir>/<NODE>/api-token.key``), created with mode
0600 on first use and never stored in the repository. A token signed by one node's key is
meaningless to another node, and a token naming another node is refused before its signature
is even looked at.

Roles: ``viewer`` reads the picture; ``operator`` may also submit reports.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kizuna.errors import ConfigError, KizunaError

Role = Literal["viewer", "operator"]
ROLES: tuple[Role, ...] = ("viewer", "operator")
PREFIX = "kz1"
KEY_FILE = "api-token.key"
DEFAULT_TTL_S = 24 * 3600.0
DATA_DIR_ENV = "KIZUNA_DATA_DIR"


class AuthError(KizunaError):
    """A request's credentials were refused; ``status`` is 401 (who are you) or 403 (no)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class Principal:
    """Who a verified token speaks for."""

    node: str
    role: Role
    agreement: str
    issued_at_s: float
    expires_at_s: float
    token_id: str

    def may(self, role: Role) -> bool:
        """True when this principal has at least ``role`` (operator > viewer)."""
        return ROLES.index(self.role) >= ROLES.index(role)


def default_data_dir() -> Path:
    """``$KIZUNA_DATA_DIR``, else ``./.kizuna`` (git-ignored)."""
    return Path(os.environ.get(DATA_DIR_ENV) or ".kizuna")


def node_data_dir(data_dir: str | Path | None, node_id: str) -> Path:
    """The data directory of one node: ``<data_dir>/<node_id>``."""
    return Path(data_dir if data_dir is not None else default_data_dir()) / node_id


def load_or_create_key(node_dir: str | Path) -> bytes:
    """The node's token key, created (32 random bytes, mode 0600) when absent.

    Refuses a key file that group or others may read or write (as ssh does): a leaked key lets
    anyone mint operator tokens.
    """
    directory = Path(node_dir)
    path = directory / KEY_FILE
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ConfigError(
            f"cannot create the token key: {exc.strerror}", source=str(path)
        ) from None
    else:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the token key: {exc.strerror}", source=str(path)) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"the token key is accessible to other users (mode {stat.S_IMODE(mode):o}); "
            "run chmod 600 on it",
            source=str(path),
        )
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ConfigError("the token key is not hex", source=str(path)) from None
    if len(key) < 16:
        raise ConfigError("the token key is shorter than 16 bytes", source=str(path))
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(key: bytes, message: str) -> str:
    return _b64(hmac.new(key, message.encode("ascii"), hashlib.sha256).digest())


def issue_token(
    key: bytes,
    *,
    node: str,
    role: Role,
    agreement: str,
    ttl_s: float = DEFAULT_TTL_S,
    now_s: float | None = None,
) -> str:
    """A signed token for ``node`` with ``role``, valid ``ttl_s`` seconds from now."""
    if role not in ROLES:
        raise ConfigError(f"role must be one of {', '.join(ROLES)}; got {role!r}", field="role")
    if not ttl_s > 0:
        raise ConfigError("the token lifetime must be positive", field="ttl")
    issued = time.time() if now_s is None else float(now_s)
    payload = {
        "v": 1,
        "node": node,
        "role": role,
        "agreement": agreement,
        "iat": int(issued),
        "exp": int(issued + ttl_s),
        "jti": secrets.token_hex(8),
    }
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    message = f"{PREFIX}.{body}"
    return f"{message}.{_sign(key, message)}"


def verify_token(
    token: str | None,
    key: bytes,
    *,
    node: str,
    agreement: str,
    now_s: float | None = None,
) -> Principal:
    """The principal of a valid token for this node, else :class:`AuthError` (401 or 403)."""
    if not token:
        raise AuthError(401, "missing bearer token (send `Authorization: Bearer <token>`)")
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise AuthError(401, "malformed token (expected kz1.<payload>.<signature>)")
    try:
        payload = json.loads(_unb64(parts[1]))
    except (ValueError, UnicodeDecodeError):
        raise AuthError(401, "malformed token payload") from None
    if not isinstance(payload, dict) or payload.get("v") != 1:
        raise AuthError(401, "unsupported token version")
    claimed = payload.get("node")
    if claimed != node:
        # Denied whatever the signature says: this node never serves another node's clients.
        raise AuthError(403, f"token is for node {claimed!r}; this is node {node!r}")
    expected = _sign(key, f"{parts[0]}.{parts[1]}")
    if not hmac.compare_digest(expected, parts[2]):
        raise AuthError(401, "invalid token signature")
    if payload.get("agreement") != agreement:
        raise AuthError(
            403, f"token was issued under agreement {payload.get('agreement')!r}, not {agreement!r}"
        )
    role = payload.get("role")
    if role not in ROLES:
        raise AuthError(401, "token has no valid role")
    now = time.time() if now_s is None else float(now_s)
    try:
        issued, expires = float(payload["iat"]), float(payload["exp"])
    except (KeyError, TypeError, ValueError):
        raise AuthError(401, "token has no validity period") from None
    if now >= expires:
        raise AuthError(401, "token has expired; ask for a new one (`kizuna token`)")
    return Principal(
        node=node,
        role=role,
        agreement=agreement,
        issued_at_s=issued,
        expires_at_s=expires,
        token_id=str(payload.get("jti", "")),
    )


__all__ = [
    "DATA_DIR_ENV",
    "KEY_FILE",
    "ROLES",
    "AuthError",
    "Principal",
    "Role",
    "default_data_dir",
    "issue_token",
    "load_or_create_key",
    "node_data_dir",
    "verify_token",
]
