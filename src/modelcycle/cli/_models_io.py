"""``modelcycle models export`` (bundle, MLflow, ONNX; docker, k8s and edge targets) and
``modelcycle models import``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from modelcycle.cli._app import state
from modelcycle.cli._format import emit_json
from modelcycle.cli._models import JsonOption, Ref, models_app
from modelcycle.errors import InvalidValueError

Format = Literal["bundle", "mlflow", "onnx"]


@models_app.command("export")
def export(
    ref: Ref,
    out: Annotated[Path, typer.Option("--out", help="The folder (or .onnx file) to write.")],
    format: Annotated[
        str | None,
        typer.Option("--format", help="bundle (every part), mlflow (an MLflow model) or onnx."),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option("--target", help="docker (Dockerfile), k8s (manifests) or edge (ONNX)."),
    ] = None,
    image: Annotated[
        str | None,
        typer.Option("--image", help="k8s: the container image (modelcycle-NAME:VERSION)."),
    ] = None,
    schedule: Annotated[
        str | None,
        typer.Option(
            "--schedule",
            help="k8s: cron schedule of the retrain CronJob (default: the spec's "
            "retrain.when.schedule, else hourly).",
        ),
    ] = None,
    json: JsonOption = False,
) -> None:
    """Export a version: its whole bundle as files, an MLflow model folder that MLflow can
    load and serve, its ONNX graph (ONNX-ready versions only), or a deployment target: a
    Docker build context, Kubernetes manifests (with a CronJob running ``modelcycle retrain
    --if-needed``), or an edge bundle (ONNX graph + run.py)."""
    from modelcycle.registry import Registry, export_mlflow
    from modelcycle.registry._targets import TARGETS, export_bundle_folder, export_target

    if format is not None and target is not None:
        raise InvalidValueError("--format and --target are mutually exclusive: give one")
    if image is not None and target != "k8s":
        raise InvalidValueError("--image applies to --target k8s only")
    if schedule is not None and target != "k8s":
        raise InvalidValueError("--schedule applies to --target k8s only")
    if target is not None:
        if target not in TARGETS:
            raise InvalidValueError(f"invalid value {target!r} for --target: docker, k8s or edge")
        with state.client() as client:
            result = export_target(
                Registry(client), ref, target, out, image=image, schedule=schedule
            )
        if json:
            emit_json(result)
        else:
            typer.echo(f"exported {result['model']} for {target}: {', '.join(result['files'])}")
        return
    format = format or "bundle"
    if format not in ("bundle", "mlflow", "onnx"):
        raise InvalidValueError(f"invalid value {format!r} for --format: bundle, mlflow or onnx")
    with state.client() as client:
        loaded = Registry(client).load(ref)
        bundle, version = loaded.bundle, loaded.version
        if format == "bundle":
            written = export_bundle_folder(bundle, out)
        elif format == "onnx":
            data = bundle.part("onnx")
            if data is None:
                reason = (bundle.manifest.get("onnx") or {}).get("reason") or "never exported"
                raise InvalidValueError(f"{version.ref} is not ONNX-ready: {reason}")
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
            written = out
        else:
            metadata = {
                "modelcycle_model": version.ref,
                "modelcycle_bundle_sha256": bundle.sha256,
                "modelcycle_run_id": version.run_id,
            }
            written = export_mlflow(
                loaded.model, out, signature=bundle.signature, metadata=metadata
            )
    if json:
        emit_json({"model": version.ref, "format": format, "path": str(written)})
    else:
        typer.echo(f"exported {version.ref} as {format}: {written}")


@models_app.command("import")
def import_model(
    source: Annotated[str, typer.Argument(help="An MLflow model folder (sklearn flavor).")],
    name: Annotated[str, typer.Option("--name", help="The registered model name.")],
    description: Annotated[str, typer.Option("--description", help="What it is for.")] = "",
    json: JsonOption = False,
) -> None:
    """Import an MLflow scikit-learn model as a new version (re-stored with skops)."""
    from modelcycle.registry import Registry, import_mlflow

    imported = import_mlflow(source)
    signature = imported.signature or {
        "inputs": [
            {"name": f, "kind": "numeric", "nullable": True, "categories": None}
            for f in imported.features
        ],
        "output": {"task": imported.task, "classes": imported.classes},
    }
    estimator = getattr(imported.model, "steps", [(None, imported.model)])[-1][1]
    with state.client() as client:
        version = Registry(client).register_model(
            name,
            imported.model,
            signature=signature,
            task=imported.task,
            family=f"mlflow:{type(estimator).__name__}",
            source=imported.source,
            description=description,
        )
    if json:
        emit_json(version.to_dict())
    else:
        typer.echo(f"imported {source} as {version.ref}")
