"""Precision oncology: tumour biomarkers -> standard-of-care therapy, with CIViC evidence beside it.

Two sources: a small curated table of standard-of-care pairs with guideline and label citations
(``data/oncology_soc.toml``), and the CIViC evidence dump (CC0; Griffith et al., Nat Genet 2017;49:170-174),
read in place by ``load_civic``. Variant names from reports, HGVS ``p.`` notation and CIViC are normalised to
one form ("L858R", "V600E", "EXON 19 DELETION", "FUSION", "AMPLIFICATION", "MUTATION", "POSITIVE", "HIGH") by
the small parser below: the names to reconcile are few and CIViC-specific, which is why it is written here
rather than taken from an HGVS library (those parse full HGVS strings, not report shorthand like "Ex19del").

Biomarker text accepted in ``tumor_variant`` measurements and on the command line, case-insensitive:
``"EGFR L858R"``, ``"EGFR:L858R"``, ``"EGFR p.L858R"``, ``"EGFR p.(Leu858Arg)"``, ``"EGFR exon 19 deletion"``,
``"EGFR Ex19del"``, ``"EGFR E746_A750del"``, ``"ALK fusion"``, ``"EML4-ALK"``, ``"ERBB2 amplification"``,
``"HER2 positive"``, ``"HR positive"`` / ``"ER+"``, ``"BRCA1 germline mutation"``, ``"KRAS G12D"``,
``"MSI-H"`` / ``"MSI-high"`` / ``"dMMR"``.
"""

from __future__ import annotations

import csv
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from carepilot.domain.insight import (
    Confidence,
    Declined,
    Evidence,
    Factor,
    Insight,
    InsightKind,
    Severity,
    Source,
)
from carepilot.domain.profile import PatientProfile
from carepilot.errors import InputError, UnreadableInputError

ENGINE = "oncology"


class BiomarkerFormatError(InputError):
    """A biomarker text cannot be read as GENE + change."""


# ----------------------------------------------------------------------------------------------------
# Variant names

GENE_ALIASES = {"HER2": "ERBB2", "HER-2": "ERBB2", "NEU": "ERBB2", "ER": "HR", "PR": "HR", "PGR": "HR"}
AMINO_ACIDS = {
    "Ala": "A",
    "Arg": "R",
    "Asn": "N",
    "Asp": "D",
    "Cys": "C",
    "Gln": "Q",
    "Glu": "E",
    "Gly": "G",
    "His": "H",
    "Ile": "I",
    "Leu": "L",
    "Lys": "K",
    "Met": "M",
    "Phe": "F",
    "Pro": "P",
    "Ser": "S",
    "Thr": "T",
    "Trp": "W",
    "Tyr": "Y",
    "Val": "V",
    "Ter": "*",
    "Sec": "U",
}
_THREE_LETTER = re.compile("|".join(AMINO_ACIDS))
# EGFR exon 19 spans codons 729-761 (NM_005228); in-frame deletions there are "exon 19 deletions".
EGFR_EXON19 = (729, 761)
NON_MUTATION = {"AMPLIFICATION", "FUSION", "POSITIVE", "OVEREXPRESSION", "EXPRESSION", "WILDTYPE", "HIGH"}


@dataclass(frozen=True)
class Biomarker:
    """One normalised tumour biomarker: gene (or HR / MSI) and change."""

    gene: str
    variant: str
    text: str = ""

    @property
    def label(self) -> str:
        if self.gene == "MSI":
            return "MSI-high"
        if self.gene == "HR":
            return "hormone receptor positive"
        if self.gene == "ERBB2" and self.variant in ("POSITIVE", "AMPLIFICATION"):
            return "HER2-positive" if self.variant == "POSITIVE" else "ERBB2 (HER2) amplification"
        words = " " in self.variant or self.variant in NON_MUTATION or self.variant.isalpha()
        return f"{self.gene} {self.variant.lower() if words else self.variant}"


