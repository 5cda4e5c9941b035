"""Build the Tara Oceans sample sheet from the published tables — an example of what a sheet for
`genolm embed --samples` / `genolm env` looks like, and of joining contigs to samples by their ids.

    python data/tara_sheet.py --data ../shared/data/ocean/tara_rna_virus --out tara_sheet

Inputs (all in --data): tara_env_guidi2016_SI4.tsv (Guidi et al. 2016, SI table 4: environment per
station + layer, e.g. S4SUR), tara_sample_metadata_hogle.tsv (sampling dates and depths per
station and layer) and contigs_votus_id90.fasta.gz (Zayed et al. 2022 RNA-virus contigs whose ids
start with station + layer: `46SUR1MMQQ14_…` or `TARA_078_SRF_0.22-3_…`).

Writes --out/samples.tsv: one row per station + layer seen in either table or named by a contig
(empty environment where the tables have none), units in the column
names (sample_id, path, station, layer, date, depth_m, latitude, longitude, temperature_c,
salinity_psu, oxygen_umol_kg, nitrate_umol_l (NO2 + NO3), nitrite_umol_l, phosphate_umol_l,
chlorophyll_mg_m3, npp_mgc_m2_day), and --out/contig_samples.tsv (contig id, sample_id, or
`unplaced`).  Prints how many contigs were placed, and how many of them have a temperature.
The sheet is validated by genolm's own reader before it is written.
"""

from __future__ import annotations

import argparse
import csv
import os
from collections import Counter
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from genolm.io.atomic import atomic_file  # noqa: E402
from genolm.io.samples import IdJoin, read_sample_sheet  # noqa: E402
from genolm.io.seqio import read_records  # noqa: E402

# Contig ids: "46SUR1MMQQ14_…" (station, layer, replicate, size fraction) or "TARA_078_SRF_0.22-3_…".
PATTERNS = [r"^(?P<station>\d+)(?P<layer>[A-Z]{3})\d", r"^TARA_(?P<station>\d+)_(?P<layer>[A-Z]{3})_"]
TEMPLATE = "S{station}{layer}"
ALIASES = {"SRF": "SUR"}  # two spellings of the surface layer
HOGLE_LAYER = {"surface": "SUR", "dcm": "DCM", "mesopelagic": "MES", "mixed.layer": "MXL"}
GUIDI = {  # Guidi column -> sheet column
    "Latitude": "latitude", "Longitude": "longitude", "Mean Temperature deg C": "temperature_c",
    "Salinity": "salinity_psu", "Mean Oxygen adjusted (umol/Kg)": "oxygen_umol_kg",
    "NO2NO3 (umol/L)": "nitrate_umol_l", "NO2 (umol/L)": "nitrite_umol_l", "PO4 (umol/L)": "phosphate_umol_l",
    "Mean Chloro HPLC adjusted (mg Chl/m3)": "chlorophyll_mg_m3", "NPP 8d VGPM (mgC/m2/day)": "npp_mgc_m2_day",
}
COLUMNS = ["sample_id", "path", "station", "layer", "date", "depth_m", *GUIDI.values()]


