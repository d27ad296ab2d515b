"""A small VCF reader for pharmacogene positions: plain or gzip/BGZF text, one sample, GRCh38.

Hand-written rather than pysam/cyvcf2 because the caller needs only CHROM, POS, REF, ALT, the GT (and PS) of
one sample and gVCF reference blocks for about a thousand positions; both libraries are compiled htslib
bindings that bring a native dependency for no gain here. ``gzip`` reads BGZF files since BGZF is a series of
gzip members.

What it understands: ``0/1`` unphased, ``0|1`` phased (with an optional PS phase set), ``./.`` and partial
no-calls, haploid ``1``, multi-allelic ALT (GT indexes REF + ALT), symbolic ``<NON_REF>``/``<*>`` alleles, and
reference blocks (``END=`` with a homozygous-reference GT) as written by gVCF callers.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from carepilot.errors import InputError, UnreadableInputError

log = logging.getLogger(__name__)

_NOT_GRCH38 = ("grch37", "hg19", "b37", "hs37", "ncbi36", "hg18")
_SYMBOLIC_REF_ONLY = {"<NON_REF>", "<*>", "."}


class VcfFormatError(InputError):
    """A VCF line cannot be parsed; the message names the line."""


@dataclass(frozen=True)
class SampleCall:
    """The genotype of one sample at one position: the alleles as VCF strings (REF/ALT text)."""

    chromosome: str
    position: int
    ref: str
    alleles: tuple[str, ...]  # one per chromosome copy; a single allele means haploid
    phased: bool
    phase_set: str | None = None
    from_reference_block: bool = False

    @property
    def homozygous(self) -> bool:
        return len(set(self.alleles)) == 1

    @property
    def display(self) -> str:
        return ("|" if self.phased else "/").join(self.alleles)


@dataclass
class VcfGenotypes:
    """What one sample's VCF says at each position, plus where it is silent."""

    sample: str
    calls: dict[tuple[str, int], SampleCall] = field(default_factory=dict)
    no_calls: set[tuple[str, int]] = field(default_factory=set)
    reference_blocks: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def at(self, chromosome: str, position: int, ref: str) -> SampleCall | None:
        """The call at a position; a homozygous-reference call when a reference block covers it; else None."""
        key = (normalise_chromosome(chromosome), position)
        call = self.calls.get(key)
        if call is not None:
            return call
        if key in self.no_calls:
            return None
        for start, end in self.reference_blocks.get(key[0], ()):
            if start <= position <= end:
                return SampleCall(key[0], position, ref, (ref, ref), phased=False, from_reference_block=True)
        return None

    def is_no_call(self, chromosome: str, position: int) -> bool:
        return (normalise_chromosome(chromosome), position) in self.no_calls


def normalise_chromosome(name: str) -> str:
    """``10`` -> ``chr10``, ``MT`` -> ``chrM``: definitions use the ``chr`` names."""
    bare = name[3:] if name.lower().startswith("chr") else name
    if bare.upper() in ("M", "MT"):
        return "chrM"
    return f"chr{bare.upper() if bare.lower() in ('x', 'y') else bare}"


def read_vcf(
    path: Path, sample: str | None = None, positions: Collection[tuple[str, int]] | None = None
) -> VcfGenotypes:
    """Read one sample's genotypes from a VCF file (plain text or gzip/BGZF).

    ``positions`` (``("chr10", 94781859)`` pairs) keeps only those sites, so a whole-genome VCF does not fill
    memory; reference blocks are always kept.
    """
    if not path.is_file():
        raise UnreadableInputError(f"VCF file {path} does not exist")
    try:
        with path.open("rb") as fh:
            magic = fh.read(2)
        if magic == b"\x1f\x8b":
            with gzip.open(path, "rt", encoding="utf-8", errors="replace") as text:
                return parse_vcf(text, sample=sample, source=path.name, positions=positions)
        with path.open("r", encoding="utf-8", errors="replace") as text:
            return parse_vcf(text, sample=sample, source=path.name, positions=positions)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise UnreadableInputError(f"cannot read VCF {path.name}: {exc}") from exc


