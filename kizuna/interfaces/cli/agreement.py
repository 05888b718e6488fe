"""``kizuna agreement show FILE``, ``kizuna agreement at DATE`` and ``kizuna agreements``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from kizuna.interfaces.cli.main import app

if TYPE_CHECKING:
    from rich.console import Console

    from kizuna.sharing.agreement import Agreement

agreement_app = typer.Typer(
    name="agreement",
    help="Inspect a sharing agreement: command structure, links and release rules.",
    no_args_is_help=True,
)
app.add_typer(agreement_app, name="agreement")

AgreementArg = Annotated[
    str, typer.Argument(help="Agreement YAML path or shipped short name (see `kizuna agreements`).")
]


def _console() -> Console:
    from rich.console import Console

    return Console(width=120, highlight=False)


def _day(moment: datetime | None) -> str:
    return "…" if moment is None else moment.date().isoformat()


def _print_tree(console: Console, agreement: Agreement, at: float) -> None:
    from rich.tree import Tree

    label = datetime.fromtimestamp(at, tz=UTC).date().isoformat()
    root = Tree(f"[bold]Command structure in force on {label}[/bold]")
    children = agreement.command_tree(at)

    def add(branch: Tree, node_id: str) -> None:
        node = agreement.node(node_id)
        relation = agreement.superior(node_id, at)
        text = f"[bold]{node_id}[/bold] ({node.nation}) {node.name}"
        if relation is not None:
            since = _day(relation.effective_from)
            text += f" — reports as: {relation.role or 'subordinate'} (since {since})"
        sub = branch.add(text)
        for child in children[node_id]:
            add(sub, child)

    for node_id in agreement.roots(at):
        add(root, node_id)
    console.print(root)


def _print_links(console: Console, agreement: Agreement, at: float) -> None:
    links = agreement.links_in_force(at)
    console.print("[bold]Links in force[/bold]: " + ", ".join(f"{a} ↔ {b}" for a, b in links))


def _print_matrix(console: Console, agreement: Agreement, at: float) -> None:
    from rich.table import Table

    from kizuna.sharing.agreement import PRODUCT_KINDS

    matrix = agreement.release_matrix(at)
    nations = agreement.nation_codes
    table = Table(
        title="Release matrix (* overrides the inputs' marking, - denied)",
        title_justify="left",
    )
    table.add_column("from")
    table.add_column("kind")
    for dest in nations:
        table.add_column(f"to {dest}")
    for origin in nations:
        for kind in PRODUCT_KINDS:
            cells = []
            for dest in nations:
                if dest == origin:
                    cells.append("(own)")
                    continue
                ids = matrix.get((origin, kind, dest), [])
                cells.append(
                    " ".join(f"{i}*" if agreement.rule(i).overrides_marking else i for i in ids)
                    or "-"
                )
            table.add_row(origin, kind, *cells)
    console.print(table)


@agreement_app.command("show")
def show_command(
    file: AgreementArg,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Date (YYYY-MM-DD) for the tree and matrix; default today."),
    ] = None,
) -> None:
    """Print the nodes, the dated command structure as a tree, the links and the release matrix."""
    from rich.table import Table

    from kizuna.sharing.agreement import load_agreement, to_posix

    agreement = load_agreement(file)
    moment = to_posix(at) if at is not None else datetime.now(tz=UTC).timestamp()
    console = _console()
    console.print(f"[bold]Agreement {agreement.name}[/bold] ({agreement.source})")
    if agreement.description:
        console.print(agreement.description)

    nodes = Table(title="Nodes", title_justify="left")
    for column in ("id", "nation", "name", "lat", "lon", "area of responsibility"):
        nodes.add_column(column)
    for node in agreement.nodes:
        nodes.add_row(
            node.id,
            node.nation,
            node.name,
            f"{node.location.lat:.3f}",
            f"{node.location.lon:.3f}",
            " ".join(node.area_of_responsibility),
        )
    console.print(nodes)

    dated = Table(title="Command relations (dated, [from, to))", title_justify="left")
    for column in ("node", "reports to", "role", "from", "to"):
        dated.add_column(column)
    for relation in agreement.command:
        dated.add_row(
            relation.node,
            relation.reports_to,
            relation.role,
            _day(relation.effective_from),
            _day(relation.effective_to),
        )
    console.print(dated)
    _print_tree(console, agreement, moment)
    _print_links(console, agreement, moment)
    _print_matrix(console, agreement, moment)


@agreement_app.command("at")
def at_command(
    date: Annotated[str, typer.Argument(help="Date (YYYY-MM-DD) or RFC 3339 time, UTC.")],
    agreement_name: Annotated[
        str | None,
        typer.Option("--agreement", help="Agreement path or shipped name; default trilateral."),
    ] = None,
) -> None:
    """Show the command structure, links and release rules in force at DATE."""
    from kizuna.sharing.agreement import load_agreement, to_posix

    agreement = load_agreement(agreement_name)
    moment = to_posix(date)
    console = _console()
    console.print(f"[bold]Agreement {agreement.name}[/bold] ({agreement.source})")
    for node in agreement.nodes:
        relation = agreement.superior(node.id, moment)
        if relation is None:
            console.print(f"{node.id} reports to no node of this agreement")
        else:
            role = f" as {relation.role}" if relation.role else ""
            console.print(f"{node.id} reports to {relation.reports_to}{role}")
    _print_tree(console, agreement, moment)
    _print_links(console, agreement, moment)
    _print_matrix(console, agreement, moment)


@app.command("agreements")
def agreements_command() -> None:
    """List the agreements shipped with kizuna (usable by short name)."""
    from rich.table import Table

    from kizuna.sharing.agreement import DEFAULT_AGREEMENT, load_agreement, shipped_agreements

    table = Table(title="Shipped agreements", title_justify="left")
    for column in ("name", "nations", "nodes", "path"):
        table.add_column(column)
    for name, path in shipped_agreements().items():
        agreement = load_agreement(path)
        label = f"{name} (default)" if name == DEFAULT_AGREEMENT else name
        table.add_row(
            label, " ".join(agreement.nation_codes), " ".join(agreement.node_ids), str(path)
        )
    _console().print(table)
