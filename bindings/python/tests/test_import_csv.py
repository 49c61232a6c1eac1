"""Customer CSV files in and out (`Customers.import_csv`, `export_csv`), on
every backend. The rules are crm-core's and the file format crm-csv's: these
tests check that the package hands them over (rows, issues, options, errors).
On MySQL the database is shared by the session: every test uses its own tag,
emails and phones."""

import asyncio
import csv
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pandas as pd
import pytest

import crm_sdk
from conftest import email, phone, uniq

HEADER = ["name", "email", "phone", "credit_limit", "tags"]


def mixed_rows(tag: str, stored_email: str) -> List[List[str]]:
    """Two good rows, three invalid ones, an in-file duplicate and a
    duplicate of a stored customer (lines 2 to 8 of the file)."""
    dewi = email()
    return [
        [f"Ani {tag}", email(), phone(), "1500000", tag],  # 2: good
        ["Budi", "budi-at-example.com", "", "", tag],  # 3: bad email
        ["", email(), "", "", tag],  # 4: blank name
        ["Citra", email(), "", "1.500.000", tag],  # 5: ambiguous credit limit
        [f"Dewi {tag}", dewi, phone(), "", tag],  # 6: good
        ["Dewi Lagi", dewi.upper(), "", "", tag],  # 7: repeats line 6's email
        ["Eko", stored_email, "", "", tag],  # 8: a stored customer's email
    ]


