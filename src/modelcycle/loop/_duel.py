"""Champion against challenger on the same fresh holdout: a paired test decides.

Both versions answer the holdout rows exactly as they would answer them when served
(``serving.ServedModel`` with the versions' own signatures, on the fitted pipelines), and
``evaluation.paired_comparison`` compares them on the same rows: exact McNemar for accuracy,
a paired bootstrap for every other metric. The challenger wins only when the interval of its
advantage lies above zero.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from modelcycle.tracking import Client

__all__ = ["duel"]


def _answers(client: Client, ref: str, frame: pd.DataFrame) -> tuple[list[Any], Any, Any]:
    """Predictions (and probabilities for classifiers) of version ``ref`` on ``frame``."""
    from modelcycle.registry import Registry
    from modelcycle.serving._served import ServedModel

    served = ServedModel.load(Registry(client), ref, backend="python")
    names = [str(n) for n in served.schema.names]
    columns = {n: frame[n].astype(object).where(frame[n].notna(), None).tolist() for n in names}
    valid = served.schema.validate(columns)
    found = served.predict(valid, served.outputs)
    return found["predict"], found.get("predict_proba"), served.classes


def duel(
    client: Client,
    champion: str,
    challenger: str,
    holdout: pd.DataFrame,
    target: str,
    *,
    task: str,
    metric: str,
    confidence: float = 0.95,
    resamples: int = 1000,
) -> dict[str, Any]:
    """``paired_comparison`` of ``champion`` (side a) and ``challenger`` (side b) on the
    holdout's rows; adds ``rows``, ``champion``, ``challenger`` and ``wins``."""
    from modelcycle.evaluation._uncertainty import paired_comparison

    pred_a, proba_a, classes = _answers(client, champion, holdout)
    pred_b, proba_b, _ = _answers(client, challenger, holdout)
    truth = holdout[target].tolist()
    if classes:
        kind = type(classes[0])
        truth = [kind(v) for v in truth]
    found = paired_comparison(
        truth,
        pred_a,
        pred_b,
        task=task,
        metric=metric,
        proba_a=proba_a,
        proba_b=proba_b,
        classes=classes,
        resamples=resamples,
        confidence=confidence,
    )
    return {
        **found,
        "rows": len(holdout),
        "champion": champion,
        "challenger": challenger,
        "wins": found["better"] == "b",
    }


def describe(found: dict[str, Any]) -> str:
    """One sentence: the metric on both sides, the difference with its interval, the test."""
    pct = round(found["confidence"] * 100)
    p = found["p_value"]
    floor = 1 / max(int(found.get("resamples") or 1000), 1)
    shown = f"p<{floor:.2g}" if found["test"] == "paired_bootstrap" and p < floor else f"p={p:.3g}"
    return (
        f"{found['metric']} {found['a']:.4f} (champion {found['champion']}) vs "
        f"{found['b']:.4f} (challenger {found['challenger']}) on {found['rows']} fresh "
        f"holdout rows: difference {found['difference']:+.4f}, {pct}% interval "
        f"[{found['low']:+.4f}, {found['high']:+.4f}], {shown} "
        f"({found['test']})"
    )
