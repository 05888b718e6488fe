"""NATS subject and JetStream naming, shared by the NATS bus and the server-config generator.

A product released by nation ``O`` to nation ``D`` travels on

    kz.<O>.<D>.<kind>.<origin node>          e.g. kz.JPN.USA.report.JJOC

so that the server can enforce the agreement by subject alone: ``kz.O.D.<kind>.>`` crosses from
account ``O`` to account ``D`` only where a release rule allows it, and a node user may publish
only ``kz.<its nation>.<D>.<kind>.<itself>`` for those same ``D`` and kinds.
``D == O`` is the originating nation's own copy (delivery to its other nodes). A node's
heartbeat (:mod:`kizuna.sharing.watermark`) travels the same way as its reports, on

    kz.<O>.<D>.heartbeat.<origin node>       e.g. kz.JPN.USA.heartbeat.JJOC

to the nations its reports may reach, so it is ordered after them in each stream.

Each nation's account holds one stream, :data:`STREAM`, capturing what the nation receives,
``kz.*.<nation>.>`` (its own copies ``kz.O.O.>`` included), and nothing it sends elsewhere: the
copy for ``D`` is stored by ``D``'s stream alone, which acknowledges it to the sender
(:mod:`kizuna.sharing.natsconfig`), so an acknowledged copy is one its receivers can read. Each
node reads through one durable pull consumer named after the node, with the same single filter
subject.
"""

from __future__ import annotations

ROOT = "kz"
STREAM = "KIZUNA"
JS_API = "$JS.API"


def product_subject(originator: str, dest_nation: str, kind: str, origin_node: str) -> str:
    """Subject of one product released by ``originator`` to ``dest_nation``."""
    return f"{ROOT}.{originator}.{dest_nation}.{kind}.{origin_node}"


HEARTBEAT = "heartbeat"
"""The kind slot of heartbeat subjects (not a product kind: it carries a node id and a time)."""


def heartbeat_subject(originator: str, dest_nation: str, origin_node: str) -> str:
    """Subject of one heartbeat of ``origin_node`` (nation ``originator``) to ``dest_nation``."""
    return product_subject(originator, dest_nation, HEARTBEAT, origin_node)


def release_subject(originator: str, dest_nation: str, kind: str) -> str:
    """Wildcard of every ``kind`` product ``originator`` releases to ``dest_nation``."""
    return f"{ROOT}.{originator}.{dest_nation}.{kind}.>"


def consumer_filter(nation: str) -> str:
    """The single filter subject of every consumer of ``nation``: all it receives."""
    return f"{ROOT}.*.{nation}.>"


def stream_subjects(nation: str) -> list[str]:
    """Subjects of ``nation``'s stream: everything sent to it, by itself or a partner.

    Not what it sends to others: a stream capturing those would acknowledge them to the
    sender too, and the sender takes the first acknowledgement, its own stream's, as "stored",
    even when the partner's stream did not store the copy (it was stopping, or did not exist).
    """
    return [consumer_filter(nation)]


def parse_subject(subject: str) -> tuple[str, str, str, str]:
    """``(originator, dest_nation, kind, origin_node)`` of a product subject."""
    parts = subject.split(".")
    if len(parts) != 5 or parts[0] != ROOT:
        raise ValueError(f"not a kizuna product subject: {subject!r}")
    return parts[1], parts[2], parts[3], parts[4]


def inbox_prefix(node_id: str) -> str:
    """Per-node reply inbox prefix, so a node's subscribe permission covers only its replies."""
    return f"_INBOX_{node_id}"


def consumer_name(node_id: str) -> str:
    """Durable consumer name of a node (node ids are already valid consumer names)."""
    return node_id


__all__ = [
    "HEARTBEAT",
    "ROOT",
    "STREAM",
    "consumer_filter",
    "consumer_name",
    "heartbeat_subject",
    "inbox_prefix",
    "parse_subject",
    "product_subject",
    "release_subject",
    "stream_subjects",
]