def write_csv(path: Path, header: List[str], rows: List[List[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def issue_rows(result: crm_sdk.ImportResult) -> List[Tuple[int, str, str, str]]:
    frame = result.issues
    return sorted(
        (int(r.line), r.status, r.field, r.rule) for r in frame.itertuples(index=False)
    )


EXPECTED_ISSUES = [
    (3, "rejected", "email", "email"),
    (4, "rejected", "name", "required"),
    (5, "rejected", "credit_limit", "decimal"),
    (7, "rejected", "email", "duplicate_in_file"),
    (8, "skipped", "email", "duplicate"),
]


def stored_names(crm: crm_sdk.Crm, tag: str) -> List[str]:
    return [c.name for c in crm.customers.list(tag=tag, sort="name", limit=100)]


def check_mixed_import(crm: crm_sdk.Crm, result: crm_sdk.ImportResult, tag: str, eko: crm_sdk.Customer) -> None:
    assert isinstance(result, crm_sdk.ImportResult)
    t = result.totals
    assert isinstance(t, crm_sdk.ImportTotals)
    assert (t.rows, t.created, t.rejected, t.skipped, t.updated, t.duplicates) == (7, 2, 4, 1, 0, 0)
    assert t.line == 8
    assert t.to_dict()["created"] == 2
    assert issue_rows(result) == EXPECTED_ISSUES
    frame = result.issues
    assert list(frame.columns) == ["line", "status", "field", "rule", "message", "existing_code"]
    assert str(frame["line"].dtype) == "int64"
    codes = {int(r.line): r.existing_code for r in frame.itertuples(index=False)}
    assert codes[8] == eko.customer_code
    assert all(pd.isna(codes[line]) for line in (3, 4, 5, 7))
    message = frame.loc[frame["line"] == 5, "message"].iloc[0]
    assert "1.500.000" in message
    assert result.mapping == {h: h for h in HEADER}
    assert result.ignored_columns == []
    assert not result.dry_run and not result.already_done and result.resumed_after == 0
    assert not result.issues_truncated
    # What is stored: the two good rows; the stored customer is unchanged.
    assert stored_names(crm, tag) == [f"Ani {tag}", f"Dewi {tag}"]
    ani = crm.customers.list(tag=tag, sort="name", limit=1)[0]
    assert ani.credit_limit == 1500000
    assert crm.customers.get(eko.id) == eko


def test_import_csv_file_reports_bad_rows_and_duplicates(crm: crm_sdk.Crm, tmp_path: Path) -> None:
    tag = "imp-" + uniq()
    eko = crm.customers.create(name="Eko Stored", email=email())
    path = write_csv(tmp_path / "pelanggan.csv", HEADER, mixed_rows(tag, eko.email or ""))
    report = tmp_path / "rejected.csv"
    result = crm.customers.import_csv(path, report=report, batch_size=3)
    check_mixed_import(crm, result, tag, eko)
    assert result.report is not None and Path(result.report) == report
    lines = report.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 + len(EXPECTED_ISSUES)
    d = result.to_dict()
    assert d["totals"]["created"] == 2 and len(d["issues"]) == len(EXPECTED_ISSUES)
    assert "created=2" in repr(result)


def test_import_csv_from_a_dataframe(crm: crm_sdk.Crm) -> None:
    tag = "df-" + uniq()
    eko = crm.customers.create(name="Eko Stored", email=email())
    frame = pd.DataFrame(mixed_rows(tag, eko.email or ""), columns=HEADER, dtype=str)
    frame.loc[frame["phone"] == "", "phone"] = None  # missing cells as pandas has them
    result = crm.customers.import_csv(frame)
    check_mixed_import(crm, result, tag, eko)
    assert result.report is None


def test_dry_run_writes_nothing(crm: crm_sdk.Crm, tmp_path: Path) -> None:
    tag = "dry-" + uniq()
    eko = crm.customers.create(name="Eko Stored", email=email())
    path = write_csv(tmp_path / "c.csv", HEADER, mixed_rows(tag, eko.email or ""))
    result = crm.customers.import_csv(str(path), dry_run=True)
    assert result.dry_run
    assert (result.totals.created, result.totals.rejected, result.totals.skipped) == (2, 4, 1)
    assert issue_rows(result) == EXPECTED_ISSUES
    assert crm.customers.list(tag=tag).total == 0
    assert crm.customers.get(eko.id) == eko


def test_on_duplicate_update_changes_the_stored_customer(crm: crm_sdk.Crm, tmp_path: Path) -> None:
    eko = crm.customers.create(name="Eko Lama", email=email(), phone=phone())
    path = write_csv(
        tmp_path / "update.csv",
        ["Nama", "Email", "Kota"],
        [["Eko Baru", (eko.email or "").upper(), "Bandung"]],
    )
    skipped = crm.customers.import_csv(path)
    assert skipped.totals.skipped == 1 and crm.customers.get(eko.id).name == "Eko Lama"
    result = crm.customers.import_csv(path, on_duplicate="update")
    assert (result.totals.updated, result.totals.created, result.totals.skipped) == (1, 0, 0)
    assert len(result.issues) == 0
    assert result.mapping == {"Nama": "name", "Email": "email", "Kota": "address.city"}
    now = crm.customers.get(eko.id)
    assert now.name == "Eko Baru" and now.address.city == "Bandung"
    assert now.phone == eko.phone and now.customer_code == eko.customer_code
    reported = crm.customers.import_csv(path, on_duplicate="report")
    assert reported.totals.duplicates == 1
    assert reported.issues["status"].tolist() == ["duplicate"]
    assert reported.issues["existing_code"].tolist() == [eko.customer_code]


def test_export_then_import_finds_only_duplicates(crm: crm_sdk.Crm, tmp_path: Path) -> None:
    tag = "exp-" + uniq()
    made = [
        crm.customers.create(name="=SUM(A1:A9)", email=email(), tags=[tag]),
        crm.customers.create(name="Fajar", phone=phone(), tags=[tag], credit_limit="250000.50"),
        crm.customers.create(name="Gita", email=email(), phone=phone(), tags=[tag]),
    ]
    crm.customers.create(name="Not exported", email=email(), tags=["other-" + uniq()])
    path = tmp_path / "export.csv"
    assert crm.customers.export_csv(path, tag=tag, sort="id") == 3
    assert not (tmp_path / "export.csv.partial").exists()
    text = path.read_text(encoding="utf-8")
    assert "'=SUM(A1:A9)" in text and "Not exported" not in text
    exported = pd.read_csv(path, dtype=str)
    assert len(exported) == 3
    assert exported["customer_code"].tolist() == [c.customer_code for c in made]

    again = crm.customers.import_csv(path)
    t = again.totals
    assert (t.rows, t.skipped, t.created, t.rejected) == (3, 3, 0, 0)
    assert again.issues["status"].tolist() == ["skipped"] * 3
    assert sorted(again.issues["existing_code"].tolist()) == sorted(c.customer_code for c in made)
    assert crm.customers.list(tag=tag).total == 3
    # The guard against formulas is undone on the way back in.
    assert crm.customers.get(made[0].id).name == "=SUM(A1:A9)"


def test_export_csv_refuses_paging_and_bad_filters(crm: crm_sdk.Crm, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    with pytest.raises(crm_sdk.ValidationError) as info:
        crm.customers.export_csv(path, page=2)
    assert info.value.fields[0].field == "page"
    assert not path.exists() and not (tmp_path / "x.csv.partial").exists()


def test_a_file_without_a_name_column_is_a_validation_error(crm: crm_sdk.Crm, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "no-name.csv", ["Nama Lengkap X", "email"], [["Hana", email()]])
    with pytest.raises(crm_sdk.ValidationError) as info:
        crm.customers.import_csv(path)
    err = info.value
    assert isinstance(err, ValueError) and err.code == "validation"
    assert "no name column" in str(err)
    assert [(f.field, f.rule) for f in err.fields] == [("file", "missing_name_column")]
    # An explicit mapping names the column.
    result = crm.customers.import_csv(path, mapping={"Nama Lengkap X": "name"})
    assert result.totals.created == 1
    assert result.mapping == {"Nama Lengkap X": "name", "email": "email"}


def test_bad_options_and_sources(crm: crm_sdk.Crm, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "ok.csv", ["name"], [["Ina"]])
    cases: List[Dict[str, Any]] = [
        {"on_duplicate": "merge"},
        {"delimiter": "::"},
        {"mapping": {"name": "nickname"}},
        {"mapping": {"Nama": "name"}},  # not a header of the file
    ]
    for kwargs in cases:
        with pytest.raises(crm_sdk.ValidationError):
            crm.customers.import_csv(path, **kwargs)
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        crm.customers.import_csv(tmp_path / "missing.csv")
    with pytest.raises(TypeError, match="path"):
        crm.customers.import_csv(42)  # type: ignore[arg-type]
    semicolons = tmp_path / "semi.csv"
    semicolons.write_text(f"nama;email\nIna;{email()}\n", encoding="utf-8")
    assert crm.customers.import_csv(semicolons, delimiter=";").totals.created == 1


def test_resumable_run_id_is_handed_to_the_core(crm: crm_sdk.Crm, tmp_path: Path) -> None:
    tag = "run-" + uniq()
    path = write_csv(tmp_path / "run.csv", HEADER, [[f"Joko {tag}", email(), "", "", tag]])
    run = "py-" + uniq()
    first = crm.customers.import_csv(path, run_id=run)
    assert first.run_id == run and first.totals.created == 1
    second = crm.customers.import_csv(path, run_id=run)
    assert second.already_done and second.totals.created == 1
    assert crm.customers.list(tag=tag).total == 1


def test_export_scores_csv(crm: crm_sdk.Crm, tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    n = crm.analytics.export_scores_csv(path)
    frame = pd.read_csv(path)
    assert list(frame.columns[:3]) == ["customer_id", "frequency", "recency"]
    assert len(frame) == n


def test_async_import_and_export(db_url: str, tmp_path: Path) -> None:
    tag = "async-" + uniq()

    async def main() -> None:
        crm = await crm_sdk.AsyncCrm.connect(db_url)
        stored = await crm.customers.create(name="Eko Stored", email=email())
        path = write_csv(tmp_path / "a.csv", HEADER, mixed_rows(tag, stored.email or ""))
        result = await crm.customers.import_csv(path)
        assert isinstance(result, crm_sdk.ImportResult)
        assert issue_rows(result) == EXPECTED_ISSUES
        out = tmp_path / "a-export.csv"
        assert await crm.customers.export_csv(out, tag=tag) == 2
        again = await crm.customers.import_csv(out)
        assert again.totals.skipped == 2
        with pytest.raises(crm_sdk.ValidationError):
            await crm.customers.import_csv(write_csv(tmp_path / "bad.csv", ["email"], [[email()]]))

    asyncio.run(main())