def parse_vcf(
    lines: Iterable[str],
    sample: str | None = None,
    source: str = "VCF",
    positions: Collection[tuple[str, int]] | None = None,
) -> VcfGenotypes:
    """Parse VCF text lines for one sample (the first sample unless ``sample`` names another)."""
    wanted = None if positions is None else {(normalise_chromosome(c), p) for c, p in positions}
    column: int | None = None
    genotypes: VcfGenotypes | None = None
    saw_fileformat = False
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line:
            continue
        if line.startswith("##"):
            saw_fileformat = saw_fileformat or line.startswith("##fileformat=VCF")
            _check_assembly(line, source, number)
            continue
        if line.startswith("#"):
            header = line.lstrip("#").split("\t")
            if len(header) < 10 or header[8] != "FORMAT":
                raise VcfFormatError(f"{source} line {number}: header has no FORMAT and sample columns")
            samples = header[9:]
            if sample is None:
                column = 9
            elif sample in samples:
                column = 9 + samples.index(sample)
            else:
                raise VcfFormatError(f"{source}: sample {sample!r} not found; samples are {', '.join(samples)}")
            genotypes = VcfGenotypes(sample=header[column])
            if len(samples) > 1 and sample is None:
                genotypes.warnings.append(f"{len(samples)} samples in the file; read the first ({samples[0]})")
            continue
        if genotypes is None or column is None:
            raise VcfFormatError(f"{source} line {number}: data before the #CHROM header line")
        if wanted is not None and "END=" not in line and _site(line) not in wanted:
            continue
        _parse_record(line, column, genotypes, source, number)
    if genotypes is None:
        raise VcfFormatError(f"{source}: no #CHROM header line" + ("" if saw_fileformat else " (is this a VCF?)"))
    return genotypes


def _check_assembly(line: str, source: str, number: int) -> None:
    lower = line.lower()
    declares = lower.startswith("##reference=") or (lower.startswith("##contig=") and "assembly=" in lower)
    if declares and any(tag in lower for tag in _NOT_GRCH38) and "grch38" not in lower:
        raise VcfFormatError(f"{source} line {number}: not on GRCh38 ({line[:80]}); the allele definitions are GRCh38")


def _parse_record(line: str, column: int, out: VcfGenotypes, source: str, number: int) -> None:
    fields = line.split("\t")
    if len(fields) <= column:
        raise VcfFormatError(f"{source} line {number}: expected at least {column + 1} tab-separated columns")
    chrom, pos_text, _id, ref, alt_text, _qual, _filter, info, fmt = fields[:9]
    try:
        position = int(pos_text)
    except ValueError as exc:
        raise VcfFormatError(f"{source} line {number}: POS {pos_text!r} is not a number") from exc
    chromosome = normalise_chromosome(chrom)
    alts = [] if alt_text == "." else alt_text.split(",")
    keys = fmt.split(":")
    values = fields[column].split(":")
    data = dict(zip(keys, values, strict=False))
    gt = data.get("GT")
    if gt is None:
        raise VcfFormatError(f"{source} line {number}: FORMAT has no GT")
    phased = "|" in gt and "/" not in gt
    parts = gt.replace("|", "/").split("/")
    key = (chromosome, position)
    if any(p in (".", "") for p in parts):
        # A partial call (./1) is treated as missing: one strand alone cannot place a diplotype.
        out.no_calls.add(key)
        if any(p not in (".", "") for p in parts):
            out.warnings.append(f"{chromosome}:{position} partial no-call {gt}; treated as missing")
        return
    try:
        indexes = [int(p) for p in parts]
    except ValueError as exc:
        raise VcfFormatError(f"{source} line {number}: GT {gt!r} is not a genotype") from exc
    if len(indexes) > 2:
        # Polyploid calls cannot be paired into a diplotype; treat the site as missing rather than guess.
        out.no_calls.add(key)
        out.warnings.append(f"{chromosome}:{position} has {len(indexes)} alleles ({gt}); treated as missing")
        return
    choices = [ref, *alts]
    if any(i < 0 or i >= len(choices) for i in indexes):
        raise VcfFormatError(f"{source} line {number}: GT {gt!r} refers to an allele not in REF/ALT")
    end = _info_end(info)
    if end is not None and end > position and all(i == 0 for i in indexes) and set(alts) <= _SYMBOLIC_REF_ONLY:
        out.reference_blocks.setdefault(chromosome, []).append((position, end))
    alleles = tuple(choices[i] for i in indexes)
    call = SampleCall(chromosome, position, ref, alleles, phased=phased, phase_set=data.get("PS") or None)
    previous = out.calls.get(key)
    if previous is not None and previous != call:
        out.warnings.append(f"{chromosome}:{position} appears more than once; kept the first line")
        return
    out.calls[key] = call


def _site(line: str) -> tuple[str, int] | None:
    chrom, _, rest = line.partition("\t")
    pos = rest.partition("\t")[0]
    return (normalise_chromosome(chrom), int(pos)) if pos.isdigit() else None


def _info_end(info: str) -> int | None:
    for item in info.split(";"):
        if item.startswith("END="):
            try:
                return int(item[4:])
            except ValueError:
                return None
    return None
