"""The release check every operator egress makes (API, WebSocket, web map, CoT).

A thin wrapper over :func:`kizuna.sharing.decide`, the project's one release decision: it is
asked for *every* product an interface is about to hand to a client, with the node the client
speaks for (from its token or certificate) as the destination. Nothing here widens or narrows
the policy; it only makes the call uniform and countable.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from kizuna.sharing import Agreement, Decision, Envelope, decide


def releasable(envelope: Envelope, to_node: str, agreement: Agreement) -> Decision:
    """May ``envelope``'s product be shown to a client of ``to_node``?

    Evaluated at the product's release instant (``envelope.time``), the same instant the bus
    decided at, so a replayed run shows exactly what was releasable when it happened.
    """
    return decide(
        envelope.kind,
        envelope.marking,
        envelope.originator,
        to_node,
        agreement,
        envelope.time,
    )


def filter_releasable(
    envelopes: Iterable[Envelope], to_node: str, agreement: Agreement
) -> Iterator[tuple[Envelope, Decision]]:
    """``(envelope, decision)`` for every envelope, allowed or not (callers count refusals)."""
    for envelope in envelopes:
        yield envelope, releasable(envelope, to_node, agreement)


__all__ = ["filter_releasable", "releasable"]