def normalise_variant(gene: str, text: str) -> str:
    """A variant name in the project's normal form (see the module docstring)."""
    raw = re.sub(r"\s+", " ", text.strip())
    raw = re.sub(r"^p\.\(?(.*?)\)?$", r"\1", raw)
    raw = _THREE_LETTER.sub(lambda m: AMINO_ACIDS[m.group()], raw)
    up = raw.upper().replace("TER", "*")
    if not up:
        raise BiomarkerFormatError(f"no variant given for {gene}")
    if re.fullmatch(r"C\.\S+", up) or re.search(r"\b(MUTATION|MUTANT|MUTATED|PATHOGENIC|VARIANT)\b", up):
        return "MUTATION"
    if "FUSION" in up or "REARRANGE" in up or re.fullmatch(r"[A-Z0-9]+-[A-Z0-9]+", up):
        # "ALK FUSION G1202R" is a resistance mutation inside a fusion, not the fusion itself.
        return up if re.search(r"\b[A-Z]\d{3,}", up) else "FUSION"
    if up in ("AMP", "AMPLIFIED", "AMPLIFICATION", "COPY NUMBER GAIN"):
        return "AMPLIFICATION"
    if up in ("+", "POS", "POSITIVE", "OVEREXPRESSED", "3+"):
        return "POSITIVE"
    if up in ("H", "HIGH", "-H", "-HIGH"):
        return "HIGH"
    if up in ("LOSS", "LOSS-OF-FUNCTION", "LOSS OF FUNCTION", "TRUNCATING"):
        return "LOSS-OF-FUNCTION"
    exon = re.fullmatch(r"EX(?:ON)?\s*(\d+)\s*(DEL|DELETION|INS|INSERTION)", up)
    if exon:
        kind = "DELETION" if exon.group(2).startswith("DEL") else "INSERTION"
        return f"EXON {exon.group(1)} {kind}"
    indel = re.fullmatch(r"([A-Z])(\d+)_([A-Z])(\d+)(DEL|DELINS[A-Z]*)", up)
    if gene == "EGFR" and indel and EGFR_EXON19[0] <= int(indel.group(2)) <= EGFR_EXON19[1]:
        return "EXON 19 DELETION"
    return up


def parse_biomarker(text: str) -> Biomarker:
    """Read ``"GENE CHANGE"`` / ``"GENE:CHANGE"`` (or MSI / receptor status) into a Biomarker."""
    clean = re.sub(r"\s+", " ", (text or "").strip())
    if not clean:
        raise BiomarkerFormatError("empty biomarker text")
    up = clean.upper()
    if re.fullmatch(r"(MSI[- ]?(H|HIGH)|DMMR|MMR[- ]DEFICIENT|MISMATCH REPAIR DEFICIENT)", up):
        return Biomarker("MSI", "HIGH", clean)
    fusion = re.fullmatch(r"([A-Z0-9]+)-([A-Z0-9]+)(?: FUSION)?", up)
    if fusion and fusion.group(2) in ("ALK", "ROS1", "RET", "NTRK1", "NTRK2", "NTRK3"):
        return Biomarker(fusion.group(2), "FUSION", clean)
    match = re.fullmatch(r"([A-Za-z0-9-]+?)(\+|-H|-HIGH|:\s*|\s+)(.*)", clean)
    if match is None:
        raise BiomarkerFormatError(f"cannot read {text!r} as GENE CHANGE (e.g. 'EGFR L858R', 'EGFR:L858R')")
    gene = match.group(1).upper()
    rest = match.group(3) or match.group(2).strip(": ")
    gene = GENE_ALIASES.get(gene, gene)
    if gene == "MSI":
        return Biomarker("MSI", "HIGH" if normalise_variant(gene, rest) == "HIGH" else rest.upper(), clean)
    return Biomarker(gene, normalise_variant(gene, rest), clean)


def is_mutation(variant: str) -> bool:
    """Whether a normalised variant is a sequence change (not expression, copy number, fusion or status)."""
    return variant not in NON_MUTATION and (
        variant in ("MUTATION", "LOSS-OF-FUNCTION")
        or bool(re.match(r"[A-Z*]\d+", variant))
        or variant.startswith("EXON ")
    )


def variant_match(rule_variant: str, variant: str) -> str | None:
    """How a rule's variant covers a patient's: "exact", "codon" (V600 for V600E), "gene" (any mutation)."""
    if rule_variant == variant:
        return "exact"
    if re.fullmatch(r"[A-Z]\d+", rule_variant) and re.fullmatch(re.escape(rule_variant) + r"[A-Z*]", variant):
        return "codon"
    if rule_variant == "MUTATION" and is_mutation(variant):
        return "gene"
    return None


