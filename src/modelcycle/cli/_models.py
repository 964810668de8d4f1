"""``modelcycle models list|show|promote|rollback|archive|card|export|import`` and
``modelcycle audit list|verify``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelcycle.cli._app import app, state
from modelcycle.cli._format import emit_json, fmt_number, print_table

if TYPE_CHECKING:
    from modelcycle.types import AliasMove

models_app = typer.Typer(help="Registered models: versions, aliases, cards.", no_args_is_help=True)
app.add_typer(models_app, name="models")
audit_app = typer.Typer(help="The audit log of registry changes.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
Ref = Annotated[str, typer.Argument(help="NAME, NAME@VERSION or NAME@ALIAS.")]
Actor = Annotated[
    str | None, typer.Option("--actor", help="Who acts (default: $MODELCYCLE_ACTOR or login).")
]
AliasOption = Annotated[str, typer.Option("--alias", help="The alias to move.")]


def _move(move: AliasMove) -> str:
    before = "-" if move.from_version is None else f"v{move.from_version}"
    after = "-" if move.to_version is None else f"v{move.to_version}"
    forced = " (forced)" if move.forced else ""
    return f"{move.name}@{move.alias}: {before} -> {after}{forced}"


@models_app.command("list")
def list_models(json: JsonOption = False) -> None:
    """Registered models with their newest version and aliases."""
    from modelcycle.registry import Registry

    with state.client() as client:
        found = Registry(client).models()
    if json:
        emit_json(found)
        return
    rows = [
        [
            m["name"],
            str(m["latest_version"]),
            ", ".join(f"{a}=v{v}" for a, v in sorted(m["aliases"].items())),
        ]
        for m in found
    ]
    print_table("registered models", ["name", "latest", "aliases"], rows)


@models_app.command("show")
def show(ref: Ref, json: JsonOption = False) -> None:
    """One version (NAME@X) or every version of a model (NAME), with the alias history."""
    from modelcycle.registry import Registry, parse_ref

    name, pointer = parse_ref(ref)
    with state.client() as client:
        registry = Registry(client)
        versions = [registry.get(ref)] if pointer else registry.versions(name)
        history = registry.history(name)
        bundle = registry.bundle(versions[0].ref).manifest if pointer else None
    if json:
        payload: dict[str, Any] = {
            "versions": [v.to_dict() for v in versions],
            "history": [h.to_dict() for h in history],
        }
        if bundle is not None:
            payload["bundle"] = bundle
        emit_json(payload)
        return
    rows = [
        [
            f"v{v.version}",
            v.status,
            ", ".join(v.aliases),
            str(v.info.get("family", "")),
            ", ".join(f"{k} {fmt_number(x)}" for k, x in (v.info.get("metrics") or {}).items()),
            "yes" if v.onnx_ready else "no",
            v.created_by,
            v.created_at.strftime("%Y-%m-%d %H:%M"),
        ]
        for v in versions
    ]
    columns = ["version", "status", "aliases", "family", "metrics", "onnx", "by", "created"]
    print_table(f"model {name}", columns, rows)
    if history:
        rows = [[h.at.strftime("%Y-%m-%d %H:%M:%S"), _move(h), h.actor, h.reason] for h in history]
        print_table("alias history", ["when", "move", "by", "why"], rows)


@models_app.command("promote")
def promote(
    ref: Ref,
    alias: AliasOption = "champion",
    force: Annotated[
        bool, typer.Option("--force", help="Promote past failed gates (needs --reason).")
    ] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "",
    actor: Actor = None,
    json: JsonOption = False,
) -> None:
    """Point an alias (default champion) at a version once its evaluation gates pass;
    exit 1 naming each failed gate unless --force --reason."""
    from modelcycle.registry import Registry

    with state.client() as client:
        move = Registry(client).promote(ref, alias, force=force, reason=reason, actor=actor)
    emit_json(move.to_dict()) if json else typer.echo(f"{_move(move)}: {move.reason}")


@models_app.command("rollback")
def rollback(
    name: Annotated[str, typer.Argument(help="The model name.")],
    alias: AliasOption = "champion",
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "",
    actor: Actor = None,
    json: JsonOption = False,
) -> None:
    """Move an alias back to the version it pointed to before (one command, audited)."""
    from modelcycle.registry import Registry

    with state.client() as client:
        move = Registry(client).rollback(name, alias, reason=reason, actor=actor)
    emit_json(move.to_dict()) if json else typer.echo(f"{_move(move)}: {move.reason}")


@models_app.command("archive")
def archive(
    ref: Ref,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "",
    actor: Actor = None,
    json: JsonOption = False,
) -> None:
    """Archive a version (refused while an alias points to it)."""
    from modelcycle.registry import Registry

    with state.client() as client:
        version = Registry(client).archive(ref, reason=reason, actor=actor)
    emit_json(version.to_dict()) if json else typer.echo(f"archived {version.ref}")


@models_app.command("card")
def card(
    ref: Ref,
    out: Annotated[Path, typer.Option("--out", help="Folder for card.md and card.html.")] = Path(
        "."
    ),
    json: JsonOption = False,
) -> None:
    """Write the model card of a version as Markdown and HTML."""
    from modelcycle.registry._card import model_card
    from modelcycle.registry._card_info import card_info

    with state.client() as client:
        info = card_info(client, ref)
    written = model_card(info).write(out)
    paths = {"markdown": str(written[0]), "html": str(written[1])}
    emit_json(paths) if json else typer.echo(f"model card: {paths['markdown']}, {paths['html']}")


@audit_app.command("list")
def audit_list(
    target: Annotated[str | None, typer.Option("--target", help="e.g. churn or churn@1.")] = None,
    json: JsonOption = False,
) -> None:
    """Registry changes, oldest first."""
    with state.client() as client:
        events = client.metadata.audit.list(target)
    if json:
        emit_json([e.to_dict() for e in events])
        return
    rows = [
        [str(e.seq), e.at.strftime("%Y-%m-%d %H:%M:%S"), e.actor, e.action, e.target]
        for e in events
    ]
    print_table("audit log", ["#", "when", "who", "action", "target"], rows)


@audit_app.command("verify")
def audit_verify(json: JsonOption = False) -> None:
    """Check the hash chain of the audit log; exit 1 naming each edited or deleted event."""
    from modelcycle.errors import IntegrityError

    with state.client() as client:
        result = client.metadata.audit.verify()
    if json:
        emit_json(result.to_dict())
    elif result.ok:
        typer.echo(f"audit log intact: {result.events} events")
    if not result.ok:
        raise IntegrityError("audit log broken: " + "; ".join(result.problems))
