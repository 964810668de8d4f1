"""Tracked model selection on breast-cancer: what the demo runs end to end."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelcycle._settings import HOME_DIR
from modelcycle.tracking import ActiveRun, Client

__all__ = ["DemoResult", "run_demo"]

EXPERIMENT = "demo-breast-cancer"


@dataclass(frozen=True)
class DemoResult:
    """What the demo did: the parent run, its candidates and the best one."""

    parent_run_id: str
    candidate_run_ids: list[str]
    best_run_id: str
    best_metrics: dict[str, float]
    store_url: str
    artifacts_url: str
    points_logged: int
    dataset_version: str = ""
    reports: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class _Candidate:
    name: str
    family: str
    params: dict[str, Any]
    build: Callable[[], Any]


def _logreg(c: float, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        StandardScaler(), LogisticRegression(C=c, max_iter=2000, random_state=seed)
    )


def _gbm(params: dict[str, Any], seed: int) -> Any:
    from sklearn.ensemble import GradientBoostingClassifier

    return GradientBoostingClassifier(**params, random_state=seed)


def _candidates(seed: int) -> list[_Candidate]:
    result = [
        _Candidate(
            f"logreg-C{c:g}",
            "logistic_regression",
            {"C": c, "max_iter": 2000},
            functools.partial(_logreg, c, seed),
        )
        for c in (0.01, 0.1, 1.0, 10.0)
    ]
    for lr, depth in ((0.05, 2), (0.1, 3)):
        params = {"learning_rate": lr, "max_depth": depth, "n_estimators": 200}
        result.append(
            _Candidate(
                f"gbm-lr{lr:g}-d{depth}",
                "gradient_boosting",
                params,
                functools.partial(_gbm, params, seed),
            )
        )
    return result


def _staged(model: Any, x: Any) -> Iterator[Any]:
    estimator = model[-1] if hasattr(model, "steps") else model
    if hasattr(estimator, "staged_predict_proba"):
        yield from estimator.staged_predict_proba(x)


def _train_candidate(run: ActiveRun, cand: _Candidate, data: dict[str, Any]) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

    model = cand.build().fit(data["x_train"], data["y_train"])
    points = 0
    for train_p, val_p in zip(
        _staged(model, data["x_train"]), _staged(model, data["x_val"]), strict=True
    ):
        run.log_metrics(
            {
                "train_log_loss": log_loss(data["y_train"], train_p),
                "val_log_loss": log_loss(data["y_val"], val_p),
            }
        )
        points += 2
    proba = model.predict_proba(data["x_val"])[:, 1]
    predicted = (proba >= 0.5).astype(int)
    metrics = {
        "val_accuracy": float(accuracy_score(data["y_val"], predicted)),
        "val_f1": float(f1_score(data["y_val"], predicted)),
        "val_roc_auc": float(roc_auc_score(data["y_val"], proba)),
        "val_log_loss": float(log_loss(data["y_val"], proba)),
    }
    run.log_metrics(metrics)
    estimator = model[-1] if hasattr(model, "steps") else model
    weights = getattr(estimator, "feature_importances_", None)
    if weights is None:
        weights = abs(estimator.coef_[0])
    ranked = sorted(zip(data["features"], map(float, weights), strict=True), key=lambda kv: -kv[1])
    run.log_text(json.dumps(dict(ranked[:10]), indent=2), "feature_importance.json")
    return {**metrics, "points": float(points + len(metrics))}


DATA_SPEC: dict[str, Any] = {
    "schema": {
        "target": {"kind": "categorical", "categories": ["0", "1"], "nullable": False},
        "mean radius": {"kind": "numeric", "min": 0, "nullable": False},
    },
    "target": {"column": "target"},
    "validation": {"min_rows": 100},
    "cleaning": {"steps": [{"type": "duplicates"}, {"type": "missing", "strategy": "median"}]},
    "split": {"method": "stratified", "train": 0.6, "validation": 0.2, "test": 0.2},
}


def _prepare(client: Client, seed: int, reports: Path) -> dict[str, Any]:
    """The data stage on breast-cancer: validate, clean, profile, version, split."""
    from sklearn.datasets import load_breast_cancer

    from modelcycle.data import DataSpec, split
    from modelcycle.data._profile_report import profile_report
    from modelcycle.data._stage import build_version
    from modelcycle.data._validation_report import validation_page

    spec = DataSpec.model_validate({**DATA_SPEC, "split": {**DATA_SPEC["split"], "seed": seed}})
    prepared = build_version(client, spec, "breast_cancer", load_breast_cancer(as_frame=True).frame)
    validation_page(prepared.validation).write(reports / "validation.html")
    profile_report(prepared.profile, "breast_cancer profile").write(reports / "profile.html")
    frame = prepared.table.to_pandas()
    parts = split(frame, spec.split, target="target")
    features = [c for c in frame.columns if c != "target"]
    x, y = frame[features].to_numpy(), frame["target"].to_numpy()
    return {
        "x_train": x[parts.train],
        "x_val": x[parts.validation],
        "y_train": y[parts.train],
        "y_val": y[parts.validation],
        "features": features,
        "version": prepared.version,
        "rows": {
            "train": len(parts.train),
            "validation": len(parts.validation),
            "test": len(parts.test),
        },
    }


def run_demo(
    client: Client, seed: int = 42, progress: bool = True, reports: Path | None = None
) -> DemoResult:
    """Version the data, then train and track every candidate; the best has the highest
    validation ROC-AUC. HTML reports go to ``reports`` (default ``./.modelcycle/reports``)."""
    from rich.progress import Progress

    reports = reports or Path(HOME_DIR) / "reports"
    data = _prepare(client, seed, reports)
    candidates = _candidates(seed)
    results: dict[str, dict[str, float]] = {}
    with client.start_run(
        EXPERIMENT, name="model-selection", params={"seed": seed, "candidates": len(candidates)}
    ) as parent:
        parent.log_dataset(data["version"], context="train+validation")
        parent.log_params({f"rows_{k}": v for k, v in data["rows"].items()})
        with Progress(disable=not progress, transient=True) as bar:
            task = bar.add_task("training candidates", total=len(candidates))
            for cand in candidates:
                bar.update(task, description=f"training {cand.name}")
                with parent.start_child(
                    cand.name, params=cand.params, tags={"family": cand.family}
                ) as child:
                    child.log_dataset(data["version"], context="train")
                    results[child.run_id] = _train_candidate(child, cand, data)
                bar.advance(task)
        best = max(results, key=lambda rid: results[rid]["val_roc_auc"])
        best_metrics = {k: v for k, v in results[best].items() if k != "points"}
        parent.set_tags({"best_run_id": best})
        parent.log_metrics({f"best_{k}": v for k, v in best_metrics.items()})
    return DemoResult(
        parent_run_id=parent.run_id,
        candidate_run_ids=list(results),
        best_run_id=best,
        best_metrics=best_metrics,
        store_url=client.metadata.url,
        artifacts_url=client.artifacts_url,
        points_logged=int(sum(r["points"] for r in results.values())),
        dataset_version=data["version"].ref,
        reports={
            "validation": str(reports / "validation.html"),
            "profile": str(reports / "profile.html"),
        },
    )