def read_tsv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def build(data: Path, out: Path) -> dict:
    contigs = data / "contigs_votus_id90.fasta.gz"
    rows: dict[str, dict] = {}
    clipped: list[str] = []
    for r in read_tsv(data / "tara_env_guidi2016_SI4.tsv"):
        sid = r["Sample"].strip()
        station, layer = sid[1:-3], sid[-3:]
        rows[sid] = {"station": station, "layer": layer, **{c: r.get(g, "").strip() for g, c in GUIDI.items()}}
        chl = rows[sid]["chlorophyll_mg_m3"]
        if chl and -0.05 < float(chl) < 0:  # calibration-adjusted values a hair below zero: none measured
            rows[sid]["chlorophyll_mg_m3"] = "0"
            clipped.append(sid)
    for r in read_tsv(data / "tara_sample_metadata_hogle.tsv"):
        layer = HOGLE_LAYER.get(r["environment"].strip())
        if not layer or not r["tara_station"].startswith("TARA_"):
            continue
        station = str(int(r["tara_station"].removeprefix("TARA_")))
        row = rows.setdefault(f"S{station}{layer}", {"station": station, "layer": layer})
        row.setdefault("date", r["date"].strip())
        row.setdefault("depth_m", r["depth"].strip())
        for col, src in (("latitude", "lat"), ("longitude", "lon")):
            if not row.get(col):
                row[col] = r[src].strip()
    # Every station + layer a contig names gets a row, with no environment where the tables have none.
    join = IdJoin(PATTERNS, TEMPLATE, ALIASES)
    ids = [r.id for r in read_records(contigs)]
    for sid in {join.sample_of(i) for i in ids} - {None} - set(rows):
        station, layer = sid[1:-3], sid[-3:]
        rows[sid] = {"station": station, "layer": layer}
    out.mkdir(parents=True, exist_ok=True)
    path = os.path.relpath(contigs, out)
    sheet = out / "samples.tsv"
    with atomic_file(sheet) as tmp:
        with open(tmp, "w") as f:
            f.write("\t".join(COLUMNS) + "\n")
            for sid in sorted(rows, key=lambda s: (int(rows[s]["station"]), rows[s]["layer"])):
                row = {"sample_id": sid, "path": path, **rows[sid]}
                f.write("\t".join(row.get(c, "") or "" for c in COLUMNS) + "\n")
        read_sample_sheet(tmp)  # the sheet must pass genolm's own validation
    samples = read_sample_sheet(sheet).samples
    placed, unmatched, unknown = join.place(ids, samples)
    with atomic_file(out / "contig_samples.tsv") as tmp:
        with open(tmp, "w") as f:
            f.write("id\tsample_id\n")
            for i in ids:
                f.write(f"{i}\t{placed.get(i, 'unplaced')}\n")
    with_temp = [i for i in ids if i in placed and samples[placed[i]].get("temperature_c") is not None]
    report = {"chlorophyll_clipped_to_0": clipped, "samples": len(samples), "contigs": len(ids), "placed": sum(i in placed for i in ids),
              "duplicate_ids": sorted(i for i, n in Counter(ids).items() if n > 1), "unmatched": unmatched,
              "sample_not_in_sheet": unknown, "with_temperature": len(with_temp),
              "samples_with_temperature": len({placed[i] for i in with_temp}),
              "stations_with_temperature": len({samples[placed[i]]["station"] for i in with_temp})}
    return report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "ocean" / "tara_rna_virus"))
    p.add_argument("--out", required=True)
    args = p.parse_args()
    r = build(Path(args.data), Path(args.out))
    print(f"{args.out}/samples.tsv: {r['samples']} samples; {r['placed']:,} of {r['contigs']:,} contigs placed at "
          f"a sample, {r['with_temperature']:,} with a temperature ({r['samples_with_temperature']} samples, "
          f"{r['stations_with_temperature']} stations)")
    if r["chlorophyll_clipped_to_0"]:
        print(f"  chlorophyll slightly below 0 written as 0: {', '.join(r['chlorophyll_clipped_to_0'])}")
    if r["duplicate_ids"]:
        print(f"  ids that name two records in the FASTA (both placed): {', '.join(r['duplicate_ids'])}")
    if r["unmatched"]:
        print(f"  no station/layer in the id: {len(r['unmatched'])} (e.g. {r['unmatched'][0]})")
    if r["sample_not_in_sheet"]:
        missing = sorted(set(r["sample_not_in_sheet"].values()))
        print(f"  station/layer not in the tables: {len(r['sample_not_in_sheet'])} contigs, "
              f"{len(missing)} samples (e.g. {', '.join(missing[:5])})")


if __name__ == "__main__":
    main()