# ----------------------------------------------------------------------------------------------------
# Standard-of-care table


@dataclass(frozen=True)
class SocPair:
    id: str
    tumor: str
    gene: str
    variants: tuple[str, ...]
    therapy: str
    line: str
    significance: str  # sensitivity | resistance
    recommendation: str
    level: str
    citation: str
    url: str | None = None


@dataclass(frozen=True)
class TumorType:
    key: str
    display: str
    civic_diseases: tuple[str, ...]


@dataclass(frozen=True)
class SocTable:
    version: str
    pairs: tuple[SocPair, ...]
    tumor_types: dict[str, TumorType]


def parse_soc_table(text: str) -> SocTable:
    """Build the standard-of-care table from the TOML text of ``oncology_soc.toml``."""
    raw = tomllib.loads(text)
    version = next(
        (ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("# version:")),
        "unversioned",
    )
    tumors = {
        key: TumorType(key, spec["display"], tuple(spec["civic_diseases"]))
        for key, spec in raw.get("tumor_types", {}).items()
    }
    pairs = tuple(
        SocPair(
            id=p["id"],
            tumor=p["tumor"],
            gene=p["gene"],
            variants=tuple(p["variants"]),
            therapy=p["therapy"],
            line=p["line"],
            significance=p["significance"],
            recommendation=p["recommendation"],
            level=p["level"],
            citation=p["citation"],
            url=p.get("url"),
        )
        for p in raw.get("pair", [])
    )
    return SocTable(version=version, pairs=pairs, tumor_types=tumors)


@lru_cache(maxsize=1)
def soc_table() -> SocTable:
    """The built-in standard-of-care table, loaded once per process."""
    text = resources.files("carepilot.knowledge").joinpath("data/oncology_soc.toml").read_text(encoding="utf-8")
    return parse_soc_table(text)


TUMOR_ALIASES = {
    "lung": "nsclc",
    "nsclc": "nsclc",
    "non-small cell lung cancer": "nsclc",
    "breast": "breast_cancer",
    "breast_cancer": "breast_cancer",
    "colorectal": "colorectal_cancer",
    "crc": "colorectal_cancer",
    "colorectal_cancer": "colorectal_cancer",
}


def tumor_key(text: str, table: SocTable | None = None) -> str:
    """A tumour type given by the user as a condition concept key or common alias."""
    table = table or soc_table()
    key = TUMOR_ALIASES.get(text.strip().lower().replace("-", "_"), text.strip().lower())
    if key not in table.tumor_types:
        raise InputError(f"unknown tumour type {text!r}; known: {', '.join(sorted(table.tumor_types))}")
    return key


# ----------------------------------------------------------------------------------------------------
# CIViC


@dataclass(frozen=True)
class CivicEvidence:
    """One accepted CIViC predictive evidence item."""

    evidence_id: str
    gene: str
    variant: str  # normalised
    variant_name: str  # as CIViC writes it
    disease: str
    drugs: tuple[str, ...]
    level: str  # A (validated) .. E (inferential)
    direction: str  # Supports | Does Not Support
    significance: str  # Sensitivity | Resistance or Non-Response | ...
    origin: str
    citation: str
    pubmed_id: str
    url: str
    rating: int = 0

    @property
    def resistance(self) -> bool:
        return self.significance.lower().startswith("resistance")


