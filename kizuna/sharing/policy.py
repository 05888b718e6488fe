"""The release policy: one function decides every release, one re-marks derived products.

Every egress of kizuna (the buses, federation links, API and WebSocket, CoT, recorded files,
exports) asks :func:`decide` whether a product may go to a node, and nothing else. The rules:

1. Default deny: unknown kinds, nodes and nations, and anything no rule releases, are refused.
2. A node of the *originating* nation may receive the product when its marking allows that
   nation (no agreement rule is involved).
3. A node of another nation may receive it only when a release rule of the originator, in force
   at that instant, covers the product kind and classification and names that nation; and
   either the marking allows that nation, or the rule ``overrides_marking`` (derived products
   only: DESIGN.md section 4, Markings). The decision names the rule.
4. A marking that claims a rule in ``released_by`` is trusted only while every named rule is an
   overriding rule of the originator for that kind, in force: a re-marked product cannot outlive
   the rule that widened it.

Routing across several links (Tokyo -> INDOPACOM -> Seoul) is :func:`route`: a breadth-first
walk over the links in force where *every* hop is a :func:`decide` against the originator's
rules and the product's marking, so a node that may not see a product never relays it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from pydantic import BaseModel

from kizuna.contract import CLASSIFICATION_RANK, Marking
from kizuna.errors import InputError
from kizuna.sharing.agreement import (
    DERIVED_KINDS,
    PRODUCT_KINDS,
    Agreement,
    Instant,
    ReleaseRule,
    to_posix,
)
from kizuna.timefmt import parse_time

_T = TypeVar("_T")

RULE_SEPARATOR = "+"
"""Joins several rule ids in ``Marking.released_by`` (rule ids never contain it)."""


@dataclass(frozen=True)
class Decision:
    """The outcome of one release decision.

    ``rule`` is the id of the agreement rule that released the product (None when the product
    stays within its own nation, or when refused); ``reason`` is one human-readable line for
    the audit log.
    """

    allowed: bool
    rule: str | None
    reason: str


def _deny(reason: str) -> Decision:
    return Decision(False, None, reason)


def _matching_rules(
    agreement: Agreement, kind: str, classification: str, originator: str, dest: str, t: float
) -> list[ReleaseRule]:
    rank = CLASSIFICATION_RANK[classification]
    return [
        rule
        for rule, targets in agreement.rules_for(originator, kind)
        if dest in targets
        and rule.in_force(t)
        and rank <= CLASSIFICATION_RANK[rule.max_classification]
    ]


# Results are memoised per agreement (Agreement.policy_cache) under their inputs and the
# agreement's epoch at that instant: within an epoch no dated entry changes, so the result is
# the same for every instant of it. The memo is bounded by clearing it when it grows too big.
_CACHE_LIMIT = 100_000


def _memo(
    agreement: Agreement, key: tuple[Any, ...], compute: Callable[..., _T], *args: Any
) -> _T:
    """``compute(*args)``, made once per ``key`` in the agreement's policy cache (every egress
    asks for every product: the common case is one look-up, no closure made)."""
    cache = agreement.policy_cache
    hit = cache.get(key)
    if hit is None:
        hit = compute(*args)
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[key] = hit
    return hit  # type: ignore[no-any-return]


def _marking_key(marking: Marking) -> tuple[Any, ...]:
    return (marking.classification, tuple(marking.releasable_to), marking.released_by)


def _check_released_by(
    marking: Marking, kind: str, originator: str, agreement: Agreement, t: float
) -> str | None:
    """Reason to refuse when the marking's ``released_by`` is not backed by a rule in force."""
    if not marking.released_by:
        return None
    for rule_id in marking.released_by.split(RULE_SEPARATOR):
        rule = agreement.find_rule(rule_id)
        if rule is None:
            return f"marking names release rule {rule_id!r}, which the agreement does not have"
        if rule.from_ != originator or not rule.overrides_marking:
            return f"marking names rule {rule_id}, which is not an overriding rule of {originator}"
        if not rule.covers(kind, marking.classification):
            return f"marking names rule {rule_id}, which does not cover this {kind}"
        if not rule.in_force(t):
            return f"marking names rule {rule_id}, which is not in force at this time"
    return None


