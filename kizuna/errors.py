"""One family of errors for the whole project.

Every error raised on purpose by kizuna derives from :class:`KizunaError`, so callers (the CLI,
the API) can turn them into a clear message without catching unrelated bugs.
"""

from __future__ import annotations


class KizunaError(Exception):
    """Base of every deliberate kizuna error."""


class InputError(KizunaError, ValueError):
    """Input that does not satisfy the contract.

    ``source`` names where it came from (a file and line, a node), ``field`` the offending
    field as a dotted path, and ``reason`` what is wrong with it.
    """

    def __init__(self, reason: str, *, field: str | None = None, source: str | None = None):
        self.reason = reason
        self.field = field
        self.source = source
        where = f"{source}: " if source else ""
        what = f"{field}: " if field else ""
        super().__init__(f"{where}{what}{reason}")


class ConfigError(InputError):
    """A scenario, agreement or other configuration file is invalid."""


class PhysicsError(KizunaError):
    """A physics computation has no solution for the given inputs (e.g. unreachable range)."""


class PolicyError(KizunaError):
    """A release was refused by the sharing policy."""