@dataclass
class CivicKnowledgeBase:
    version: str
    items: tuple[CivicEvidence, ...]
    by_gene: dict[str, list[CivicEvidence]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for item in self.items:
            self.by_gene.setdefault(item.gene, []).append(item)


def civic_from_rows(rows: Iterable[dict[str, str]], version: str) -> CivicKnowledgeBase:
    """Keep accepted predictive evidence of sensitivity or resistance, with variant names normalised."""
    items = []
    for row in rows:
        if row.get("evidence_type") != "Predictive" or row.get("evidence_status", "accepted") != "accepted":
            continue
        significance = row.get("clinical_significance", "")
        if not significance.startswith(("Sensitivity", "Resistance")):
            continue
        gene = (row.get("gene") or "").upper()
        name = row.get("variant") or ""
        if not gene or not name:
            continue
        try:
            variant = normalise_variant(gene, name)
        except BiomarkerFormatError:
            continue
        drugs = tuple(d.strip() for d in (row.get("drugs") or "").split(",") if d.strip())
        rating = row.get("rating") or ""
        items.append(
            CivicEvidence(
                evidence_id=row.get("evidence_id", ""),
                gene=gene,
                variant=variant,
                variant_name=name,
                disease=row.get("disease", ""),
                drugs=drugs,
                level=row.get("evidence_level", "E"),
                direction=row.get("evidence_direction", ""),
                significance=significance,
                origin=row.get("variant_origin", ""),
                citation=row.get("citation", ""),
                pubmed_id=row.get("pubmed_id", ""),
                url=row.get("evidence_civic_url", ""),
                rating=int(rating) if rating.isdigit() else 0,
            )
        )
    return CivicKnowledgeBase(version=version, items=tuple(items))


def load_civic(folder: Path) -> CivicKnowledgeBase:
    """Read the CIViC nightly evidence TSV in place (``nightly-ClinicalEvidenceSummaries.tsv``)."""
    path = folder / "nightly-ClinicalEvidenceSummaries.tsv" if folder.is_dir() else folder
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            # Evidence statements hold stray quote characters; the file is plain tab-separated.
            rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    except OSError as exc:
        raise UnreadableInputError(f"cannot read CIViC evidence file {path}: {exc}") from exc
    dates = sorted({r.get("last_review_date", "")[:10] for r in rows if r.get("last_review_date")})
    version = f"CIViC nightly (evidence reviewed up to {dates[-1]})" if dates else "CIViC nightly"
    return civic_from_rows(rows, version)


# ----------------------------------------------------------------------------------------------------
# Matching

_LEVEL_ORDER = {"A": 0, "B": 1, "C": 2, "D": 3, "E": 4}
LEVEL_WORDS = {
    "A": "validated association",
    "B": "clinical evidence",
    "C": "case study",
    "D": "preclinical evidence",
    "E": "inferential association",
}


@dataclass(frozen=True)
class CivicHit:
    item: CivicEvidence
    match: str  # exact | codon | gene
    on_label: bool  # the evidence is in the patient's tumour type


@dataclass(frozen=True)
class VariantMatch:
    """Everything known for one biomarker in one tumour type."""

    biomarker: Biomarker
    tumor: str | None
    soc: tuple[SocPair, ...]
    soc_other_tumors: tuple[SocPair, ...]
    civic: tuple[CivicHit, ...]

    @property
    def civic_on_label(self) -> tuple[CivicHit, ...]:
        return tuple(h for h in self.civic if h.on_label)

    @property
    def civic_other(self) -> tuple[CivicHit, ...]:
        return tuple(h for h in self.civic if not h.on_label)


def match_biomarker(
    biomarker: Biomarker,
    tumor: str | None,
    *,
    table: SocTable | None = None,
    civic: CivicKnowledgeBase | None = None,
) -> VariantMatch:
    """Standard-of-care pairs and CIViC evidence for a biomarker, split into this tumour type and others."""
    table = table or soc_table()
    soc: list[SocPair] = []
    other: list[SocPair] = []
    for pair in table.pairs:
        if pair.gene != biomarker.gene or not any(variant_match(v, biomarker.variant) for v in pair.variants):
            continue
        (soc if pair.tumor == tumor else other).append(pair)
    hits: list[CivicHit] = []
    diseases = set(table.tumor_types[tumor].civic_diseases) if tumor in table.tumor_types else set()
    for item in civic.by_gene.get(biomarker.gene, []) if civic else []:
        how = variant_match(item.variant, biomarker.variant)
        if how is not None:
            hits.append(CivicHit(item, how, item.disease in diseases))
    hits.sort(
        key=lambda h: (
            not h.on_label,
            {"exact": 0, "codon": 1, "gene": 2}[h.match],
            _LEVEL_ORDER.get(h.item.level, 5),
            -h.item.rating,
        )
    )
    return VariantMatch(biomarker, tumor, tuple(soc), tuple(other), tuple(hits))


def summarise_civic(hits: Sequence[CivicHit]) -> list[tuple[str, str, str, int]]:
    """(drugs, significance, best level, items) per therapy, best level first."""
    groups: dict[tuple[str, str], list[CivicHit]] = {}
    for h in hits:
        if h.item.direction != "Supports" or not h.item.drugs:
            continue
        sig = "resistance" if h.item.resistance else "sensitivity"
        groups.setdefault((" + ".join(h.item.drugs), sig), []).append(h)
    rows = [
        (drugs, sig, min((h.item.level for h in group), key=lambda lv: _LEVEL_ORDER.get(lv, 5)), len(group))
        for (drugs, sig), group in groups.items()
    ]
    rows.sort(key=lambda r: (_LEVEL_ORDER.get(r[2], 5), -r[3]))
    return rows


# ----------------------------------------------------------------------------------------------------
# Insights


def patient_tumors(profile: PatientProfile, table: SocTable | None = None) -> list[str]:
    """Active cancer diagnoses of the supported tumour types."""
    table = table or soc_table()
    return [key for key in table.tumor_types if profile.has_condition(key)]


def patient_biomarkers(profile: PatientProfile) -> tuple[list[Biomarker], list[str]]:
    """Biomarkers from ``tumor_variant`` (and ``msi``) measurements, and the texts that could not be read."""
    found: dict[tuple[str, str], Biomarker] = {}
    unreadable: list[str] = []
    for m in profile.measurements:
        if m.concept not in ("tumor_variant", "msi") or (m.effective is not None and m.effective > profile.as_of):
            continue
        text = (m.text_value or "").strip()
        if m.concept == "msi":
            if text and re.search(r"\b(MSI[- ]?H|HIGH|DMMR)\b", text.upper()):
                found[("MSI", "HIGH")] = Biomarker("MSI", "HIGH", text)
            continue
        try:
            b = parse_biomarker(text)
        except BiomarkerFormatError:
            unreadable.append(text or m.resource_id)
            continue
        found.setdefault((b.gene, b.variant), b)
    return list(found.values()), unreadable


def _civic_evidence(hits: Sequence[CivicHit], limit: int = 4) -> list[Evidence]:
    out = []
    for h in hits[:limit]:
        item = h.item
        drugs = " + ".join(item.drugs) or "no drug"
        out.append(
            Evidence(
                label=f"CIViC EID{item.evidence_id}: {item.gene} {item.variant_name}, {item.disease}, "
                f"{drugs} ({item.significance.lower()}, {item.direction.lower()})",
                citation=f"{item.citation}. PMID {item.pubmed_id}",
                url=item.url or None,
                level=f"CIViC {item.level}",
            )
        )
    return out


def biomarker_insight(
    profile: PatientProfile,
    match: VariantMatch,
    *,
    table: SocTable,
    civic: CivicKnowledgeBase | None,
) -> Insight | Declined:
    """One Insight for one biomarker in the patient's tumour type (standard of care first, then CIViC)."""
    b = match.biomarker
    tumor = table.tumor_types[match.tumor].display if match.tumor in table.tumor_types else "tumour"
    source = Source(
        id="oncology-soc",
        version=table.version,
        kind="rule",
        data_window=civic.version if civic is not None else None,
    )
    factor = Factor(label=b.label, contribution=1.0, phrase=f"{b.label} reported in the tumour ({b.text})")
    if match.soc:
        pair = match.soc[0]
        if pair.significance == "resistance":
            title = f"{b.label} in {tumor}: avoid {pair.therapy.split(' (')[0]} (resistance)"
            severity = Severity.WARNING
        else:
            line = re.split(r"[,(;]", pair.line)[0].strip()
            title = f"{b.label} in {tumor}: {pair.therapy.split(' (')[0]} ({line})"
            severity = Severity.INFO
        lines = [f"**Standard of care:** {p.recommendation} ({p.level}; {p.line})." for p in match.soc]
        on_label = summarise_civic(match.civic_on_label)
        if on_label:
            lines.append(
                "CIViC evidence in this tumour type: "
                + "; ".join(f"{d} - {s}, best level {lv} ({n} items)" for d, s, lv, n in on_label[:4])
                + "."
            )
        lines.append("Decision support only: confirm against the current guideline and the tumour board.")
        return Insight(
            patient_id=profile.patient_id,
            as_of=profile.as_of,
            kind=InsightKind.ONCOLOGY,
            title=title[:139],
            detail="\n\n".join(lines),
            confidence=Confidence(level="high", statement=f"Guideline standard of care: {pair.level}."),
            source=source,
            explanation=(factor,),
            evidence=(
                *(Evidence(label=p.id, citation=p.citation, url=p.url, level=p.level) for p in match.soc),
                *_civic_evidence(match.civic_on_label),
            ),
            severity=severity,
            topic=f"oncology:{b.gene}:{b.variant}:{match.tumor}",
        )
    on_label = summarise_civic(match.civic_on_label)
    if on_label:
        drugs, sig, level, _ = on_label[0]
        title = f"{b.label} in {tumor}: CIViC level {level} {sig} to {drugs}"
        lines = [
            "No standard-of-care pair in the curated table for this biomarker; CIViC evidence in this tumour "
            "type: " + "; ".join(f"{d} - {s}, best level {lv} ({k} items)" for d, s, lv, k in on_label[:6]) + ".",
            "Consider a molecular tumour board or a clinical trial.",
        ]
        return Insight(
            patient_id=profile.patient_id,
            as_of=profile.as_of,
            kind=InsightKind.ONCOLOGY,
            title=title[:139],
            detail="\n\n".join(lines),
            confidence=Confidence(
                level="moderate" if level in ("A", "B") else "low",
                statement=f"Best CIViC evidence level {level}: {LEVEL_WORDS.get(level, 'unrated')}.",
            ),
            source=source,
            explanation=(factor,),
            evidence=tuple(_civic_evidence(match.civic_on_label)),
            severity=Severity.INFO,
            topic=f"oncology:{b.gene}:{b.variant}:{match.tumor}",
        )
    other = summarise_civic(match.civic_other)
    if match.soc_other_tumors or other:
        elsewhere = sorted(
            {table.tumor_types[p.tumor].display for p in match.soc_other_tumors if p.tumor in table.tumor_types}
        )
        diseases = sorted({h.item.disease for h in match.civic_other})[:5]
        lines = [
            f"No on-label standard of care or CIViC evidence for {b.label} in {tumor}.",
            "Evidence exists in other tumour types only (off-label): "
            + ", ".join(elsewhere + [d for d in diseases if d not in elsewhere])
            + ".",
        ]
        if other:
            lines.append("; ".join(f"{d} - {s}, best level {lv}" for d, s, lv, _ in other[:4]) + ".")
        return Insight(
            patient_id=profile.patient_id,
            as_of=profile.as_of,
            kind=InsightKind.ONCOLOGY,
            title=f"{b.label} in {tumor}: evidence only in other tumour types"[:139],
            detail="\n\n".join(lines),
            confidence=Confidence(level="low", statement="Off-label: evidence from other tumour types."),
            source=source,
            explanation=(factor,),
            evidence=(
                *(Evidence(label=p.id, citation=p.citation, url=p.url, level=p.level) for p in match.soc_other_tumors),
                *_civic_evidence(match.civic_other, limit=3),
            ),
            severity=Severity.INFO,
            topic=f"oncology:{b.gene}:{b.variant}:{match.tumor}",
        )
    return Declined(profile.patient_id, ENGINE, f"no therapy evidence for {b.label} in {tumor}")


def oncology_insights(
    profile: PatientProfile,
    *,
    civic: CivicKnowledgeBase | None = None,
    table: SocTable | None = None,
) -> list[Insight | Declined]:
    """Therapy Insights for each tumour biomarker of a patient with a supported active cancer diagnosis."""
    table = table or soc_table()
    tumors = patient_tumors(profile, table)
    biomarkers, unreadable = patient_biomarkers(profile)
    out: list[Insight | Declined] = [
        Declined(profile.patient_id, ENGINE, f"tumour variant text not readable: {text!r}") for text in unreadable
    ]
    if not biomarkers:
        return out
    if not tumors:
        out.append(
            Declined(
                profile.patient_id,
                ENGINE,
                "tumour variants present but no active diagnosis of a supported tumour type "
                f"({', '.join(table.tumor_types)})",
            )
        )
        return out
    for tumor in tumors:
        for b in biomarkers:
            match = match_biomarker(b, tumor, table=table, civic=civic)
            out.append(biomarker_insight(profile, match, table=table, civic=civic))
    return out
