"""The sharing agreement: nations, nodes, dated command structure, links and release rules.

An agreement is one YAML file (DESIGN.md section 1). It is validated here exactly once, at the
edge: a malformed file raises :class:`kizuna.errors.ConfigError` naming the file, the field (as a
path such as ``release[3].to[1]``) and the reason. Everything downstream (the release policy, the
buses, the NATS config generator) trusts an :class:`Agreement`.

Times: every ``effective_from`` / ``effective_to`` is a half-open interval ``[from, to)`` in UTC.
A YAML date (``2025-03-30``) means midnight UTC of that day; an open end is ``null``. Queries take
an *instant*: POSIX seconds (the core's time), a timezone-aware ``datetime``, a ``date`` (midnight
UTC) or an RFC 3339 / ISO date string.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kizuna.contract import CLASSIFICATION_RANK, Classification
from kizuna.errors import ConfigError, InputError

ProductKind = Literal["report", "track", "prediction", "alert"]
PRODUCT_KINDS: tuple[ProductKind, ...] = ("report", "track", "prediction", "alert")
DERIVED_KINDS: frozenset[str] = frozenset({"track", "prediction", "alert"})

SHIPPED_DIR = Path(__file__).with_name("agreements")
DEFAULT_AGREEMENT = "trilateral"

# Node ids become NATS subject tokens and user names, so they must avoid '.', '*', '>' and spaces.
NodeId = Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9_-]{0,63}$")]
NationCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 3166 alpha-3")]
RegionCode = Annotated[str, Field(pattern=r"^[A-Z0-9]+(?:-[A-Z0-9]+)*$")]
RuleId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]

Instant = float | int | datetime | date | str


def to_posix(at: Instant) -> float:
    """POSIX seconds (UTC) of an instant given as seconds, datetime, date or ISO/RFC 3339 text."""
    if type(at) is float and at - at == 0.0:  # finite POSIX seconds: every release asks
        return at
    if isinstance(at, bool):
        raise InputError(f"not a time: {at!r}")
    if isinstance(at, int | float):
        if not math.isfinite(at):
            raise InputError(f"not a finite time: {at!r}")
        return float(at)
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise InputError(f"time {at.isoformat()} has no UTC offset")
        return at.timestamp()
    if isinstance(at, date):
        return datetime.combine(at, time(0, 0), tzinfo=UTC).timestamp()
    if isinstance(at, str):
        text = at.strip()
        try:
            parsed: date = (
                date.fromisoformat(text)
                if len(text) == 10
                else datetime.fromisoformat(text.replace("z", "Z"))
            )
        except ValueError:
            raise InputError(f"not a date or RFC 3339 time: {at!r}") from None
        return to_posix(parsed)
    raise InputError(f"not a time: {at!r}")


def _utc(value: Any) -> Any:
    # YAML gives date or datetime objects; strings come from JSON or hand-built dicts.
    if value is None:
        return None
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError("a time needs a UTC offset (write 2025-03-30T00:00:00Z or a plain date)")
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(0, 0), tzinfo=UTC)
    if isinstance(value, str):
        try:
            return datetime.fromtimestamp(to_posix(value), tz=UTC)
        except InputError as exc:
            raise ValueError(exc.reason) from None
    raise ValueError(f"expected a date or an RFC 3339 time, got {type(value).__name__}")


class _Strict(BaseModel):
    # Unlike the interchange contract, an agreement rejects unknown keys: a misspelt
    # `overides_marking` silently ignored would change what is released.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _Dated(_Strict):
    effective_from: datetime | None = None
    effective_to: datetime | None = None

    @field_validator("effective_from", "effective_to", mode="before")
    @classmethod
    def _as_utc(cls, value: Any) -> Any:
        return _utc(value)

    def in_force(self, at_posix_s: float) -> bool:
        """True when ``effective_from <= at < effective_to`` (open ends unbounded)."""
        if self.effective_from is not None and at_posix_s < self.effective_from.timestamp():
            return False
        return self.effective_to is None or at_posix_s < self.effective_to.timestamp()

    def _window(self) -> tuple[float, float]:
        lo = -math.inf if self.effective_from is None else self.effective_from.timestamp()
        hi = math.inf if self.effective_to is None else self.effective_to.timestamp()
        return lo, hi


class Nation(_Strict):
    code: NationCode
    name: str = Field(min_length=1)


class Location(_Strict):
    lat: float = Field(ge=-90.0, le=90.0, description="WGS84 geodetic latitude, degrees")
    lon: float = Field(ge=-180.0, le=180.0, description="WGS84 longitude, degrees east")


class Node(_Strict):
    """A command running a kizuna node."""

    id: NodeId
    nation: NationCode
    name: str = Field(min_length=1)
    location: Location
    area_of_responsibility: list[RegionCode] = Field(default_factory=list)


class CommandRelation(_Dated):
    """``node`` reports to ``reports_to`` during ``[effective_from, effective_to)``."""

    node: NodeId
    reports_to: NodeId
    role: str = Field(default="", description="What the node is in this relation, in words.")
    note: str = ""


class Link(_Dated):
    """An undirected communication link between two nodes."""

    between: tuple[NodeId, NodeId]
    note: str = ""


class ReleaseRule(_Dated):
    """What an originating nation releases, of which product kinds, to which nations.

    ``to`` lists nation codes or is the word ``all`` (every other nation of the agreement).
    A rule with ``overrides_marking`` releases a *derived* product to its ``to`` nations even
    where the inputs' combined marking does not (DESIGN.md section 4, Markings); such products
    record the rule in ``Marking.released_by``. Raw reports can never be overridden.
    """

    id: RuleId
    from_: NationCode = Field(alias="from")
    kinds: list[ProductKind] = Field(min_length=1)
    to: list[NationCode] | Literal["all"]
    overrides_marking: bool = False
    max_classification: Classification = "SECRET"
    note: str = ""

    model_config = ConfigDict(populate_by_name=True)

    @field_validator("kinds")
    @classmethod
    def _unique_kinds(cls, kinds: list[str]) -> list[str]:
        if len(set(kinds)) != len(kinds):
            raise ValueError("a kind is listed twice")
        return kinds

    def covers(self, kind: str, classification: str) -> bool:
        return kind in self.kinds and (
            CLASSIFICATION_RANK[classification] <= CLASSIFICATION_RANK[self.max_classification]
        )


class _AgreementFile(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    nations: list[Nation] = Field(min_length=1)
    nodes: list[Node] = Field(min_length=1)
    command: list[CommandRelation] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)
    release: list[ReleaseRule] = Field(default_factory=list)


@dataclass(frozen=True, eq=False)
class Agreement:
    """A validated agreement with the queries the policy and the interfaces need.

    Build one with :func:`load_agreement` (a path or a shipped short name) or
    :meth:`from_dict`. Instances are immutable; equality and hashing are by identity, so an
    agreement can key caches.
    """

    name: str
    description: str
    nations: tuple[Nation, ...]
    nodes: tuple[Node, ...]
    command: tuple[CommandRelation, ...]
    links: tuple[Link, ...]
    release: tuple[ReleaseRule, ...]
    source: str = "<agreement>"

    # --- construction ----------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<agreement>") -> Agreement:
        """Validate a decoded agreement; raises :class:`ConfigError` (source, field, reason)."""
        if not isinstance(data, dict):
            raise ConfigError("the agreement must be a mapping at the top level", source=source)
        try:
            parsed = _AgreementFile.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = _field_path(first["loc"]) or "(agreement)"
            raise ConfigError(_reason(first), field=field, source=source) from None
        agreement = cls(
            name=parsed.name,
            description=parsed.description,
            nations=tuple(parsed.nations),
            nodes=tuple(parsed.nodes),
            command=tuple(parsed.command),
            links=tuple(parsed.links),
            release=tuple(parsed.release),
            source=source,
        )
        _check_references(agreement)
        return agreement

    # --- lookups ---------------------------------------------------------------------------

    @property
    def nation_codes(self) -> tuple[str, ...]:
        return tuple(n.code for n in self.nations)

    @property
    def node_ids(self) -> tuple[str, ...]:
        return tuple(n.id for n in self.nodes)

    def node(self, node_id: str) -> Node:
        node = self._nodes_by_id.get(node_id)
        if node is not None:
            return node
        raise InputError(
            f"unknown node {node_id!r} (agreement {self.name!r} has {', '.join(self.node_ids)})"
        )

    def has_node(self, node_id: str) -> bool:
        return node_id in self._nodes_by_id

    def has_nation(self, code: str) -> bool:
        return code in self._nation_set

    def rules_for(self, originator: str, kind: str) -> list[tuple[ReleaseRule, frozenset[str]]]:
        """``(rule, target nations)`` of every rule of ``originator`` covering ``kind``."""
        return self._rules_by_origin_kind.get((originator, kind), [])

    def nodes_of(self, nation: str) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.nation == nation)

    def rule(self, rule_id: str) -> ReleaseRule:
        rule = self._rules_by_id.get(rule_id)
        if rule is None:
            raise InputError(f"unknown release rule {rule_id!r}")
        return rule

    def find_rule(self, rule_id: str) -> ReleaseRule | None:
        return self._rules_by_id.get(rule_id)

    def rule_targets(self, rule: ReleaseRule) -> frozenset[str]:
        """Nations a rule releases to, with ``all`` expanded (never the originator itself)."""
        targets = set(self.nation_codes) if rule.to == "all" else set(rule.to)
        targets.discard(rule.from_)
        return frozenset(targets)

    # --- dated queries ---------------------------------------------------------------------

    def superior(self, node_id: str, at: Instant) -> CommandRelation | None:
        """The relation in force for ``node_id`` at ``at`` (None for a root of the structure).

        ``agreement.superior("USFJ-JFHQ", "2024-06-01").reports_to`` answers "to whom did USFJ
        report on 2024-06-01".
        """
        self.node(node_id)
        t = to_posix(at)
        for relation in self.command:
            if relation.node == node_id and relation.in_force(t):
                return relation
        return None

    def chain_of_command(self, node_id: str, at: Instant) -> list[str]:
        """``[node_id, its superior, ..., root]`` in force at ``at``."""
        chain = [node_id]
        relation = self.superior(node_id, at)
        while relation is not None:
            chain.append(relation.reports_to)
            relation = self.superior(relation.reports_to, at)
        return chain

    def command_tree(self, at: Instant) -> dict[str, list[str]]:
        """Subordinates of every node in force at ``at``: ``{node: [children...]}``.

        Roots are the nodes with no superior; they are the keys of :meth:`roots`.
        """
        tree: dict[str, list[str]] = {n.id: [] for n in self.nodes}
        for node in self.nodes:
            relation = self.superior(node.id, at)
            if relation is not None:
                tree[relation.reports_to].append(node.id)
        return tree

    def roots(self, at: Instant) -> list[str]:
        return [n.id for n in self.nodes if self.superior(n.id, at) is None]

    def links_in_force(self, at: Instant) -> list[tuple[str, str]]:
        t = to_posix(at)
        return [link.between for link in self.links if link.in_force(t)]

    def neighbours(self, node_id: str, at: Instant) -> list[str]:
        """Nodes linked to ``node_id`` at ``at``, in file order."""
        out: list[str] = []
        for a, b in self.links_in_force(at):
            if a == node_id and b not in out:
                out.append(b)
            elif b == node_id and a not in out:
                out.append(a)
        return out

    def rules_in_force(self, at: Instant) -> list[ReleaseRule]:
        t = to_posix(at)
        return [rule for rule in self.release if rule.in_force(t)]

    def release_matrix(self, at: Instant | None = None) -> dict[tuple[str, str, str], list[str]]:
        """``{(from_nation, kind, to_nation): [rule ids]}`` for rules in force (all if at=None)."""
        rules = self.release if at is None else self.rules_in_force(at)
        matrix: dict[tuple[str, str, str], list[str]] = {}
        for rule in rules:
            for kind in rule.kinds:
                for target in sorted(self.rule_targets(rule)):
                    matrix.setdefault((rule.from_, kind, target), []).append(rule.id)
        return matrix

    def change_dates(self) -> list[float]:
        """Every instant (POSIX s) at which some dated entry starts or ends, sorted."""
        dated: Iterable[_Dated] = (*self.command, *self.links, *self.release)
        stamps = {
            moment.timestamp()
            for entry in dated
            for moment in (entry.effective_from, entry.effective_to)
            if moment is not None
        }
        return sorted(stamps)

    def epoch(self, at_posix_s: float) -> int:
        """Index of the interval between change dates that contains ``at_posix_s``.

        Every dated entry is in force either throughout an epoch or not at all (intervals are
        half-open at the change dates), so anything computed from the agreement at one instant
        holds for the whole epoch: the policy caches its decisions per epoch.
        """
        return bisect.bisect_right(self._stamps, at_posix_s)

    # Lookup tables built on first use. cached_property writes to the instance __dict__, which
    # a frozen dataclass allows; the tables never change because the agreement does not.

    @cached_property
    def _stamps(self) -> list[float]:
        return self.change_dates()

    @cached_property
    def _nodes_by_id(self) -> dict[str, Node]:
        return {node.id: node for node in self.nodes}

    @cached_property
    def _nation_set(self) -> frozenset[str]:
        return frozenset(self.nation_codes)

    @cached_property
    def _rules_by_origin_kind(
        self,
    ) -> dict[tuple[str, str], list[tuple[ReleaseRule, frozenset[str]]]]:
        table: dict[tuple[str, str], list[tuple[ReleaseRule, frozenset[str]]]] = {}
        for rule in self.release:
            for kind in rule.kinds:
                table.setdefault((rule.from_, kind), []).append((rule, self.rule_targets(rule)))
        return table

    @cached_property
    def _rules_by_id(self) -> dict[str, ReleaseRule]:
        return {rule.id: rule for rule in self.release}

    @cached_property
    def policy_cache(self) -> dict[tuple[Any, ...], Any]:
        """Memo of policy results keyed by their inputs and :meth:`epoch` (see policy.py)."""
        return {}


# --- validation helpers ----------------------------------------------------------------------


def _field_path(loc: Iterable[Any]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif part in ("list[...]", "literal['all']") or str(part).startswith(("list[", "literal[")):
            # pydantic names union branches in the location; the user never wrote them.
            continue
        else:
            name = "from" if part == "from_" else str(part)
            parts.append(f".{name}" if parts else name)
    return "".join(parts)


_PATTERN_MEANING = {
    r"^[A-Z]{3}$": "must be a nation code of 3 capital letters (ISO 3166 alpha-3)",
    r"^[A-Z0-9][A-Z0-9_-]{0,63}$": "must be a node id of capital letters, digits, '-' or '_'",
    r"^[A-Z0-9]+(?:-[A-Z0-9]+)*$": "must be a region code such as JP-02, JPN-EEZ, BASE-KADENA",
    r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$": "must be a rule id of letters, digits, '_.:-'",
}


def _reason(error: Any) -> str:
    kind = error.get("type", "")
    loc = [str(part) for part in error.get("loc", ())]
    if kind == "extra_forbidden":
        return "unknown field (check its spelling)"
    if kind == "missing":
        return "field required"
    if kind == "string_pattern_mismatch":
        pattern = (error.get("ctx") or {}).get("pattern", "")
        return _PATTERN_MEANING.get(pattern, str(error.get("msg", "invalid")))
    if any(part.startswith(("list[", "literal[")) for part in loc) and loc[-2:-1] == ["to"]:
        return "must be a list of nation codes or the word all"
    message = str(error.get("msg", "invalid"))
    return message.removeprefix("Value error, ")


def _fail(agreement: Agreement, field: str, reason: str) -> ConfigError:
    return ConfigError(reason, field=field, source=agreement.source)


def _check_references(agreement: Agreement) -> None:
    """Cross-reference checks pydantic cannot express, each naming the offending field."""
    nations = agreement.nation_codes
    known_nations = ", ".join(nations)
    seen: set[str] = set()
    for i, code in enumerate(nations):
        if code in seen:
            raise _fail(agreement, f"nations[{i}].code", f"nation {code} is declared twice")
        seen.add(code)

    node_ids: set[str] = set()
    for i, node in enumerate(agreement.nodes):
        if node.id in node_ids:
            raise _fail(agreement, f"nodes[{i}].id", f"node {node.id} is declared twice")
        node_ids.add(node.id)
        if node.nation not in seen:
            raise _fail(
                agreement,
                f"nodes[{i}].nation",
                f"unknown nation {node.nation!r} (known: {known_nations})",
            )

    def known_node(field: str, node_id: str) -> None:
        if node_id not in node_ids:
            raise _fail(agreement, field, f"unknown node {node_id!r}")

    def check_window(field: str, entry: _Dated) -> None:
        lo, hi = entry._window()
        if lo >= hi:
            raise _fail(agreement, f"{field}.effective_to", "must be after effective_from")

    for i, relation in enumerate(agreement.command):
        known_node(f"command[{i}].node", relation.node)
        known_node(f"command[{i}].reports_to", relation.reports_to)
        check_window(f"command[{i}]", relation)
        if relation.node == relation.reports_to:
            raise _fail(agreement, f"command[{i}].reports_to", "a node cannot report to itself")
        # A node reports to at most one superior at any instant.
        for j in range(i):
            other = agreement.command[j]
            if other.node == relation.node and _overlap(other, relation):
                raise _fail(
                    agreement,
                    f"command[{i}].effective_from",
                    f"{relation.node} already reports to {other.reports_to} in this period "
                    f"(command[{j}]); dated relations of one node must not overlap",
                )
    _check_acyclic(agreement)

    for i, link in enumerate(agreement.links):
        a, b = link.between
        known_node(f"links[{i}].between[0]", a)
        known_node(f"links[{i}].between[1]", b)
        check_window(f"links[{i}]", link)
        if a == b:
            raise _fail(agreement, f"links[{i}].between", "a node cannot link to itself")

    rule_ids: set[str] = set()
    for i, rule in enumerate(agreement.release):
        if rule.id in rule_ids:
            raise _fail(agreement, f"release[{i}].id", f"rule id {rule.id} is used twice")
        rule_ids.add(rule.id)
        if rule.from_ not in seen:
            raise _fail(
                agreement,
                f"release[{i}].from",
                f"unknown nation {rule.from_!r} (known: {known_nations})",
            )
        if rule.to != "all":
            for j, target in enumerate(rule.to):
                if target not in seen:
                    raise _fail(
                        agreement,
                        f"release[{i}].to[{j}]",
                        f"unknown nation {target!r} (known: {known_nations})",
                    )
                if target == rule.from_:
                    raise _fail(
                        agreement,
                        f"release[{i}].to[{j}]",
                        "a nation does not release to itself (its own nodes always see "
                        "what their marking allows)",
                    )
        check_window(f"release[{i}]", rule)
        if rule.overrides_marking and "report" in rule.kinds:
            raise _fail(
                agreement,
                f"release[{i}].overrides_marking",
                "raw reports cannot be released beyond their marking; only derived kinds "
                "(track, prediction, alert) may override it",
            )


def _overlap(a: _Dated, b: _Dated) -> bool:
    a_lo, a_hi = a._window()
    b_lo, b_hi = b._window()
    return a_lo < b_hi and b_lo < a_hi


def _check_acyclic(agreement: Agreement) -> None:
    # The structure only changes at the dates named in the file, so checking one instant in
    # every interval between consecutive change dates covers all time.
    stamps = agreement.change_dates()
    probes = [stamps[0] - 1.0] if stamps else [0.0]
    probes += stamps
    for t in probes:
        parent = {
            r.node: (r.reports_to, i) for i, r in enumerate(agreement.command) if r.in_force(t)
        }
        for start in parent:
            seen = {start}
            node = start
            while node in parent:
                node, index = parent[node]
                if node in seen:
                    when = datetime.fromtimestamp(t, tz=UTC).date().isoformat()
                    raise _fail(
                        agreement,
                        f"command[{index}].reports_to",
                        f"the command structure has a cycle through {node} (in force {when})",
                    )
                seen.add(node)


# --- loading ---------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects a key given twice in one mapping (PyYAML keeps the last one)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    keys: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in keys:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (line {mark.line + 1})", mark
            )
        keys.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def shipped_agreements() -> dict[str, Path]:
    """Short name -> path of every agreement shipped with kizuna."""
    return {path.stem: path for path in sorted(SHIPPED_DIR.glob("*.yaml"))}


def resolve_agreement_path(name_or_path: str | Path | None) -> Path:
    """A path as given, or the shipped file of that short name (default: trilateral)."""
    if name_or_path is None:
        name_or_path = DEFAULT_AGREEMENT
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = shipped_agreements()
    if str(name_or_path) in shipped:
        return shipped[str(name_or_path)]
    raise ConfigError(
        f"no such file, and not a shipped agreement (shipped: {', '.join(shipped)})",
        source=str(name_or_path),
    )


def load_agreement(name_or_path: str | Path | None = None) -> Agreement:
    """Load and validate an agreement from a path or a shipped short name.

    ``None`` loads the default (trilateral) agreement. Raises :class:`ConfigError` with the file,
    the field and the reason.
    """
    path = resolve_agreement_path(name_or_path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", source=source) from None
    return parse_agreement(text, source=source)


def parse_agreement(text: str, *, source: str = "<agreement>") -> Agreement:
    """Validate agreement YAML text."""
    try:
        # A SafeLoader subclass: no arbitrary objects, and duplicate keys are errors.
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}not valid YAML: {problem}", source=source) from None
    return Agreement.from_dict(data, source=source)


def iter_dated(agreement: Agreement) -> Iterator[tuple[str, _Dated]]:
    """``(kind, entry)`` for every dated entry, for display."""
    for relation in agreement.command:
        yield "command", relation
    for link in agreement.links:
        yield "link", link
    for rule in agreement.release:
        yield "release", rule


__all__ = [
    "DERIVED_KINDS",
    "PRODUCT_KINDS",
    "Agreement",
    "CommandRelation",
    "Instant",
    "Link",
    "Nation",
    "Node",
    "ProductKind",
    "ReleaseRule",
    "load_agreement",
    "parse_agreement",
    "resolve_agreement_path",
    "shipped_agreements",
    "to_posix",
]
