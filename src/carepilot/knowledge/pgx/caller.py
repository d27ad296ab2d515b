"""Diplotype calling from VCF genotypes against CPIC allele definitions, the way the reference tool does it.

Method (PharmCAT's Named Allele Matcher, Sangkuhl et al., Clin Pharmacol Ther 2020;107:203-210, re-implemented
from its published description and checked against its example outputs):

* Blank cells of a definition mean "same as the reference allele"; IUPAC codes (R, Y, ...) match either base.
* Positions the VCF does not cover (absent or no-call) are removed from every definition; an allele defined
  only at missing positions cannot be called and is reported as such. Missing positions are always reported.
* A pair of named alleles is a compatible diplotype when, at every homozygous position, both alleles carry the
  sample's base and, at every heterozygous position, one carries each base. Phased heterozygous sites (``|``,
  same phase set) keep their strand together; unphased ones may pair either way, so unphased data gives every
  compatible diplotype.
* Score = the number of positions at which each allele's definition gives a base (more specific alleles score
  higher), minus definition wobbles where the sample has the reference base (which add nothing specific;
  inferred from the tool's expected outputs, e.g. CYP2C19 *2/*2 scoring 6). Only the top-scoring diplotypes
  are the call; all compatible ones are kept, ranked, as candidates.
* Special cases mirrored from the tool: CYP2D6 is not called from VCF (outside call); a gene missing a
  required position (NAT2) is not called; undocumented alleles make a gene "Not called" except for genes whose
  undocumented variants are treated as reference (CACNA1S, DPYD, G6PD, NUDT15, RYR1, TPMT); DPYD lists every
  detected variant (lowest-activity pair chosen at phenotype time); SLCO1B1 falls back to the rs4149056
  genotype when no star allele call is possible; NAT2 ties between unphased diplotypes are broken by the
  tool's priority list.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache

from carepilot.knowledge.pgx.alleles import (
    IUPAC,
    OUTSIDE_CALL_GENES,
    WOBBLE_CODES,
    GeneDefinition,
    Locus,
    NamedAllele,
)
from carepilot.knowledge.pgx.vcf import SampleCall, VcfGenotypes

UNDOCUMENTED_AS_REFERENCE = frozenset({"CACNA1S", "DPYD", "G6PD", "NUDT15", "RYR1", "TPMT"})
SLCO1B1_FALLBACK_POSITION = 21178615  # rs4149056, c.521T>C
SLCO1B1_FALLBACK_RSID = "rs4149056"
# Cap on phase groups per pair: each is checked independently, but a pathological input is refused, not run.
_MAX_FREE_GROUPS = 20


@dataclass(frozen=True)
class Diplotype:
    """Two named alleles (one for haploid data) and the match score."""

    allele1: str
    allele2: str | None
    score: int = 0

    @property
    def name(self) -> str:
        return self.allele1 if self.allele2 is None else f"{self.allele1}/{self.allele2}"

    @property
    def alleles(self) -> tuple[str, ...]:
        return (self.allele1,) if self.allele2 is None else (self.allele1, self.allele2)


@dataclass(frozen=True)
class GeneCall:
    """The diplotype call for one gene, with what could not be determined and why."""

    gene: str
    called: bool
    diplotypes: tuple[Diplotype, ...] = ()
    candidates: tuple[Diplotype, ...] = ()
    missing_positions: tuple[str, ...] = ()
    uncallable_alleles: tuple[str, ...] = ()
    phased: bool = False
    source: str = "vcf"  # vcf | outside | record
    reason: str | None = None
    variant_alleles: tuple[str, ...] = ()  # DPYD: every detected variant allele copy
    observed_variants: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    definition_version: str | None = None

    @property
    def diplotype_names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.diplotypes)

    @property
    def ambiguous(self) -> bool:
        return len(self.diplotypes) > 1


@dataclass
class _Haplotype:
    allele: NamedAllele
    allowed: list[frozenset[str]]  # per available position
    wobble: list[bool]
    base_score: int


@dataclass
class _Sample:
    loci: list[Locus]
    calls: list[SampleCall]
    missing: list[Locus] = field(default_factory=list)


def allele_sort_key(name: str) -> tuple[object, ...]:
    """Natural order of allele names (``*2`` before ``*10`` and ``*38``), the order diplotypes are written in.

    Checked against the CPIC phenotype tables: every listed diplotype is written in this order.
    """
    return tuple((0, int(c), "") if c.isdigit() else (1, 0, c) for c in re.split(r"(\d+)", name) if c)


def call_genes(
    definitions: dict[str, GeneDefinition], genotypes: VcfGenotypes, genes: Iterable[str] | None = None
) -> dict[str, GeneCall]:
    """Call every gene that has a definition (or only ``genes``), in name order."""
    wanted = sorted(definitions) if genes is None else [g for g in genes if g in definitions]
    return {gene: call_gene(definitions[gene], genotypes) for gene in wanted}


def call_gene(definition: GeneDefinition, genotypes: VcfGenotypes) -> GeneCall:
    """Call one gene's diplotype(s) from a sample's genotypes."""
    gene = definition.gene
    if gene in OUTSIDE_CALL_GENES:
        return GeneCall(
            gene=gene,
            called=False,
            source="outside",
            reason=f"{gene} is not called from VCF (needs copy-number and structural calling); "
            "supply an outside call or a lab-reported diplotype",
            definition_version=definition.version,
        )
    sample, missing_labels, warnings, undocumented = _collect(definition, genotypes)
    base = GeneCall(
        gene=gene,
        called=False,
        missing_positions=missing_labels,
        warnings=tuple(warnings),
        definition_version=definition.version,
        observed_variants=tuple(
            f"{locus.label} {call.display}"
            for locus, call in zip(sample.loci, sample.calls, strict=True)
            if any(a != locus.ref for a in call.alleles)
        ),
    )
    if not sample.calls:
        return replace(base, reason=f"no genotype at any of the {len(definition.loci)} positions")
    if undocumented and gene not in UNDOCUMENTED_AS_REFERENCE:
        return _slco1b1_fallback(definition, sample, base) or replace(
            base,
            reason="allele(s) not in any definition at " + ", ".join(undocumented),
        )
    required = definition.exemption.required_positions
    missing_required = [locus.label for locus in sample.missing if locus.position in required]
    if missing_required:
        return replace(base, reason="required position(s) missing: " + ", ".join(missing_required))
    haplotypes, uncallable = _haplotypes(definition, sample)
    phased = all(c.phased or c.homozygous for c in sample.calls) and any(c.phased for c in sample.calls)
    if gene == "DPYD":
        return _call_dpyd(definition, sample, haplotypes, uncallable, phased, base)
    ranked = _rank_pairs(haplotypes, sample)
    if not ranked:
        return _slco1b1_fallback(definition, sample, base) or replace(
            base,
            uncallable_alleles=uncallable,
            phased=phased,
            reason="no pair of defined alleles matches the genotypes (novel allele or combination)",
        )
    top_score = ranked[0].score
    top = [d for d in ranked if d.score == top_score]
    if not phased and len(top) > 1:
        names = frozenset(d.name for d in top)
        for options, pick in definition.exemption.unphased_priorities:
            if names == options:
                top = [d for d in top if d.name == pick]
                break
    return replace(
        base,
        called=True,
        diplotypes=tuple(top),
        candidates=tuple(ranked),
        uncallable_alleles=uncallable,
        phased=phased,
    )


def _collect(
    definition: GeneDefinition, genotypes: VcfGenotypes
) -> tuple[_Sample, tuple[str, ...], list[str], list[str]]:
    sample = _Sample(loci=[], calls=[])
    warnings: list[str] = []
    undocumented: list[str] = []
    ignored = definition.exemption.ignored_positions
    for index, locus in enumerate(definition.loci):
        call = genotypes.at(locus.chromosome, locus.position, locus.ref)
        if call is None:
            sample.missing.append(locus)
            continue
        if locus.position in ignored and any(a != locus.ref for a in call.alleles):
            # The tool keeps ignored positions in the definition (they count in the score) but disregards
            # what the sample carries there.
            warnings.append(f"{locus.label}: position ignored for {definition.gene}; read as reference")
            call = SampleCall(
                call.chromosome, call.position, locus.ref, tuple(locus.ref for _ in call.alleles), call.phased
            )
        if call.ref != locus.ref and not call.from_reference_block and call.ref[:1] != locus.ref[:1]:
            warnings.append(f"{locus.label}: VCF REF {call.ref} differs from the definition's {locus.ref}")
        known = _known_alleles(definition, index, locus)
        fixed: list[str] = []
        for allele in call.alleles:
            if allele in known:
                fixed.append(allele)
            elif definition.gene in UNDOCUMENTED_AS_REFERENCE:
                warnings.append(f"{locus.label}: undocumented allele {allele} treated as reference")
                fixed.append(locus.ref)
            else:
                undocumented.append(f"{locus.label} ({allele})")
                fixed.append(allele)
        if tuple(fixed) != call.alleles:
            call = SampleCall(call.chromosome, call.position, call.ref, tuple(fixed), call.phased, call.phase_set)
        sample.loci.append(locus)
        sample.calls.append(call)
    missing = tuple(
        locus.label + (" (no-call)" if genotypes.is_no_call(locus.chromosome, locus.position) else "")
        for locus in sample.missing
    )
    return sample, missing, warnings, undocumented


def _known_alleles(definition: GeneDefinition, index: int, locus: Locus) -> set[str]:
    known = {locus.ref}
    for named in definition.alleles:
        value = named.alleles[index]
        if value is not None:
            known |= _expand(value)
    return known


@lru_cache(maxsize=4096)
def _expand(value: str) -> frozenset[str]:
    if len(value) == 1 and value in IUPAC:
        return IUPAC[value]
    return frozenset({value})


def _haplotypes(definition: GeneDefinition, sample: _Sample) -> tuple[list[_Haplotype], tuple[str, ...]]:
    reference = definition.reference_allele
    index_of = {locus.position: i for i, locus in enumerate(definition.loci)}
    out: list[_Haplotype] = []
    uncallable: list[str] = []
    ignored = definition.exemption.ignored_alleles
    for named in definition.alleles:
        if named.name in ignored:
            continue
        allowed: list[frozenset[str]] = []
        wobble: list[bool] = []
        score = 0
        for locus in sample.loci:
            i = index_of[locus.position]
            value = named.alleles[i]
            if value is not None:
                score += 1
                allowed.append(_expand(value))
                wobble.append(value in WOBBLE_CODES)
            else:
                ref_value = reference.alleles[i]
                fill = locus.ref if ref_value is None or ref_value in WOBBLE_CODES else ref_value
                allowed.append(_expand(fill))
                wobble.append(False)
        if score == 0:
            uncallable.append(named.name)
            continue
        out.append(_Haplotype(named, allowed, wobble, score))
    return out, tuple(uncallable)


def _rank_pairs(haplotypes: list[_Haplotype], sample: _Sample) -> list[Diplotype]:
    calls = sample.calls
    haploid = all(len(c.alleles) == 1 for c in calls)
    candidates = [h for h in haplotypes if all(h.allowed[i] & set(c.alleles) for i, c in enumerate(calls))]
    candidates.sort(key=lambda h: allele_sort_key(h.allele.name))
    results: list[Diplotype] = []
    if haploid:
        for h in candidates:
            if all(c.alleles[0] in h.allowed[i] for i, c in enumerate(calls)):
                results.append(Diplotype(h.allele.name, None, h.base_score - _discount(h, sample)))
    else:
        groups = _het_groups(calls)
        for a, h1 in enumerate(candidates):
            for h2 in candidates[a:]:
                score = _pair_score(h1, h2, sample, groups)
                if score is not None:
                    results.append(Diplotype(h1.allele.name, h2.allele.name, score))
    results.sort(key=lambda d: -d.score)
    return results


def _het_groups(calls: list[SampleCall]) -> list[list[int]]:
    """Heterozygous positions that must keep the same strand orientation (one group per phase set)."""
    groups: dict[object, list[int]] = {}
    for i, call in enumerate(calls):
        if call.homozygous:
            continue
        key: object = ("ps", call.phase_set) if call.phased else ("free", i)
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def _pair_score(h1: _Haplotype, h2: _Haplotype, sample: _Sample, groups: list[list[int]]) -> int | None:
    calls = sample.calls
    for i, call in enumerate(calls):
        if call.homozygous:
            base = call.alleles[0]
            if base not in h1.allowed[i] or base not in h2.allowed[i]:
                return None
    total = h1.base_score + h2.base_score
    # Homozygous positions: wobble discount for both alleles where the sample is reference.
    for i, call in enumerate(calls):
        if call.homozygous and call.alleles[0] == sample.loci[i].ref:
            total -= int(h1.wobble[i]) + int(h2.wobble[i])
    if len(groups) > _MAX_FREE_GROUPS:
        return None
    for group in groups:
        best: int | None = None
        for orientation in (0, 1):
            penalty = 0
            ok = True
            for i in group:
                first, second = calls[i].alleles[orientation], calls[i].alleles[1 - orientation]
                if first not in h1.allowed[i] or second not in h2.allowed[i]:
                    ok = False
                    break
                ref = sample.loci[i].ref
                penalty += int(h1.wobble[i] and first == ref) + int(h2.wobble[i] and second == ref)
            if ok and (best is None or penalty < best):
                best = penalty
        if best is None:
            return None
        total -= best
    return total


def _discount(h: _Haplotype, sample: _Sample, strand: int = 0) -> int:
    return sum(1 for i, call in enumerate(sample.calls) if h.wobble[i] and call.alleles[strand] == sample.loci[i].ref)


def _call_dpyd(
    definition: GeneDefinition,
    sample: _Sample,
    haplotypes: list[_Haplotype],
    uncallable: tuple[str, ...],
    phased: bool,
    base: GeneCall,
) -> GeneCall:
    """DPYD: report every detected variant allele; the phenotype uses the two lowest-activity ones (CPIC)."""
    reference = definition.reference_allele.name
    index_of = {locus.position: i for i, locus in enumerate(definition.loci)}
    copies: list[str] = []
    strands: list[list[str]] = [[], []]
    for h in haplotypes:
        if h.allele.reference:
            continue
        defining = [i for i, locus in enumerate(sample.loci) if h.allele.alleles[index_of[locus.position]] is not None]
        if not defining:
            continue
        per_strand = [
            all(sample.calls[i].alleles[s % len(sample.calls[i].alleles)] in h.allowed[i] for i in defining)
            for s in (0, 1)
        ]
        carried = all(any(a in h.allowed[i] for a in sample.calls[i].alleles) for i in defining)
        if not carried:
            continue
        homozygous = all(all(a in h.allowed[i] for a in sample.calls[i].alleles) for i in defining)
        count = 2 if homozygous else 1
        copies.extend([h.allele.name] * count)
        if phased:
            for s in (0, 1):
                if per_strand[s]:
                    strands[s].append(h.allele.name)
    copies.sort(key=allele_sort_key)
    if phased:
        names = [" + ".join(sorted(s, key=allele_sort_key)) or reference for s in strands]
        names.sort(key=allele_sort_key)
        diplotype = Diplotype(names[0], names[1], 0)
    elif len(copies) <= 2:
        pair = [*copies, *[reference] * (2 - len(copies))]
        pair.sort(key=allele_sort_key)
        diplotype = Diplotype(pair[0], pair[1], 0)
    else:
        # More than two variant copies unphased: the pair is chosen by activity in the phenotype step.
        diplotype = Diplotype(" + ".join(copies), None, 0)
    scored = _rank_pairs(haplotypes, sample)
    exact = next((d for d in scored if d.name == diplotype.name), None)
    if exact is not None:
        diplotype = exact
    return replace(
        base,
        called=True,
        diplotypes=(diplotype,),
        candidates=(diplotype,),
        uncallable_alleles=uncallable,
        phased=phased,
        variant_alleles=tuple(copies),
    )


def _slco1b1_fallback(definition: GeneDefinition, sample: _Sample, base: GeneCall) -> GeneCall | None:
    """SLCO1B1 with no star-allele call: report the rs4149056 genotype (the CPIC statin guideline uses it)."""
    if definition.gene != "SLCO1B1":
        return None
    for locus, call in zip(sample.loci, sample.calls, strict=True):
        if locus.position == SLCO1B1_FALLBACK_POSITION:
            alleles = sorted(call.alleles, key=lambda a: (a != locus.ref, a))
            label = f"{SLCO1B1_FALLBACK_RSID} {'/'.join(alleles)}"
            diplotype = Diplotype(label, None, 0)
            return replace(
                base,
                called=True,
                diplotypes=(diplotype,),
                candidates=(diplotype,),
                reason="star alleles not determinable; called from rs4149056 alone",
            )
    return None


def reference_pair(definition: GeneDefinition) -> str:
    """The diplotype name of a fully reference sample (used in docs and tests)."""
    name = definition.reference_allele.name
    return f"{name}/{name}"


__all__ = [
    "Diplotype",
    "GeneCall",
    "allele_sort_key",
    "call_gene",
    "call_genes",
    "reference_pair",
]
