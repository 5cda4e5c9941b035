"""Rebuild the small real-data files shipped in data/ from the shared data folder.

  python data/make_data.py /path/to/shared/data

Only needed to regenerate them; a clone of genolm never needs the shared folder.
See data/README.md for provenance and licences.
"""
import csv
import gzip
import shutil
import sys
from pathlib import Path

src = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
here = Path(__file__).parent


def fasta(path):
    name, seq = None, []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if line.startswith(">"):
                if name is not None:
                    yield name, "".join(seq)
                name, seq = line[1:], []
            else:
                seq.append(line)
    if name is not None:
        yield name, "".join(seq)


def write(path, records, width=60):
    with gzip.open(path, "wt", compresslevel=9) as fh:
        for name, seq in records:
            fh.write(f">{name}\n")
            for i in range(0, len(seq), width):
                fh.write(seq[i:i + width] + "\n")


# Whole files, copied byte for byte.
shutil.copy(src / "genomes/phage/lambda.fasta.gz", here / "lambda.fasta.gz")
for strain in ("H.Pylori__G27", "H.Pylori__SJM180"):
    shutil.copy(src / f"genomes/bacteria/{strain}.fasta.gz", here / f"{strain}.fasta.gz")
shutil.copy(src / "metagenome/camisim_10genomes/reads.fasta.gz", here / "camisim_reads.fasta.gz")
with open(src / "metagenome/camisim_10genomes/reads_mapping.tsv") as fh, \
        gzip.open(here / "camisim_reads_mapping.tsv.gz", "wt", compresslevel=9) as out:
    shutil.copyfileobj(fh, out)
shutil.copy(src / "metagenome/camisim_10genomes/genome_to_id.tsv", here / "camisim_genome_to_id.tsv")
shutil.copy(src / "virus/flu_h3n2_ha1/h3n2_ha1_1968-2010.fasta.gz", here / "h3n2_ha1_1968-2010.fasta.gz")

# The first 2,000 of the 50,000 BioMarKs 18S amplicons (lowercase, as published).
write(here / "biomarks18S_2k.fasta.gz", (r for i, r in zip(range(2000), fasta(
    src / "ocean/biomarks_18S/BioMarKs50k.fasta.gz"))), width=10**9)

# Tara Oceans RNA-virus contigs of six samples, one FASTA per sample, and a sample sheet joining
# them to the Guidi et al. 2016 environment table (units in the column names).
samples = ["41SUR", "41DCM", "66SUR", "132DCM", "122SUR", "100DCM"]
tara = here / "tara"
tara.mkdir(exist_ok=True)
contigs = {s: [] for s in samples}
for name, seq in fasta(src / "ocean/tara_rna_virus/contigs_votus_id90.fasta.gz"):
    for s in samples:
        rest = name[len(s):]
        if name.startswith(s) and rest[:1].isdigit():
            contigs[s].append((name, seq))
env = {}
with open(src / "ocean/tara_rna_virus/tara_env_guidi2016_SI4.tsv") as fh:
    for row in csv.DictReader(fh, delimiter="\t"):
        env[row["Sample"]] = row
with open(tara / "samples.tsv", "w") as fh:
    fh.write("sample_id\tpath\tstation\tlayer\tlatitude\tlongitude\ttemperature_c\tsalinity_psu\t"
             "oxygen_umol_kg\tchlorophyll_mg_m3\n")
    for s in samples:
        write(tara / f"{s}.fasta.gz", contigs[s])
        e = env["S" + s]
        station, layer = s[:-3], s[-3:]
        fh.write("\t".join([s, f"{s}.fasta.gz", station, layer, e["Latitude"], e["Longitude"],
                            e["Mean Temperature deg C"], e["Salinity"],
                            e["Mean Oxygen adjusted (umol/Kg)"],
                            e["Mean Chloro HPLC adjusted (mg Chl/m3)"]]) + "\n")
print("done:", {s: len(v) for s, v in contigs.items()})

# The Microviridae (phiX174 family) files of the Evo phage-design data, byte for byte, with their
# licence: phiX174 and its annotation (starts written 0-based; genolm notices and says so), its
# spike protein, the 134 fine-tuning genomes, 16 wild isolates and 39 lab-evolved genomes
# ('.' marks alignment gaps there: genolm drops them when it reads genomes for design).
micro = here / "microviridae"
micro.mkdir(exist_ok=True)
for path in sorted((src / "genomes/phage/microviridae").iterdir()):
    shutil.copy(path, micro / path.name)
