"""Imports every verb module so that each registers its commands on the app.

Add each verb module to the import list; keep it sorted.
"""

from __future__ import annotations

from kizuna.interfaces.cli import (  # noqa: F401
    agreement,
    audit,
    demo,
    evaluate,
    natsconfig,
    report,
    run,
    simulate,
    token,
    track,
    trajectory,
)
