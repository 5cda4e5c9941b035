"""The NCBI genetic codes as data: amino acids and start/stop marks for the 64 codons of each table.

Codons are in NCBI's TCAG order: index = 16*first + 4*second + third with T=0, C=1, A=2, G=3, so
``TABLES[1][1][0]`` is TTT -> F and ``[35]`` is ATG -> M.  Each entry is ``(name, amino_acids,
starts)`` in the layout of NCBI's gc.prt (``ncbieaa``, ``sncbieaa``): ``amino_acids`` has ``*`` for
stops; ``starts`` has ``M`` for a start codon, ``*`` for a stop, ``-`` otherwise.  In tables 27, 28
and 31 a stop codon is also read as an amino acid depending on context: there the amino-acid string
gives the sense meaning and ``starts`` still marks the codon ``*``.

Provenance: NCBI gc.prt, taken from Biopython 1.88 ``Bio.Data.CodonTable`` once with a short
script and pasted here; genolm never imports Biopython at run time (tests check this data against
it).

>>> name, aa, starts = table_entry(11)
>>> name, aa[35], starts[35]
('Bacterial', 'M', 'M')
"""

from __future__ import annotations

from genolm.errors import GenolmError

# Generated from Biopython 1.88 Bio.Data.CodonTable (NCBI gc.prt).
TABLES: dict[int, tuple[str, str, str]] = {
    1: ('Standard',
         'FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG',
         '---M------**--*----M---------------M----------------------------'),
    2: ('Vertebrate Mitochondrial',
         'FFLLSSSSYY**CCWWLLLLPPPPHHQQRRRRIIMMTTTTNNKKSS**VVVVAAAADDEEGGGG',
         '----------**--------------------MMMM----------**---M------------'),
    3: ('Yeast Mitochondrial',
         'FFLLSSSSYY**CCWWTTTTPPPPHHQQRRRRIIMMTTTTNNKKSSRRVVVVAAAADDEEGGGG',
         '----------**----------------------MM---------------M------------'),
    4: ('Mold Mitochondrial',
         'FFLLSSSSYY**CCWWLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG',
         '--MM------**-------M------------MMMM---------------M------------'),
    5: ('Invertebrate Mitochondrial',
         'FFLLSSSSYY**CCWWLLLLPPPPHHQQRRRRIIMMTTTTNNKKSSSSVVVVAAAADDEEGGGG',
         '---M------**--------------------MMMM---------------M------------'),
    6: ('Ciliate Nuclear',
         'FFLLSSSSYYQQCC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG',
         '--------------*--------------------M----------------------------'),
    9: ('Echinoderm Mitochondrial',
         'FFLLSSSSYY**CCWWLLLLPPPPHHQQRRRRIIIMTTTTNNNKSSSSVVVVAAAADDEEGGGG',
         '----------**-----------------------M---------------M------------'),
    10: ('Euplotid Nuclear',
         'FFLLSSSSYY**CCCWLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG',
         '----------**-----------------------M----------------------------'),
    11: ('Bacterial',
         'FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG',
         '---M------**--*----M------------MMMM---------------M------------'),
    12: ('Alternative Yeast Nuclear',
         'FFLLSSSSYY**CC*WLLLSPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG',
         '----------**--*----M---------------M----------------------------'),
    13: ('Ascidian Mitochondrial',
         'FFLLSSSSYY**CCWWLLLLPPPPHHQQRRRRIIMMTTTTNNKKSSGGVVVVAAAADDEEGGGG',
         '---M------**----------------------MM---------------M------------'),
    14: ('Alternative Flatworm Mitochondrial',
         'FFLLSSSSYYY*CCWWLLLLPPPPHHQQRRRRIIIMTTTTNNNKSSSSVVVVAAAADDEEGGGG',
         '-----------*-----------------------M----------------------------'),
    15: ('Blepharisma Macronuclear',
         'FFLLSSSSYY*QCC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG',
         '----------*---*--------------------M----------------------------'),
    16: ('Chlorophycean Mitochondrial',
         'FFLLSSSSYY*LCC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG',
         '----------*---*--------------------M----------------------------'),
    21: ('Trematode Mitochondrial',
         'FFLLSSSSYY**CCWWLLLLPPPPHHQQRRRRIIMMTTTTNNNKSSSSVVVVAAAADDEEGGGG',
         '----------**-----------------------M---------------M------------'),
    22: ('Scenedesmus obliquus Mitochondrial',
         'FFLLSS*SYY*LCC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG',
         '------*---*---*--------------------M----------------------------'),
    23: ('Thraustochytrium Mitochondrial',
         'FF*LSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG',
         '--*-------**--*-----------------M--M---------------M------------'),
    24: ('Pterobranchia Mitochondrial',
         'FFLLSSSSYY**CCWWLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSSKVVVVAAAADDEEGGGG',
         '---M------**-------M---------------M---------------M------------'),
    25: ('Candidate Division SR1',
         'FFLLSSSSYY**CCGWLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG',
         '---M------**-----------------------M---------------M------------'),
    26: ('Pachysolen tannophilus Nuclear',
         'FFLLSSSSYY**CC*WLLLAPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG',
         '----------**--*----M---------------M----------------------------'),
    27: ('Karyorelict Nuclear',
         'FFLLSSSSYYQQCCWWLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG',
         '--------------*--------------------M----------------------------'),
    28: ('Condylostoma Nuclear',
         'FFLLSSSSYYQQCCWWLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG',
         '----------**--*--------------------M----------------------------'),
    29: ('Mesodinium Nuclear',
         'FFLLSSSSYYYYCC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG',
         '--------------*--------------------M----------------------------'),
    30: ('Peritrich Nuclear',
         'FFLLSSSSYYEECC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG',
         '--------------*--------------------M----------------------------'),
    31: ('Blastocrithidia Nuclear',
         'FFLLSSSSYYEECCWWLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG',
         '----------**-----------------------M----------------------------'),
    32: ('Balanophoraceae Plastid',
         'FFLLSSSSYY*WCC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG',
         '---M------*---*----M------------MMMM---------------M------------'),
    33: ('Cephalodiscidae Mitochondrial',
         'FFLLSSSSYYY*CCWWLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSSKVVVVAAAADDEEGGGG',
         '---M-------*-------M---------------M---------------M------------'),
}

TABLE_IDS: tuple[int, ...] = tuple(TABLES)


def table_entry(table: int) -> tuple[str, str, str]:
    """``(name, amino_acids, starts)`` of an NCBI table id; GenolmError listing the valid ids.

    >>> table_entry(2)[0]
    'Vertebrate Mitochondrial'
    """
    try:
        return TABLES[int(table)]
    except (KeyError, TypeError, ValueError):
        raise GenolmError("unknown genetic code (NCBI translation table)",
                          expected="one of " + ", ".join(map(str, TABLE_IDS)), found=repr(table),
                          hint="11 = bacteria, archaea and plastids; 1 = standard; 2 = vertebrate "
                               "mitochondria") from None
