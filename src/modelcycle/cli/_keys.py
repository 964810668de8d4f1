"""``modelcycle keys create|list|revoke``: API keys for the server."""

from __future__ import annotations

from typing import Annotated

import typer

from modelcycle.cli._app import app, state
from modelcycle.cli._format import emit_json, print_table

keys_app = typer.Typer(help="API keys (scopes: predict, feedback, admin).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A name for the key (unique).")],
    scope: Annotated[
        list[str],
        typer.Option("--scope", help="predict, feedback or admin (repeatable; admin = all)."),
    ],
    json: JsonOption = False,
) -> None:
    """Create a key and print its secret once (only its SHA-256 is stored)."""
    from modelcycle.serving import ApiKeys

    with state.client() as client:
        info, secret = ApiKeys(client.metadata).create(name, scope)
    if json:
        emit_json({**info.to_dict(), "secret": secret})
        return
    typer.echo(f"created key {info.name} ({', '.join(info.scopes)})")
    typer.echo(f"secret (shown once, store it now): {secret}")


@keys_app.command("list")
def list_keys(
    all: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
    json: JsonOption = False,
) -> None:
    """Keys with their prefix, scopes and state (never a secret)."""
    from modelcycle.serving import ApiKeys

    with state.client() as client:
        found = ApiKeys(client.metadata).list(include_revoked=all)
    if json:
        emit_json([k.to_dict() for k in found])
        return
    rows = [
        [
            k.name,
            k.prefix + "…",
            ", ".join(k.scopes),
            k.created_at.strftime("%Y-%m-%d %H:%M"),
            "active" if k.active else f"revoked {k.revoked_at:%Y-%m-%d %H:%M}",
        ]
        for k in found
    ]
    print_table("API keys", ["name", "prefix", "scopes", "created", "state"], rows)


@keys_app.command("revoke")
def revoke(
    key: Annotated[str, typer.Argument(help="The key's name or the start of its prefix.")],
    json: JsonOption = False,
) -> None:
    """Revoke a key: servers refuse it within their cache refresh (5 s)."""
    from modelcycle.serving import ApiKeys

    with state.client() as client:
        info = ApiKeys(client.metadata).revoke(key)
    emit_json(info.to_dict()) if json else typer.echo(f"revoked key {info.name}")
