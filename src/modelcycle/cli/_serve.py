"""``modelcycle serve [NAME[@ALIAS] ...] [--spec serve.yaml]``: the HTTP server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelcycle.cli._app import app, state

if TYPE_CHECKING:
    from modelcycle.server import Startup
    from modelcycle.serving import ServeSpec


def build_spec(
    refs: list[str],
    spec_file: Path | None,
    options: dict[str, Any],
) -> ServeSpec:
    """The serve spec from a YAML file and/or refs, with the command-line options on top
    (an option given on the command line wins over the file; every value is validated)."""
    from modelcycle.errors import SpecError
    from modelcycle.serving import ServeSpec, load_serve_spec

    base = load_serve_spec(spec_file) if spec_file is not None else ServeSpec()
    data = base.model_dump()
    batching = dict(data["batching"])
    if options.pop("no_batching", False):
        batching["enabled"] = False
    wait = options.pop("max_wait_ms", None)
    if wait is not None:
        batching["max_wait_ms"] = wait
    rows = options.pop("max_batch_rows", None)
    if rows is not None:
        batching["max_batch_rows"] = rows
    data["batching"] = batching
    if options.pop("no_log", False):
        data["log"] = {**data["log"], "enabled": False}
    if options.pop("auth", False):
        data["auth"] = {**data["auth"], "enabled": True}
    data.update({k: v for k, v in options.items() if v is not None})
    models = data.pop("models")
    spec = ServeSpec.from_refs(refs, models=models, **data)
    if not spec.models:
        raise SpecError("nothing to serve: give NAME[@ALIAS] arguments or --spec with models")
    return spec


def _announce(startup: Startup) -> None:
    workers = f", {startup.workers} workers" if startup.workers > 1 else ""
    typer.echo(
        f"serving {', '.join(startup.models)} on {startup.url}{workers} "
        f"(models loaded in {startup.load_seconds:.2f} s; docs at {startup.url}/docs)",
        err=True,
    )


@app.command("serve")
def serve(
    refs: Annotated[
        list[str] | None, typer.Argument(help="Models to serve: NAME or NAME@ALIAS (champion).")
    ] = None,
    spec: Annotated[
        Path | None, typer.Option("--spec", help="A serve.yaml (models, batching, limits...).")
    ] = None,
    host: Annotated[str | None, typer.Option("--host", help="Address to bind.")] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", help="Port (default 8080, or $AIP_HTTP_PORT when set)."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Worker processes sharing the models.")
    ] = None,
    no_batching: Annotated[
        bool, typer.Option("--no-batching", help="Predict each request on its own.")
    ] = False,
    max_wait_ms: Annotated[
        float | None, typer.Option("--max-wait-ms", help="Longest wait to fill a batch.")
    ] = None,
    max_batch_rows: Annotated[
        int | None, typer.Option("--max-batch-rows", help="Most rows in one model call.")
    ] = None,
    no_log: Annotated[bool, typer.Option("--no-log", help="Do not log predictions.")] = False,
    auth: Annotated[
        bool, typer.Option("--auth", help="Require API keys (modelcycle keys create).")
    ] = False,
) -> None:
    """Serve models over HTTP: Open Inference Protocol v2, MLflow /invocations, Vertex AI and
    the native /predict/NAME, with /metrics and /docs; follows each alias (hot swap)."""
    from modelcycle.server import serve as run_server

    environment_port = os.environ.get("AIP_HTTP_PORT")
    if port is None and environment_port and environment_port.isdigit():
        port = int(environment_port)
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "workers": workers,
        "no_batching": no_batching,
        "max_wait_ms": max_wait_ms,
        "max_batch_rows": max_batch_rows,
        "no_log": no_log,
        "auth": auth,
    }
    served = build_spec(list(refs or []), spec, options)
    run_server(served, store=state.store, artifacts=state.artifacts, on_ready=_announce)