def decide(
    kind: str,
    marking: Marking,
    originator: str,
    to_node: str,
    agreement: Agreement,
    at_time: Instant,
) -> Decision:
    """May a product of ``kind`` with ``marking``, originated by ``originator``, go to ``to_node``?

    ``originator`` is the nation whose rules govern the product: the sensor's nation for a raw
    report, the producing node's nation for a derived product. ``at_time`` is the instant of the
    release (POSIX seconds, or a datetime/date/ISO string). Never raises for unknown names: it
    refuses them.
    """
    t = to_posix(at_time)
    key = ("decide", kind, _marking_key(marking), originator, to_node, agreement.epoch(t))
    return _memo(agreement, key, _decide, kind, marking, originator, to_node, agreement, t)


def _decide(
    kind: str, marking: Marking, originator: str, to_node: str, agreement: Agreement, t: float
) -> Decision:
    if kind not in PRODUCT_KINDS:
        return _deny(f"unknown product kind {kind!r}")
    if not agreement.has_node(to_node):
        return _deny(f"unknown node {to_node!r}")
    if not agreement.has_nation(originator):
        return _deny(f"originator {originator!r} is not a nation of agreement {agreement.name}")
    if marking.classification not in CLASSIFICATION_RANK:
        return _deny(f"unknown classification {marking.classification!r}")
    dest = agreement.node(to_node).nation

    stale = _check_released_by(marking, kind, originator, agreement, t)
    if stale is not None:
        return _deny(stale)

    if dest == originator:
        if marking.allows(dest):
            return Decision(
                True, None, f"{dest} is the originating nation and the marking allows it"
            )
        return _deny(f"the marking does not release to {dest}, the originating nation")

    rules = _matching_rules(agreement, kind, marking.classification, originator, dest, t)
    if not rules:
        return _deny(
            f"no rule of {originator} in force releases a {marking.classification} {kind} to {dest}"
        )
    if marking.allows(dest):
        rule = rules[0]
        return Decision(
            True,
            rule.id,
            f"rule {rule.id} releases {originator} {kind} to {dest}; the marking allows {dest}",
        )
    if kind in DERIVED_KINDS:
        for rule in rules:
            if rule.overrides_marking:
                return Decision(
                    True,
                    rule.id,
                    f"rule {rule.id} releases {originator} {kind} to "
                    f"{dest} beyond the inputs' marking",
                )
    return _deny(
        f"the marking does not release to {dest} and no rule of {originator} "
        f"overrides it for {kind}"
    )


def remark(
    kind: str, marking: Marking, originator: str, agreement: Agreement, at_time: Instant
) -> Marking:
    """The marking a derived product carries once the agreement's overriding rules are applied.

    Start from the combined marking of the inputs (:func:`kizuna.contract.combine_markings`);
    every overriding rule of ``originator`` for ``kind`` in force at ``at_time`` adds its
    nations. When that adds any nation, ``released_by`` records the rule(s) that did, joined by
    ``+``. Raw reports are returned unchanged: nothing may widen a sensor owner's marking.
    """
    if kind not in DERIVED_KINDS:
        return marking
    t = to_posix(at_time)
    key = ("remark", kind, _marking_key(marking), originator, agreement.epoch(t))
    return _memo(agreement, key, _remark, kind, marking, originator, agreement, t)


def _remark(
    kind: str, marking: Marking, originator: str, agreement: Agreement, t: float
) -> Marking:
    nations = set(marking.releasable_to)
    used: list[str] = marking.released_by.split(RULE_SEPARATOR) if marking.released_by else []
    for rule in agreement.release:
        if not (
            rule.overrides_marking
            and rule.from_ == originator
            and rule.in_force(t)
            and rule.covers(kind, marking.classification)
        ):
            continue
        added = agreement.rule_targets(rule) - nations
        if added:
            nations |= added
            if rule.id not in used:
                used.append(rule.id)
    if nations == set(marking.releasable_to):
        return marking
    return Marking(
        classification=marking.classification,
        releasable_to=sorted(nations),
        released_by=RULE_SEPARATOR.join(used) if used else None,
    )


_Product = TypeVar("_Product", bound=BaseModel)


