"""Sample sheets: good TSV/CSV read right, every kind of bad cell named by its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import DATA, run_cli
from genolm.errors import GenolmError
from genolm.io.samples import read_sample_sheet
from genolm.data.prepare import PrepareArgs, prepare


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name in ("a.fa", "b.fa", "c.fa"):
        (tmp_path / name).write_text(f">{name}\nACGTACGTAC\n")
    return tmp_path


def sheet(folder: Path, text: str, name: str = "samples.tsv"):
    p = folder / name
    p.write_text(text)
    return read_sample_sheet(p)


def sheet_error(folder: Path, text: str, name: str = "samples.tsv") -> GenolmError:
    with pytest.raises(GenolmError) as exc:
        sheet(folder, text, name)
    err = exc.value
    assert err.file == str(folder / name)
    assert "\n" not in str(err) and str(err).startswith(str(folder / name))
    return err


# ----------------------------------------------------------------------------- good sheets


def test_good_tsv(folder):
    s = sheet(folder, "sample_id\tpath\tdepth_m\tdate\tlatitude\tph\tsite\tnote\n"
                      "S1\ta.fa\t5\t2009-09-12\t-12.5\t8.1\tA1\tNA\n"
                      "S2\tb.fa\tNA\t2010\t90\t\t7\tnear the reef\n"
                      "S3\tc.fa\t0\t2011-03\t-90\tnan\tB2\t\n")
    assert s.columns == ["sample_id", "path", "depth_m", "date", "latitude", "ph", "site", "note"]
    assert list(s.samples) == ["S1", "S2", "S3"]
    assert s.samples["S1"] == {"depth_m": 5.0, "date": "2009-09-12", "latitude": -12.5, "ph": 8.1,
                               "site": "A1", "note": None}
    # NA, empty and nan are missing (None) in every kind of column
    assert s.samples["S2"]["depth_m"] is None and s.samples["S2"]["ph"] is None
    assert s.samples["S3"]["ph"] is None and s.samples["S3"]["note"] is None
    # a column with any non-number stays text, numbers included ('7' is not 7.0)
    assert [s.samples[i]["site"] for i in s.samples] == ["A1", "7", "B2"]
    assert s.samples["S2"]["note"] == "near the reef"
    assert s.samples["S2"]["date"] == "2010" and s.samples["S3"]["date"] == "2011-03"
    assert s.paths == {sid: (folder / f).resolve() for sid, f in zip(["S1", "S2", "S3"], ["a.fa", "b.fa", "c.fa"])}
    assert s.sample_for(folder / "b.fa") == "S2" and s.sample_for(folder / "x.fa") is None


def test_good_csv_with_quotes_and_absolute_path(folder):
    s = sheet(folder, "sample_id,path,temperature_k,station\n"
                      f'S1,{folder / "a.fa"},300.5,"Tara, 41"\n'
                      "S2,b.fa,NA,42\n", name="samples.csv")
    assert s.samples["S1"] == {"temperature_k": 300.5, "station": "Tara, 41"}
    assert s.samples["S2"] == {"temperature_k": None, "station": "42"}
    assert s.paths["S1"] == (folder / "a.fa").resolve()


def test_blank_rows_are_skipped_and_line_numbers_still_count_them(folder):
    s = sheet(folder, "sample_id\tpath\tdepth_m\nS1\ta.fa\t5\n\n\nS2\tb.fa\t6\n")
    assert list(s.samples) == ["S1", "S2"]
    err = sheet_error(folder, "sample_id\tpath\tdepth_m\nS1\ta.fa\t5\n\n\nS2\tb.fa\t-6\n")
    assert err.line == 5


def test_unit_is_case_insensitive(folder):
    s = sheet(folder, "sample_id\tpath\tTemperature_C\nS1\ta.fa\t20\n")
    assert s.samples["S1"] == {"Temperature_C": 20.0}


def test_check_files_false_allows_missing_files(folder):
    p = folder / "s.tsv"
    p.write_text("sample_id\tpath\nS1\tnot-here.fa\n")
    assert list(read_sample_sheet(p, check_files=False).samples) == ["S1"]


def test_shipped_tara_sheet():
    s = read_sample_sheet(DATA / "tara" / "samples.tsv")
    assert len(s.samples) == 6
    assert set(s.samples) == {"41SUR", "41DCM", "66SUR", "132DCM", "122SUR", "100DCM"}
    assert s.samples["41SUR"]["temperature_c"] == pytest.approx(29.089367)
    assert s.samples["41SUR"]["layer"] == "SUR"
    assert all(p.is_file() for p in s.paths.values())
    assert all(-90 <= v["latitude"] <= 90 and -180 <= v["longitude"] <= 180 for v in s.samples.values())


# ----------------------------------------------------------------------------- bad sheets

HEADER_ERRORS = {
    "no-sample_id": ("id\tpath\nS1\ta.fa\n", "no 'sample_id' column"),
    "no-path": ("sample_id\tfile\nS1\ta.fa\n", "no 'path' column"),
    "no-unit": ("sample_id\tpath\ttemperature\nS1\ta.fa\t20\n", "column 'temperature' has no unit"),
    "depth-no-unit": ("sample_id\tpath\tdepth\nS1\ta.fa\t20\n", "column 'depth' has no unit"),
    "unknown-unit": ("sample_id\tpath\tdepth_ft\nS1\ta.fa\t20\n", "unknown unit in column 'depth_ft'"),
    "unknown-unit-f": ("sample_id\tpath\ttemperature_f\nS1\ta.fa\t70\n", "unknown unit"),
    "duplicate-column": ("sample_id\tpath\tph\tph\nS1\ta.fa\t7\t7\n", "duplicate column"),
}


@pytest.mark.parametrize("case", list(HEADER_ERRORS))
def test_header_errors_name_line_1(folder, case):
    text, fragment = HEADER_ERRORS[case]
    err = sheet_error(folder, text)
    assert err.line == 1
    assert fragment in str(err)


def test_unit_error_lists_the_allowed_units(folder):
    err = sheet_error(folder, HEADER_ERRORS["no-unit"][0])
    assert err.expected == "temperature_c, temperature_k" and err.hint
    err = sheet_error(folder, HEADER_ERRORS["unknown-unit"][0])
    assert err.expected == "depth_m" and err.found == "'depth_ft'"


ROW_ERRORS = {  # the bad cell always sits on line 3 (row 2), after a good row
    "month-13": ("date", "2009-01-01", "2009-13-01", "bad date"),
    "us-date": ("date", "2009-01-01", "12/09/2009", "bad date"),
    "day-32": ("date", "2009-01-01", "2009-01-32", "bad date"),
    "date-text": ("date", "2009", "spring", "bad date"),
    "latitude": ("latitude", "45", "91", "out of range in column 'latitude'"),
    "longitude": ("longitude", "45", "-180.5", "out of range in column 'longitude'"),
    "ph-high": ("ph", "7", "14.5", "out of range in column 'ph'"),
    "ph-negative": ("ph", "7", "-1", "out of range in column 'ph'"),
    "depth-negative": ("depth_m", "5", "-1", "out of range in column 'depth_m'"),
    "kelvin-as-celsius": ("temperature_k", "290", "20", "out of range in column 'temperature_k'"),
    "infinite": ("salinity_psu", "35", "inf", "out of range"),
    "ph-text": ("ph", "7", "acidic", "column 'ph' must be numeric"),
    "salinity-text": ("salinity_psu", "35", "salty", "column 'salinity_psu' must be numeric"),
    "latitude-with-unit": ("latitude", "45", "45N", "column 'latitude' must be numeric"),
    "infinite-free-column": ("reads", "10", "inf", "out of range"),
}


@pytest.mark.parametrize("case", list(ROW_ERRORS))
def test_bad_values_name_their_line(folder, case):
    column, good, bad, fragment = ROW_ERRORS[case]
    err = sheet_error(folder, f"sample_id\tpath\t{column}\nS1\ta.fa\t{good}\nS2\tb.fa\t{bad}\n")
    assert err.line == 3
    assert fragment in str(err)
    assert bad in str(err)


@pytest.mark.parametrize("date", ["2009-02-30", "2009-04-31", "2010-02-29", "2009-00", "2009-06-00"])
def test_impossible_calendar_dates_are_rejected(folder, date):
    err = sheet_error(folder, f"sample_id\tpath\tdate\nS1\ta.fa\t{date}\n")
    assert err.line == 2 and "bad date" in str(err)


def test_leap_day_is_a_date(folder):
    assert sheet(folder, "sample_id\tpath\tdate\nS1\ta.fa\t2012-02-29\n").samples["S1"]["date"] == "2012-02-29"


def test_duplicate_sample_id(folder):
    err = sheet_error(folder, "sample_id\tpath\nS1\ta.fa\nS2\tb.fa\nS1\tc.fa\n")
    assert (err.line, err.record) == (4, "S1") and "duplicate sample_id" in str(err)


def test_missing_sample_id(folder):
    err = sheet_error(folder, "sample_id\tpath\nS1\ta.fa\n\tb.fa\n")
    assert err.line == 3 and "missing sample_id" in str(err)


def test_missing_file(folder):
    err = sheet_error(folder, "sample_id\tpath\nS1\ta.fa\nS2\tgone.fa\n")
    assert (err.line, err.record) == (3, "S2")
    assert "does not exist" in str(err) and str(folder / "gone.fa") in str(err)


@pytest.mark.parametrize("row, found", [("S2\tb.fa", "2"), ("S2\tb.fa\t1\t2", "4")])
def test_wrong_number_of_columns(folder, row, found):
    err = sheet_error(folder, f"sample_id\tpath\tph\nS1\ta.fa\t7\n{row}\n")
    assert err.line == 3 and "wrong number of columns" in str(err)
    assert err.found == found and err.expected.startswith("3")


def test_csv_with_unquoted_comma(folder):
    err = sheet_error(folder, "sample_id,path,station\nS1,a.fa,Tara, 41\n", name="s.csv")
    assert err.line == 2 and "wrong number of columns" in str(err)


@pytest.mark.parametrize("text, fragment", [("", "empty sample sheet"), ("\n\n", "empty sample sheet"),
                                            ("sample_id\tpath\n", "no samples")])
def test_empty_sheets(folder, text, fragment):
    assert fragment in str(sheet_error(folder, text))


def test_missing_sheet_and_non_utf8(folder):
    with pytest.raises(GenolmError, match="no such sample sheet"):
        read_sample_sheet(folder / "nope.tsv")
    (folder / "latin.tsv").write_bytes("sample_id\tpath\tsite\nS1\ta.fa\tS\xe3o Tom\xe9\n".encode("latin-1"))
    with pytest.raises(GenolmError, match="not UTF-8"):
        read_sample_sheet(folder / "latin.tsv")


# ----------------------------------------------------------------------------- with prepare


def test_prepare_input_not_in_the_sheet(folder, tmp_path):
    (folder / "s.tsv").write_text("sample_id\tpath\tdepth_m\nS1\ta.fa\t5\n")
    args = PrepareArgs(inputs=[str(folder / "a.fa"), str(folder / "b.fa")], out=str(tmp_path / "out"),
                       samples=str(folder / "s.tsv"), no_progress=True)
    with pytest.raises(GenolmError, match="not in the sample sheet") as exc:
        prepare(args)
    assert exc.value.file == str(folder / "b.fa")
    assert not (tmp_path / "out").exists()


def test_prepare_cli_bad_sheet_exits_2(folder, capsys):
    (folder / "s.tsv").write_text("sample_id\tpath\ttemperature\nS1\ta.fa\t20\n")
    code, out, err = run_cli(["prepare", "--samples", folder / "s.tsv", "--out", folder / "out",
                              "--no-progress"], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"genolm prepare: error: {folder / 's.tsv'}:1: ")
    assert not (folder / "out").exists()


def test_prepare_takes_files_and_metadata_from_the_sheet(folder, tmp_path):
    (folder / "s.tsv").write_text("sample_id\tpath\tdepth_m\nS1\ta.fa\t5\nS2\tb.fa\tNA\n")
    m = prepare(PrepareArgs(inputs=[], out=str(tmp_path / "out"), samples=str(folder / "s.tsv"),
                            window=4, val_fraction=0.0, no_progress=True))
    assert [f["sample_id"] for f in m["inputs"]] == ["S1", "S2"]
    assert m["samples"]["metadata"] == {"S1": {"depth_m": 5.0}, "S2": {"depth_m": None}}


def test_id_join_places_both_id_forms_and_names_what_it_cannot():
    from genolm.io.samples import IdJoin

    join = IdJoin([r"^(?P<station>\d+)(?P<layer>[A-Z]{3})\d", r"^TARA_(?P<station>\d+)_(?P<layer>[A-Z]{3})_"],
                  "S{station}{layer}", {"SRF": "SUR"})
    ids = ["46SUR1MMQQ14_2_ERR1_contig_1", "TARA_046_SRF_0.22-3_k119_2", "68DCM1MMQQ14_1_x", "scaffold_9",
           "7MES1GGMM14_1_y"]
    placed, unmatched, unknown = join.place(ids, {"S46SUR", "S68DCM"})
    assert placed == {ids[0]: "S46SUR", ids[1]: "S46SUR", ids[2]: "S68DCM"}  # SRF = SUR; 046 = 46
    assert unmatched == ["scaffold_9"] and unknown == {"7MES1GGMM14_1_y": "S7MES"}
    assert set(placed) | set(unmatched) | set(unknown) == set(ids)  # every id accounted for, once


@pytest.mark.parametrize("patterns,template,message", [
    (["(unclosed"], "S{station}", "bad id pattern"),
    ([r"^(?P<station>\d+)"], "S{station}{layer}", "id pattern lacks a group the sample template uses"),
])
def test_id_join_rejects_bad_patterns(patterns, template, message):
    from genolm.io.samples import IdJoin

    with pytest.raises(GenolmError, match=message):
        IdJoin(patterns, template)


def test_tara_sheet_script_on_a_miniature(tmp_path, capsys):
    """data/tara_sheet.py: Guidi rows and Hogle dates become one valid sheet; every contig is
    placed (a station + layer missing from the tables gets an empty row); a slightly negative
    chlorophyll becomes 0 (the validator would reject it); duplicate ids are named."""
    import importlib.util
    import gzip

    from genolm.io.samples import read_sample_sheet

    spec = importlib.util.spec_from_file_location("tara_sheet", DATA / "tara_sheet.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    d = tmp_path / "tara"
    d.mkdir()
    cols = list(mod.GUIDI)
    (d / "tara_env_guidi2016_SI4.tsv").write_text(
        "Sample\t" + "\t".join(cols) + "\n"
        + "S4SUR\t" + "\t".join({"Latitude": "36.5", "Longitude": "-6.5", "Mean Temperature deg C": "20.5"}.get(c, "")
                                for c in cols) + "\n"
        + "S9DCM\t" + "\t".join({"Latitude": "39", "Longitude": "1", "Mean Temperature deg C": "15",
                                  "Mean Chloro HPLC adjusted (mg Chl/m3)": "-0.007"}.get(c, "") for c in cols) + "\n")
    (d / "tara_sample_metadata_hogle.tsv").write_text(
        "sampleID\tdate\ttara_station\tdepth\tlat\tlon\tenvironment\n"
        "tara_S1\t2009-09-15\tTARA_004\t5\t36.55\t-6.57\tsurface\n"
        "tara_S2\t2009-10-01\tTARA_011\t600\t40\t2\tmesopelagic\n")
    with gzip.open(d / "contigs_votus_id90.fasta.gz", "wt") as f:
        for i in ("4SUR1MMQQ14_1_a", "TARA_004_SRF_0.22-3_b", "9DCM2GGMM14_1_c", "11MES1QQSS14_1_d",
                  "TARA_150_ZZZ_0.22-3_e", "TARA_150_ZZZ_0.22-3_e"):
            f.write(f">{i}\nACGTACGTAC\n")
    r = mod.build(d, tmp_path / "out")
    sheet = read_sample_sheet(tmp_path / "out" / "samples.tsv")
    assert set(sheet.samples) == {"S4SUR", "S9DCM", "S11MES", "S150ZZZ"}
    s4 = sheet.samples["S4SUR"]
    assert (s4["temperature_c"], s4["date"], s4["depth_m"], s4["latitude"]) == (20.5, "2009-09-15", 5.0, 36.5)
    assert sheet.samples["S9DCM"]["chlorophyll_mg_m3"] == 0.0 and r["chlorophyll_clipped_to_0"] == ["S9DCM"]
    assert sheet.samples["S150ZZZ"]["temperature_c"] is None
    rows = [line.split("\t") for line in (tmp_path / "out" / "contig_samples.tsv").read_text().splitlines()[1:]]
    assert [s for _, s in rows] == ["S4SUR", "S4SUR", "S9DCM", "S11MES", "S150ZZZ", "S150ZZZ"]
    assert r["placed"] == r["contigs"] == 6 and r["with_temperature"] == 3 and r["stations_with_temperature"] == 2
    assert r["duplicate_ids"] == ["TARA_150_ZZZ_0.22-3_e"] and not r["unmatched"]
