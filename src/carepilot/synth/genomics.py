"""Germline pharmacogene diplotypes by ancestry and somatic tumour variants by cancer type.

Diplotypes: two alleles drawn independently (Hardy-Weinberg) from the CPIC frequency of the person's ancestry
group (``data/pharmacogenes.toml``). Phenotypes follow the CPIC rules for each gene (activity score for
CYP2C9, CYP2D6 and DPYD; function counts for CYP2C19, SLCO1B1, TPMT, NUDT15). Tumour variant frequencies are
cited in ``TUMOUR_*`` below and in docs/synthetic-population.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from carepilot.synth.people import ANCESTRY_GROUPS
from carepilot.synth.tables import load_table

PGX_GENES = ("CYP2C19", "CYP2C9", "VKORC1", "SLCO1B1", "DPYD", "TPMT", "NUDT15", "CYP2D6")


@dataclass
class Genotypes:
    """Allele indices (into the gene's allele list) per person; ``first <= second``."""

    first: dict[str, np.ndarray]
    second: dict[str, np.ndarray]

    def diplotype(self, gene: str, i: int) -> str:
        """Display diplotype of person ``i``, e.g. ``*1/*2`` (VKORC1: ``rs9923231 C/T``)."""
        names = allele_names(gene)
        a, b = names[self.first[gene][i]], names[self.second[gene][i]]
        if gene == "VKORC1":
            return f"rs9923231 {a}/{b}"
        return f"{a}/{b}"


def gene_table(gene: str) -> dict:
    """The gene's row of the pharmacogene table."""
    return load_table("pharmacogenes")[gene]


def allele_names(gene: str) -> list[str]:
    """Allele names of a gene, reference first."""
    return [a["name"] for a in gene_table(gene)["alleles"]]


def sample_genotypes(rng: np.random.Generator, ancestry: np.ndarray) -> Genotypes:
    """Two alleles per gene per person from the ancestry group's allele frequencies."""
    n = len(ancestry)
    first: dict[str, np.ndarray] = {}
    second: dict[str, np.ndarray] = {}
    for gene in PGX_GENES:
        alleles = gene_table(gene)["alleles"]
        draws = np.zeros((n, 2), dtype=np.int16)
        u = rng.random((n, 2))
        for group in ANCESTRY_GROUPS:
            idx = ancestry == group
            freq = np.array([a[group] for a in alleles], dtype=float)
            cum = np.cumsum(freq / freq.sum())
            draws[idx] = np.searchsorted(cum, u[idx], side="right").clip(0, len(alleles) - 1)
        draws.sort(axis=1)
        first[gene] = draws[:, 0]
        second[gene] = draws[:, 1]
    return Genotypes(first=first, second=second)


def phenotype(gene: str, a: int, b: int) -> str | None:
    """CPIC phenotype of the diplotype (allele indices ``a``, ``b``); None for VKORC1."""
    spec = gene_table(gene)
    alleles = spec["alleles"]
    fa, fb = alleles[a]["function"], alleles[b]["function"]
    score = alleles[a]["activity"] + alleles[b]["activity"]
    rule = spec["rule"]
    if rule == "cyp2c19":
        functions = sorted((fa, fb))
        n_no = functions.count("no")
        n_inc = functions.count("increased")
        if n_no == 2:
            return "Poor Metabolizer"
        if n_no == 1:
            return "Intermediate Metabolizer"
        if n_inc == 2:
            return "Ultrarapid Metabolizer"
        if n_inc == 1:
            return "Rapid Metabolizer"
        return "Normal Metabolizer"
    if rule == "activity":
        if score >= 2.0:
            return "Normal Metabolizer"
        if score >= 1.0:
            return "Intermediate Metabolizer"
        return "Poor Metabolizer"
    if rule == "cyp2d6":
        # CPIC 2019 consensus (Caudle et al., Clin Transl Sci 2020): 0 PM, 0.25-1 IM, 1.25-2.25 NM, >2.25 UM.
        if score == 0:
            return "Poor Metabolizer"
        if score < 1.25:
            return "Intermediate Metabolizer"
        if score <= 2.25:
            return "Normal Metabolizer"
        return "Ultrarapid Metabolizer"
    if rule == "transporter":
        n_no = (fa == "no") + (fb == "no")
        return ("Normal Function", "Decreased Function", "Poor Function")[n_no]
    if rule == "thiopurine":
        n_no = (fa == "no") + (fb == "no")
        return ("Normal Metabolizer", "Intermediate Metabolizer", "Poor Metabolizer")[n_no]
    return None


def phenotype_array(genotypes: Genotypes, gene: str) -> np.ndarray:
    """Phenotype of every person for one gene (object array; None where none applies)."""
    cache: dict[tuple[int, int], str | None] = {}
    out = np.empty(len(genotypes.first[gene]), dtype=object)
    for i, (a, b) in enumerate(zip(genotypes.first[gene], genotypes.second[gene], strict=True)):
        key = (int(a), int(b))
        if key not in cache:
            cache[key] = phenotype(gene, *key)
        out[i] = cache[key]
    return out


def activity_score(genotypes: Genotypes, gene: str) -> np.ndarray:
    """Sum of allele activity values per person."""
    act = np.array([a["activity"] for a in gene_table(gene)["alleles"]])
    return act[genotypes.first[gene]] + act[genotypes.second[gene]]


# ---------------------------------------------------------------------------------------------------------
# Somatic tumour findings.


@dataclass(frozen=True)
class TumourFinding:
    """One tumour biomarker result of one person."""

    person: int
    cancer: str
    kind: str  # variant | fusion | amplification | msi | receptor | germline
    gene: str
    transcript: str | None
    dna_change: str | None
    protein_change: str | None
    label: str  # e.g. "EGFR L858R", "MSI-H", "ER positive"
    positive: bool = True


HGNC_IDS = {
    "CYP2C19": "HGNC:2621",
    "CYP2C9": "HGNC:2623",
    "VKORC1": "HGNC:23663",
    "SLCO1B1": "HGNC:10959",
    "DPYD": "HGNC:3012",
    "TPMT": "HGNC:12014",
    "NUDT15": "HGNC:23063",
    "CYP2D6": "HGNC:2625",
    "EGFR": "HGNC:3236",
    "ALK": "HGNC:427",
    "KRAS": "HGNC:6407",
    "BRAF": "HGNC:1097",
    "ERBB2": "HGNC:3430",
    "BRCA1": "HGNC:1100",
    "BRCA2": "HGNC:1101",
    "ESR1": "HGNC:3467",
    "PGR": "HGNC:8910",
}

EGFR_TX, KRAS_TX, BRAF_TX = "NM_005228.5", "NM_004985.5", "NM_004333.6"
VARIANTS = {
    "EGFR L858R": ("EGFR", EGFR_TX, "c.2573T>G", "p.Leu858Arg"),
    "EGFR exon 19 deletion": ("EGFR", EGFR_TX, "c.2235_2249del", "p.Glu746_Ala750del"),
    "KRAS G12C": ("KRAS", KRAS_TX, "c.34G>T", "p.Gly12Cys"),
    "KRAS G12D": ("KRAS", KRAS_TX, "c.35G>A", "p.Gly12Asp"),
    "KRAS G12V": ("KRAS", KRAS_TX, "c.35G>T", "p.Gly12Val"),
    "KRAS G13D": ("KRAS", KRAS_TX, "c.38G>A", "p.Gly13Asp"),
    "BRAF V600E": ("BRAF", BRAF_TX, "c.1799T>A", "p.Val600Glu"),
    "BRCA1 c.68_69del": ("BRCA1", "NM_007294.4", "c.68_69del", "p.Glu23fs"),
    "BRCA1 c.5266dup": ("BRCA1", "NM_007294.4", "c.5266dup", "p.Gln1756fs"),
    "BRCA2 c.5946del": ("BRCA2", "NM_000059.4", "c.5946del", "p.Ser1982fs"),
}

# NSCLC drivers (mutually exclusive): EGFR ~15% in US/European patients and ~47% in East Asian (PIONEER, Shi
# et
# al., J Thorac Oncol 2014), split ~50/50 exon 19 deletion / L858R; ALK fusion ~5%, KRAS G12C ~13% (~4% in
# East Asian), BRAF V600E ~2% (Skoulidis & Heymach, Nat Rev Cancer 2019; AACR GENIE).
NSCLC_DRIVERS = ("EGFR exon 19 deletion", "EGFR L858R", "ALK fusion", "KRAS G12C", "BRAF V600E", "none")
NSCLC_FREQ = {"east_asian": (0.235, 0.235, 0.05, 0.04, 0.01), "other": (0.075, 0.075, 0.05, 0.13, 0.02)}
# Breast subtypes (SEER 2015-2019: HR+/HER2- 68%, HR+/HER2+ 10%, HR-/HER2+ 4%, triple negative 10%, rest
# unknown, re-normalised); germline BRCA1/2 ~3% each overall, ~10% BRCA1 in triple negative (Couch et al., JCO
# 2015).
BREAST_SUBTYPES = (
    ("hr_pos_her2_neg", 0.74),
    ("hr_pos_her2_pos", 0.11),
    ("hr_neg_her2_pos", 0.04),
    ("tnbc", 0.11),
)
# Colorectal: MSI-H ~15%; BRAF V600E in ~50% of MSI-H and ~5% of MSS; KRAS ~40% of BRAF wild type with G12D
# 35%,
# G12V 25%, G13D 20%, G12C 8% of KRAS-mutant (rest folded) (Cancer Genome Atlas Network, Nature 2012; Neumann
# 2009).


def _variant(person: int, cancer: str, label: str) -> TumourFinding:
    gene, tx, c_dot, p_dot = VARIANTS[label]
    return TumourFinding(
        person, cancer, "germline" if gene.startswith("BRCA") else "variant", gene, tx, c_dot, p_dot, label
    )


def sample_tumour_findings(
    rng: np.random.Generator, has: dict[str, np.ndarray], ancestry: np.ndarray
) -> list[TumourFinding]:
    """Tumour biomarker results for every person with NSCLC, breast or colorectal cancer."""
    out: list[TumourFinding] = []
    for i in np.flatnonzero(has["nsclc"]):
        freq = NSCLC_FREQ["east_asian" if ancestry[i] == "east_asian" else "other"]
        probs = np.array([*freq, 1.0 - sum(freq)])
        driver = NSCLC_DRIVERS[int(rng.choice(len(probs), p=probs))]
        if driver == "ALK fusion":
            out.append(TumourFinding(int(i), "nsclc", "fusion", "ALK", "NM_004304.5", None, None, "EML4-ALK fusion"))
        elif driver != "none":
            out.append(_variant(int(i), "nsclc", driver))
    for i in np.flatnonzero(has["breast_cancer"]):
        names = [s for s, _ in BREAST_SUBTYPES]
        probs = np.array([p for _, p in BREAST_SUBTYPES])
        subtype = names[int(rng.choice(len(names), p=probs / probs.sum()))]
        er = subtype.startswith("hr_pos")
        pr = er and rng.random() < 0.85
        her2 = subtype.endswith("her2_pos")
        out.append(
            TumourFinding(
                int(i),
                "breast_cancer",
                "receptor",
                "ESR1",
                None,
                None,
                None,
                "ER positive" if er else "ER negative",
                er,
            )
        )
        out.append(
            TumourFinding(
                int(i),
                "breast_cancer",
                "receptor",
                "PGR",
                None,
                None,
                None,
                "PR positive" if pr else "PR negative",
                pr,
            )
        )
        if her2:
            out.append(
                TumourFinding(
                    int(i),
                    "breast_cancer",
                    "amplification",
                    "ERBB2",
                    "NM_004448.4",
                    None,
                    None,
                    "ERBB2 (HER2) amplification",
                )
            )
        u = rng.random()
        brca1_rate = 0.10 if subtype == "tnbc" else 0.025
        if u < brca1_rate:
            label = "BRCA1 c.68_69del" if rng.random() < 0.5 else "BRCA1 c.5266dup"
            out.append(_variant(int(i), "breast_cancer", label))
        elif u < brca1_rate + 0.03:
            out.append(_variant(int(i), "breast_cancer", "BRCA2 c.5946del"))
    for i in np.flatnonzero(has["colorectal_cancer"]):
        msi_high = rng.random() < 0.15
        out.append(
            TumourFinding(
                int(i),
                "colorectal_cancer",
                "msi",
                "MSI",
                None,
                None,
                None,
                "MSI-H" if msi_high else "MSS",
                msi_high,
            )
        )
        if rng.random() < (0.5 if msi_high else 0.05):
            out.append(_variant(int(i), "colorectal_cancer", "BRAF V600E"))
        elif rng.random() < 0.40:
            kras = ("KRAS G12D", "KRAS G12V", "KRAS G13D", "KRAS G12C")
            probs = np.array([0.35, 0.25, 0.20, 0.08])
            out.append(_variant(int(i), "colorectal_cancer", kras[int(rng.choice(4, p=probs / probs.sum()))]))
    return out