def remark_product(
    product: _Product,
    originator: str,
    agreement: Agreement,
    at_time: Instant | None = None,
) -> _Product:
    """A derived product (track, prediction or alert model) with its marking re-marked.

    ``product.marking`` should be the combined marking of its inputs
    (:func:`kizuna.contract.combine_markings`); ``originator`` is the producing node's nation;
    ``at_time`` defaults to the product's own ``time``. Reports are returned unchanged.
    """
    kind = getattr(product, "product", "report")
    marking = getattr(product, "marking", None)
    if not isinstance(marking, Marking):
        raise InputError(f"{type(product).__name__} has no marking")
    when = parse_time(getattr(product, "time", "")) if at_time is None else at_time
    new = remark(kind, marking, originator, agreement, when)
    if new is marking:
        return product
    return product.model_copy(update={"marking": new})


@dataclass(frozen=True)
class Hop:
    """One refused link crossing, kept for the audit log."""

    from_node: str
    to_node: str
    decision: Decision


@dataclass(frozen=True)
class Routing:
    """Where a product published at ``source`` may travel over the links in force.

    ``paths[node]`` is the hop sequence ``(source, ..., node)``; ``decisions[node]`` is the
    decision of the last hop (every earlier hop was allowed too). ``refused`` lists the link
    crossings the policy refused.
    """

    source: str
    paths: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    decisions: Mapping[str, Decision] = field(default_factory=dict)
    refused: tuple[Hop, ...] = ()

    @property
    def reached(self) -> frozenset[str]:
        return frozenset(self.paths)


def route(
    kind: str,
    marking: Marking,
    originator: str,
    from_node: str,
    agreement: Agreement,
    at_time: Instant,
) -> Routing:
    """Nodes a product reaches from ``from_node``, every hop checked by :func:`decide`.

    A node is reached only through nodes that may themselves receive the product, so a route
    Tokyo -> INDOPACOM -> Seoul needs the US to be allowed the product as well as Korea.
    The result is shared between callers (memoised): treat it as read-only.
    """
    t = to_posix(at_time)
    agreement.node(from_node)
    key = ("route", kind, _marking_key(marking), originator, from_node, agreement.epoch(t))
    return _memo(agreement, key, _route, kind, marking, originator, from_node, agreement, t)


def _route(
    kind: str, marking: Marking, originator: str, from_node: str, agreement: Agreement, t: float
) -> Routing:
    paths: dict[str, tuple[str, ...]] = {}
    decisions: dict[str, Decision] = {}
    refused: list[Hop] = []
    verdict: dict[str, Decision] = {}  # a decision depends on the node, not on the sender
    queue: deque[str] = deque([from_node])
    visited = {from_node}
    here_path: dict[str, tuple[str, ...]] = {from_node: (from_node,)}
    while queue:
        here = queue.popleft()
        for there in agreement.neighbours(here, t):
            if there in visited:
                continue
            decision = verdict.get(there)
            if decision is None:
                decision = decide(kind, marking, originator, there, agreement, t)
                verdict[there] = decision
            if not decision.allowed:
                refused.append(Hop(here, there, decision))
                continue
            visited.add(there)
            here_path[there] = (*here_path[here], there)
            paths[there] = here_path[there]
            decisions[there] = decision
            queue.append(there)
    # Read-only views: a Routing is memoised and shared by every caller.
    return Routing(from_node, MappingProxyType(paths), MappingProxyType(decisions), tuple(refused))


def permissive_marking(agreement: Agreement) -> Marking:
    """The widest marking: UNCLASSIFIED, releasable to every nation of the agreement.

    Used where the marking is unknown in advance (the NATS server config): what the policy
    allows under this marking is a superset of what it allows under any real one.
    """
    return Marking(classification="UNCLASSIFIED", releasable_to=list(agreement.nation_codes))


def reachable_nations(
    kind: str, originator: str, agreement: Agreement, at_time: Instant
) -> frozenset[str]:
    """Nations some product of ``kind`` from ``originator`` could reach over the links.

    The union over the originator's nodes of :func:`route` under :func:`permissive_marking`;
    the NATS config exports exactly these (other than the originator itself).
    """
    widest = permissive_marking(agreement)
    nations: set[str] = set()
    for node in agreement.nodes_of(originator):
        routing = route(kind, widest, originator, node.id, agreement, at_time)
        nations.update(agreement.node(n).nation for n in routing.reached)
    nations.discard(originator)
    return frozenset(nations)


__all__ = [
    "Decision",
    "Hop",
    "Routing",
    "decide",
    "permissive_marking",
    "reachable_nations",
    "remark",
    "remark_product",
    "route",
]
