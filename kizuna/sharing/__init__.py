"""sharing: the agreement, markings and release policy, and the buses between nodes.

Public API (what the node runtime and the interfaces call)::

    from kizuna.sharing import load_agreement, decide, remark, route, Envelope
    from kizuna.sharing import Bus, InProcessHub            # laptop mode
    from kizuna.sharing.nats_bus import NatsBus              # federation (imports nats-py)

:func:`decide` is the one release decision every egress asks; :func:`route` applies it at
every hop of a multi-link path; :func:`remark` applies an agreement's overriding rules to a
derived product's combined marking and records the rule in ``Marking.released_by``.
"""

from kizuna.sharing.agreement import (
    DEFAULT_AGREEMENT,
    PRODUCT_KINDS,
    Agreement,
    load_agreement,
    parse_agreement,
    shipped_agreements,
    to_posix,
)
from kizuna.sharing.bus import Bus, BusEvent, Delivery, InProcessBus, InProcessHub
from kizuna.sharing.envelope import Envelope
from kizuna.sharing.policy import Decision, Routing, decide, remark, remark_product, route

__all__ = [
    "DEFAULT_AGREEMENT",
    "PRODUCT_KINDS",
    "Agreement",
    "Bus",
    "BusEvent",
    "Decision",
    "Delivery",
    "Envelope",
    "InProcessBus",
    "InProcessHub",
    "Routing",
    "decide",
    "load_agreement",
    "parse_agreement",
    "remark",
    "remark_product",
    "route",
    "shipped_agreements",
    "to_posix",
]
