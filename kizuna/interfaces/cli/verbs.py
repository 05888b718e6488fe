"""Imports every verb module so that each registers its commands on the app.

Add one line per verb module; keep the list sorted.
"""

from __future__ import annotations

from kizuna.interfaces.cli import agreement  # noqa: F401
from kizuna.interfaces.cli import audit  # noqa: F401
from kizuna.interfaces.cli import demo  # noqa: F401
from kizuna.interfaces.cli import evaluate  # noqa: F401
from kizuna.interfaces.cli import natsconfig  # noqa: F401
from kizuna.interfaces.cli import report  # noqa: F401
from kizuna.interfaces.cli import simulate  # noqa: F401
from kizuna.interfaces.cli import token  # noqa: F401
from kizuna.interfaces.cli import track  # noqa: F401
from kizuna.interfaces.cli import trajectory  # noqa: F401
