"""Per-source watermarks: a federated node's clock is the slowest of the sources it waits for.

A node's pipeline runs step ``B`` once its clock reaches ``B + lag_s`` (see
:mod:`kizuna.sharing.node`). For the step's inputs to be the same whatever the network did,
the clock must not pass ``B + lag_s`` before every report with ``time <= B`` that the node
will ever get has arrived. The reports come from a fixed set of *sources*:

* the node's own feed (its sensors), whose watermark its runner knows: every own report with
  ``time <= W`` has been accepted (:func:`kizuna.sharing.federation.serve_node`: the feed's
  scenario clock, capped at the end of the feed);
* every partner node whose reports the agreement lets reach this node
  (:func:`report_sources`). A partner says how far its own feed has gone in a **heartbeat**:
  ``{"node": id, "time": W}`` and nothing else (no product, no marking, no sensor), published
  at least once per step of data time and at least every :data:`HEARTBEAT_KEEPALIVE_S` of wall
  time, *after* every report with ``time <= W`` was stored by the streams, on the same path as
  those reports (``kz.<nation>.<dest>.heartbeat.<node>``, only to the nations its reports may
  reach: :func:`heartbeat_nations`). So a heartbeat can only arrive after the reports it
  vouches for, and a partner with nothing to share still moves its partners' clocks.

The node's clock is the minimum over its own feed and its *live* partners
(:meth:`SourceClock.effective`): through a link cut the node waits, and once the backlog
arrives it runs the same steps over the same reports as a run without the cut.

A partner gone for good (``timeout_s``, ``kizuna node --partner-timeout``): a partner that
holds the clock back (its watermark below the node's own feed) and has sent no heartbeat for
``timeout_s`` seconds of wall time is dropped from the minimum, whatever the cause (its
process, its link or this node's own link): the node proceeds with what it has, writes so to
its log and its audit log (action ``proceeded``), and the partner's reports that arrive later
for steps already run are kept, recorded and shared but not fused (late). Its next heartbeat
makes it live again (``rejoined``): the node then waits for it once more. A run in which a
partner timed out is honestly *not* equal to a fault-free run; one whose outages were all
shorter than the timeout is. Each second of waiting delays the node's warnings by a second,
which is why the timeout is bounded.

A partner that keeps sending heartbeats whose clock does not move (a feed stuck, a bug) would
hold the node back for ever just the same: one that holds the clock back for ``timeout_s``
without its watermark moving is dropped too (logged and audited as ``proceeded``), and rejoins
only once its watermark moves past where it stood.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from kizuna.sharing.agreement import Agreement, Instant
from kizuna.sharing.policy import permissive_marking, route

HEARTBEAT_KEEPALIVE_S = 1.0
"""Wall seconds between two heartbeats of a node whose watermark has not moved (its feed is
done): a partner restarted later still learns where it stands."""

PARTNER_TIMEOUT_S = 10.0
"""Default wall seconds without a heartbeat after which a partner holding the clock back is
dropped from it (``kizuna node --partner-timeout``)."""


def _report_reach(agreement: Agreement, node_id: str, at_time: Instant) -> frozenset[str]:
    """Nodes that some report published by ``node_id`` could reach (widest marking)."""
    nation = agreement.node(node_id).nation
    widest = permissive_marking(agreement)
    return route("report", widest, nation, node_id, agreement, at_time).reached


def heartbeat_nations(agreement: Agreement, node_id: str, at_time: Instant) -> frozenset[str]:
    """Nations ``node_id`` sends heartbeats to: those its own reports may reach (over NATS a
    copy goes to a nation's stream and every node of that nation reads it)."""
    return frozenset(agreement.node(n).nation for n in _report_reach(agreement, node_id, at_time))


def report_sources(agreement: Agreement, node_id: str, at_time: Instant) -> tuple[str, ...]:
    """Partner nodes whose reports may reach ``node_id``: the heartbeats it waits for."""
    nation = agreement.node(node_id).nation
    return tuple(
        sorted(
            other
            for other in agreement.node_ids
            if other != node_id and nation in heartbeat_nations(agreement, other, at_time)
        )
    )


class Heartbeat(BaseModel):
    """The wire form of a heartbeat: a node id and its watermark (POSIX s; None: the node has
    no feed of its own, so it will never send a report to wait for). Nothing else is allowed
    in it."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    node: str = Field(min_length=1, max_length=64)
    time: float | None


def keep_latest(heartbeats: dict[str, float | None], node: str, watermark_s: float | None) -> None:
    """Record one received heartbeat in a bus's ``{node: watermark}`` (latest wins; None, no
    feed, stands for ever)."""
    previous = heartbeats.get(node, -math.inf)
    if previous is None or watermark_s is None:
        heartbeats[node] = None
    else:
        heartbeats[node] = max(previous, watermark_s)


@dataclass
class _Partner:
    watermark_s: float = -math.inf
    heard_s: float | None = None  # wall clock (monotonic) of the last heartbeat, or of the
    # first check that found it silent (the timeout counts from there: a node that waited for
    # the go of a run before serving does not drop its partners at once)
    stuck_s: float | None = None  # wall clock since which it has held the clock back without
    # its watermark moving (None: not holding it back, or moved since)
    live: bool = True
    why: str = ""  # why it was dropped: "silent" (no heartbeat) or "stalled" (clock stood still)


class SourceClock:
    """The watermarks of one node's sources and the clock they give (module docstring).

    ``partners``: the nodes whose heartbeats count (:func:`report_sources`); ``timeout_s``:
    None waits for ever. Wall times (``now_s``) are monotonic seconds, data times POSIX s; a
    partner never heard is timed from the first :meth:`expire`.
    """

    def __init__(self, partners: Iterable[str], *, timeout_s: float | None) -> None:
        if timeout_s is not None and not timeout_s > 0:
            raise ValueError(f"partner timeout must be > 0 s; got {timeout_s}")
        self.timeout_s = timeout_s
        self.own_s: float | None = None
        self.partners = {p: _Partner() for p in partners}

    def feed(self, watermark_s: float | None) -> None:
        """The own feed's watermark (None: the node has no feed; it never holds back)."""
        if watermark_s is None:
            self.own_s = None
        else:
            self.own_s = max(watermark_s, self.own_s if self.own_s is not None else -math.inf)

    def heard(self, partner: str, watermark_s: float | None, now_s: float) -> str | None:
        """A heartbeat of ``partner``; returns ``"rejoined"`` when it had been dropped (one
        dropped for a clock that stood still rejoins only once its clock moves). A heartbeat of
        a node that is no source is ignored (the bus has checked the subject)."""
        state = self.partners.get(partner)
        if state is None:
            return None
        state.heard_s = now_s
        mark = math.inf if watermark_s is None else watermark_s
        moved = mark > state.watermark_s
        if moved or mark == -math.inf:
            # (-inf: a heartbeat the bus holds until this node has its redeliveries,
            # kizuna.sharing.nats_bus; the wait is not the partner's: it restarts the timer.)
            state.watermark_s = max(state.watermark_s, mark)
            state.stuck_s = None
        if not state.live and (moved or state.why != "stalled"):
            state.live = True
            return "rejoined"
        return None

    def holding_back(self) -> list[str]:
        """Live partners behind the own feed: what the node is waiting for now."""
        own = self.own_s if self.own_s is not None else math.inf
        return sorted(p for p, s in self.partners.items() if s.live and s.watermark_s < own)

    def expire(self, now_s: float) -> list[str]:
        """Drop the partners that held the clock back for ``timeout_s`` without a heartbeat
        (``why`` "silent") or without their clock moving ("stalled"); returns them (the node
        logs and audits each)."""
        if self.timeout_s is None:
            return []
        holding = set(self.holding_back())
        gone: list[str] = []
        for partner, state in self.partners.items():
            if partner not in holding:
                state.stuck_s = None
                continue
            if state.heard_s is None:
                state.heard_s = now_s
            if state.stuck_s is None:
                state.stuck_s = now_s
            if now_s - state.heard_s >= self.timeout_s:
                state.why = "silent"
            elif now_s - state.stuck_s >= self.timeout_s:
                state.why = "stalled"
            else:
                continue
            state.live = False
            gone.append(partner)
        return gone

    def effective(self) -> float | None:
        """The minimum over the own feed and the live partners; None while no source has a
        finite watermark (no feed, no partner heard)."""
        marks = [s.watermark_s for s in self.partners.values() if s.live]
        if self.own_s is not None:
            marks.append(self.own_s)
        if not marks:
            return None
        low = min(marks)
        return low if math.isfinite(low) else None


__all__ = [
    "HEARTBEAT_KEEPALIVE_S",
    "PARTNER_TIMEOUT_S",
    "Heartbeat",
    "SourceClock",
    "heartbeat_nations",
    "keep_latest",
    "report_sources",
]
