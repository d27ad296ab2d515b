"""Orchestration of ``carepilot synth``: draw the population, build each record, write FHIR, streams and
truth.

Determinism: the population-level draws use ``numpy.random.default_rng(seed)``; each chunk of patients gets
its own Generator seeded with ``[seed, chunk_index]`` (numpy SeedSequence entropy), so output is byte-
identical for a seed however the chunks are scheduled.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from carepilot.errors import InputError
from carepilot.fhir import builders as fb
from carepilot.synth import decisions as dec
from carepilot.synth.conditions import Conditions, assign_conditions
from carepilot.synth.duplicates import DUPLICATE_RATE, sample_lab_people
from carepilot.synth.genomics import (
    PGX_GENES,
    Genotypes,
    TumourFinding,
    activity_score,
    phenotype_array,
    sample_genotypes,
    sample_tumour_findings,
)
from carepilot.synth.medications import Background, add_oncology, plan_background
from carepilot.synth.nudges import population_nudge_truth
from carepilot.synth.outcomes import Deterioration, sample_deterioration
from carepilot.synth.people import People, age_band, sample_people, site_profiles, uuids
from carepilot.synth.physiology import Physiology, ckd_stage, sample_physiology
from carepilot.synth.record import Draws, PatientRecordBuilder, RecordContext, iso
from carepilot.synth.streams import StreamPlan, generate_streams, plan_devices
from carepilot.synth.vcf import load_all_sites, translation_folder, write_vcfs
from carepilot.synth.writer import FhirWriter, prepare_output, write_parquet

log = logging.getLogger(__name__)

MRN_SYSTEM = "http://carepilot.example.org/fhir/sid/site-{k}/mrn"
ORG_SYSTEM = "http://carepilot.example.org/fhir/sid/organization"
LAB_SYSTEM = "http://lab.carepilot.example.org/fhir/sid/patient"
PGX_TEST_RATE = 0.35  # share of persons with a pharmacogene panel result in the record


@dataclass(frozen=True)
class SynthOptions:
    """What to generate and where."""

    patients: int
    seed: int
    out: Path
    format: str = "bundle"
    sites: int = 3
    years: float = 3.0
    vcf: bool = False
    streams: bool = True
    stream_fraction: float = 1.0
    stream_days: int = 28
    end_date: str = "2026-01-01"
    reference_data: Path | None = None
    chunk_size: int = 250
    workers: int = 0  # 0 = one per CPU, at most 2 (output does not depend on it)

    def validate(self) -> None:
        """Raise InputError naming the first option out of range."""
        if self.patients < 1 or self.patients > 2_000_000:
            raise InputError(f"--patients must be between 1 and 2,000,000, got {self.patients}")
        if self.sites < 1 or self.sites > 50:
            raise InputError(f"--sites must be between 1 and 50, got {self.sites}")
        if not 0.5 <= self.years <= 20:
            raise InputError(f"--years must be between 0.5 and 20, got {self.years}")
        if self.format not in ("bundle", "ndjson"):
            raise InputError(f"--format must be bundle or ndjson, got {self.format!r}")
        if not 0.0 <= self.stream_fraction <= 1.0:
            raise InputError(f"stream fraction must be in [0, 1], got {self.stream_fraction}")
        if self.stream_days < 14 or self.stream_days > self.years * 365:
            raise InputError(f"stream days must be at least 14 and inside the window, got {self.stream_days}")
        try:
            np.datetime64(self.end_date, "D")
        except ValueError as exc:
            raise InputError(f"end date {self.end_date!r} is not YYYY-MM-DD") from exc


@dataclass
class SynthSummary:
    """What was written, with the figures the docs quote."""

    patients: int
    seed: int
    out: str
    format: str
    seconds: float
    resources: dict[str, dict[str, int]]
    readings: int
    vcf_files: int
    vcf_note: str | None
    lab_source_patients: int
    duplicate_rate: float
    stated_duplicate_rate: float
    prevalence: dict[str, list[float]]
    decisions: dict[str, dict[str, Any]]
    readmissions: dict[str, float]
    deterioration_episodes: int
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


@dataclass
class Population:
    """Every population-level draw, before records are built."""

    people: People
    cond: Conditions
    phys: Physiology
    genotypes: Genotypes
    tumour: list[TumourFinding]
    decisions: list[dec.Decision]
    deterioration: Deterioration
    window_start: np.datetime64
    window_days: float
    devices: StreamPlan
    background: Background


def draw_population(options: SynthOptions) -> tuple[Population, RecordContext]:
    """All vectorised population draws for ``options`` (no I/O)."""
    rng = np.random.default_rng(options.seed)
    n = options.patients
    end = np.datetime64(options.end_date, "D")
    window_days = round(options.years * 365.25, 4)
    window_start = end.astype("datetime64[s]") - np.timedelta64(int(window_days * 86400), "s")
    people = sample_people(rng, n, options.sites, end)
    cond = assign_conditions(rng, people, options.sites, end)
    phys = sample_physiology(rng, people, cond, options.years, end)
    genotypes = sample_genotypes(rng, people.ancestry)
    tumour = sample_tumour_findings(rng, cond.has, people.ancestry)
    background = plan_background(rng, people, cond, phys, window_days)
    egfr_positive = np.zeros(n, dtype=bool)
    for f in tumour:
        if f.gene == "EGFR":
            egfr_positive[f.person] = True
    add_oncology(rng, background, cond, egfr_positive, window_days)
    decisions = [
        dec.t2d_addon(rng, people, cond, phys, window_days),
        dec.antiplatelet(rng, people, cond, phys, genotypes, window_days),
        dec.warfarin(rng, people, cond, genotypes, background.amiodarone, background.on_warfarin, window_days),
        dec.antidepressant(rng, people, cond, genotypes, window_days),
    ]
    lab_people = sample_lab_people(rng, people)
    plan = plan_devices(rng, people, cond, background.insulin, options.stream_fraction if options.streams else 0.0)
    monitored = plan.wearable | plan.scale | plan.cgm
    kind = np.where(
        cond.has["heart_failure"] & (plan.scale | plan.wearable),
        "heart_failure",
        np.where(cond.has["copd"] & plan.wearable, "copd", np.where(plan.cgm, "diabetes", "")),
    ).astype(object)
    candidates = np.flatnonzero(monitored & (kind != ""))
    det = sample_deterioration(rng, candidates, kind[candidates], window_days, float(options.stream_days))
    pgx_tested = rng.random(n) < PGX_TEST_RATE
    org_ids = uuids(rng, options.sites + 1)
    profiles = site_profiles(options.sites)
    site_orgs = [
        fb.organization(str(org_ids[k]), p["name"], ORG_SYSTEM, f"site-{k + 1}") for k, p in enumerate(profiles)
    ]
    lab_org = fb.organization(str(org_ids[-1]), "Northstar Outside Laboratory and Wearables", ORG_SYSTEM, "lab-1")

    per_person: dict[int, list[tuple[dec.Decision, int]]] = {}
    for d in decisions:
        for row, i in enumerate(d.person):
            per_person.setdefault(int(i), []).append((d, row))
    tumour_by_person: dict[int, list[TumourFinding]] = {}
    for f in tumour:
        tumour_by_person.setdefault(f.person, []).append(f)
    det_by_person = {
        int(i): (str(k), float(s), float(e))
        for i, k, s, e in zip(det.person, det.kind, det.drift_start_day, det.event_day, strict=True)
    }
    ctx = RecordContext(
        people=people,
        cond=cond,
        phys=phys,
        background=background,
        genotypes=genotypes,
        tumour=tumour_by_person,
        decisions=per_person,
        deterioration=det_by_person,
        lab_people=lab_people,
        pgx_tested=pgx_tested,
        site_orgs=site_orgs,
        site_places=[(p["city"], p["state"], p["zip"]) for p in profiles],
        lab_org=lab_org,
        site_mrn_systems=[MRN_SYSTEM.format(k=k + 1) for k in range(options.sites)],
        lab_identifier_system=LAB_SYSTEM,
        window_start_s=int(window_start.astype(np.int64)),
        window_days=window_days,
    )
    population = Population(
        people=people,
        cond=cond,
        phys=phys,
        genotypes=genotypes,
        tumour=tumour,
        decisions=decisions,
        deterioration=det,
        window_start=window_start,
        window_days=window_days,
        devices=plan,
        background=background,
    )
    return population, ctx


def generate(options: SynthOptions, progress: Callable[[int], None] | None = None) -> SynthSummary:
    """Generate the population described by ``options`` into ``options.out``; returns the summary."""
    options.validate()
    started = time.perf_counter()
    stages: dict[str, float] = {}
    out = Path(options.out)
    prepare_output(out)
    population, ctx = draw_population(options)
    stages["population"] = time.perf_counter() - started
    people = population.people
    n = people.n
    timestamp = iso(ctx.window_start_s, ctx.window_days)
    writer = FhirWriter(out, options.format, timestamp)
    writer.write_shared("ehr", ctx.site_orgs)
    if ctx.lab_people:
        writer.write_shared("lab", [ctx.lab_org])
    readmissions: list[tuple] = []
    progression: list[tuple] = []
    t0 = time.perf_counter()
    n_chunks = (n + options.chunk_size - 1) // options.chunk_size
    workers = options.workers or min(2, os.cpu_count() or 1)
    workers = max(1, min(workers, n_chunks))
    _WORKER_STATE.update(ctx=ctx, options=options, timestamp=timestamp)
    try:
        if workers == 1:
            results: Iterator[ChunkResult] = map(_build_chunk, range(n_chunks))
            _consume(results, writer, readmissions, progression, progress)
        else:
            # fork: workers inherit the population read-only; chunks come back in order (imap).
            with mp.get_context("fork").Pool(workers) as pool:
                _consume(pool.imap(_build_chunk, range(n_chunks)), writer, readmissions, progression, progress)
    finally:
        _WORKER_STATE.clear()
    writer.close()
    stages["records"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    readings = 0
    if options.streams:
        hba1c_end = _hba1c_at_end(population)
        table = generate_streams(
            np.random.default_rng([options.seed, 1_000_003]),
            people,
            population.cond,
            population.phys,
            population.devices,
            population.deterioration,
            hba1c_end,
            population.window_start,
            population.window_days,
            stream_days=options.stream_days,
        )
        write_parquet(out / "streams" / "readings.parquet", table)
        readings = table.num_rows
    stages["streams"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    truth = write_truth(out, population, ctx, readmissions, progression)
    write_parquet(
        out / "truth" / "nudge_response.parquet", population_nudge_truth(options.seed, people, population.cond)
    )
    stages["truth"] = time.perf_counter() - t0

    vcf_files, vcf_note = 0, None
    if options.vcf:
        t0 = time.perf_counter()
        vcf_files, vcf_note = _write_vcf(out, options, population)
        stages["vcf"] = time.perf_counter() - t0
    seconds = time.perf_counter() - started
    log.info("synth wrote %d patients in %.1f s", n, seconds)
    return SynthSummary(
        patients=n,
        seed=options.seed,
        out=str(out),
        format=options.format,
        seconds=round(seconds, 3),
        resources=writer.counts,
        readings=readings,
        vcf_files=vcf_files,
        vcf_note=vcf_note,
        lab_source_patients=len(ctx.lab_people),
        duplicate_rate=round(len(ctx.lab_people) / n, 4),
        stated_duplicate_rate=DUPLICATE_RATE,
        prevalence=truth["prevalence"],
        decisions=truth["decisions"],
        readmissions=truth["readmissions"],
        deterioration_episodes=len(population.deterioration.person),
        stage_seconds={k: round(v, 3) for k, v in stages.items()},
    )


@dataclass
class ChunkResult:
    """What one chunk of patients produced (files already written for bundles)."""

    patients: int
    counts: dict[str, dict[str, int]]
    ndjson: dict[tuple[str, str], bytes]
    readmissions: list[tuple]
    progression: list[tuple]


_WORKER_STATE: dict[str, Any] = {}


def _build_chunk(chunk_index: int) -> ChunkResult:
    """Build and write the records of one chunk; its Generator is seeded with ``[seed, chunk_index]``."""
    ctx: RecordContext = _WORKER_STATE["ctx"]
    options: SynthOptions = _WORKER_STATE["options"]
    writer = FhirWriter(Path(options.out), options.format, _WORKER_STATE["timestamp"], buffer_only=True)
    people = ctx.people
    start = chunk_index * options.chunk_size
    chunk = range(start, min(start + options.chunk_size, people.n))
    draws = Draws(np.random.default_rng([options.seed, chunk_index]))
    readmissions: list[tuple] = []
    progression: list[tuple] = []
    for i in chunk:
        result = PatientRecordBuilder(ctx, i, draws).build()
        site_org = ctx.site_orgs[int(people.site[i])]
        writer.write_patient("ehr", str(people.patient_id[i]), [site_org, *result.ehr])
        if result.lab:
            writer.write_patient("lab", ctx.lab_people[i].patient_id, result.lab)
        readmissions.extend(result.readmissions)
        progression.extend(result.progression)
    return ChunkResult(len(chunk), writer.take_counts(), writer.take_buffers(), readmissions, progression)


def _consume(
    results: Iterator[ChunkResult],
    writer: FhirWriter,
    readmissions: list[tuple],
    progression: list[tuple],
    progress: Callable[[int], None] | None,
) -> None:
    for chunk in results:
        writer.add_chunk(chunk.ndjson, chunk.counts)
        readmissions.extend(chunk.readmissions)
        progression.extend(chunk.progression)
        if progress is not None:
            progress(chunk.patients)


def _hba1c_at_end(population: Population) -> np.ndarray:
    phys = population.phys
    years = population.window_days / 365.25
    h = phys.hba1c0 + phys.hba1c_slope * years
    for d in population.decisions:
        if d.name == "t2d_addon":
            y = d.observed()
            remaining = (population.window_days - d.day - 182.0) / 365.25
            h[d.person] = y + phys.hba1c_slope[d.person] * np.maximum(remaining, 0.0)
    return h


def _write_vcf(out: Path, options: SynthOptions, population: Population) -> tuple[int, str | None]:
    if options.reference_data is None:
        return 0, "VCF skipped: no reference data folder configured (CAREPILOT_REFERENCE_DATA)"
    sites = load_all_sites(options.reference_data)
    if sites is None:
        folder = translation_folder(options.reference_data)
        return 0, f"VCF skipped: PharmCAT allele definitions not found under {folder}"
    people = population.people
    ids = [str(p) for p in people.patient_id]
    return write_vcfs(out, ids, list(range(people.n)), population.genotypes, sites), None


def write_truth(
    out: Path, population: Population, ctx: RecordContext, readmissions: list[tuple], progression: list[tuple]
) -> dict[str, Any]:
    """Write ``truth/*.parquet`` and return the headline figures for the summary."""
    folder = out / "truth"
    people, cond = population.people, population.cond
    start = population.window_start
    ids = people.patient_id.astype(str)
    profiles = site_profiles(int(people.site.max()) + 1 if people.n else 1)

    person_rows = pd.DataFrame(
        {"person_id": people.person_id.astype(str), "source": "ehr", "patient_id": ids, "noise": "none"}
    )
    lab_idx = sorted(ctx.lab_people)
    lab_rows = pd.DataFrame(
        {
            "person_id": people.person_id[lab_idx].astype(str) if lab_idx else np.array([], dtype=str),
            "source": "lab",
            "patient_id": [ctx.lab_people[i].patient_id for i in lab_idx],
            "noise": [ctx.lab_people[i].noise for i in lab_idx],
        }
    )
    write_parquet(folder / "persons.parquet", pd.concat([person_rows, lab_rows], ignore_index=True))

    patients = pd.DataFrame(
        {
            "patient_id": ids,
            "person_id": people.person_id.astype(str),
            "site": people.site.astype(int),
            "site_name": [profiles[s]["name"] for s in people.site],
            "age": people.age,
            "sex": np.where(people.female, "female", "male"),
            "race": people.race.astype(str),
            "hispanic": people.hispanic,
            "ancestry": people.ancestry.astype(str),
            "height_cm": people.height_cm,
            "bmi": people.bmi,
            "adherence": people.adherence,
            "smoker": cond.smoker,
            "comorbidity_count": cond.count(),
        }
    )
    for name in cond.names:
        patients[name] = cond.has[name]
    write_parquet(folder / "patients.parquet", patients)

    rows = []
    for name in cond.names:
        idx = np.flatnonzero(cond.has[name])
        rows.append(
            pd.DataFrame(
                {
                    "patient_id": ids[idx],
                    "condition": name,
                    "onset_date": cond.onset[name][idx].astype("datetime64[ns]"),
                    "true_probability": cond.probability[name][idx],
                }
            )
        )
    write_parquet(folder / "conditions.parquet", pd.concat(rows, ignore_index=True))

    geno = population.genotypes
    g_rows = []
    for gene in PGX_GENES:
        g_rows.append(
            pd.DataFrame(
                {
                    "patient_id": ids,
                    "gene": gene,
                    "diplotype": [geno.diplotype(gene, i) for i in range(people.n)],
                    "phenotype": phenotype_array(geno, gene),
                    "activity_score": activity_score(geno, gene),
                    "in_record": ctx.pgx_tested,
                }
            )
        )
    write_parquet(folder / "genotypes.parquet", pd.concat(g_rows, ignore_index=True))

    tumour = pd.DataFrame(
        [
            (ids[f.person], f.cancer, f.kind, f.gene, f.dna_change, f.protein_change, f.label, f.positive)
            for f in population.tumour
        ],
        columns=["patient_id", "cancer", "kind", "gene", "dna_change", "protein_change", "label", "positive"],
    )
    write_parquet(folder / "tumour_variants.parquet", tumour)

    feat_names = [
        "age",
        "comorbidities",
        "prior_admissions",
        "hba1c",
        "egfr",
        "adherence",
        "heart_failure",
        "copd",
        "los_days",
        "disposition",
        "follow_up_complete",
    ]
    readmit = pd.DataFrame(
        {
            "patient_id": [r[0] for r in readmissions],
            "encounter_id": [r[1] for r in readmissions],
            "discharge_time": pd.to_datetime(
                [start + np.timedelta64(int(r[2] * 86400), "s") for r in readmissions], utc=True
            )
            if readmissions
            else pd.Series([], dtype="datetime64[ns, UTC]"),
            "true_risk": [r[3] for r in readmissions],
            "readmitted": [r[4] for r in readmissions],
            **{f"x_{k}": [r[5][k] for r in readmissions] for k in feat_names},
        }
    )
    write_parquet(folder / "readmissions.parquet", readmit)

    det = population.deterioration
    write_parquet(
        folder / "deterioration.parquet",
        pd.DataFrame(
            {
                "patient_id": ids[det.person],
                "kind": det.kind.astype(str),
                "drift_start": _times(start, det.drift_start_day),
                "event_time": _times(start, det.event_day),
            }
        ),
    )

    prog = pd.DataFrame(progression, columns=["patient_id", "day", "true_hba1c", "true_egfr"])
    prog.insert(1, "time", _times(start, prog["day"].to_numpy()))
    prog["ckd_stage"] = ckd_stage(prog["true_egfr"].to_numpy())
    write_parquet(folder / "progression.parquet", prog.drop(columns=["day"]))

    summaries: dict[str, dict[str, Any]] = {}
    for d in population.decisions:
        write_parquet(folder / f"decision_{d.name}.parquet", d.to_frame(people.patient_id, start))
        summaries[d.name] = decision_summary(d)

    return {
        "prevalence": prevalence_by_band(people, cond),
        "decisions": summaries,
        "readmissions": {
            "discharges": float(len(readmit)),
            "mean_true_risk": round(float(readmit["true_risk"].mean()), 4) if len(readmit) else 0.0,
            "observed_rate": round(float(readmit["readmitted"].mean()), 4) if len(readmit) else 0.0,
        },
    }


def _times(start: np.datetime64, days: np.ndarray) -> pd.DatetimeIndex:
    seconds = np.round(np.asarray(days, dtype=float) * 86400.0).astype(np.int64)
    return pd.to_datetime(start + seconds.astype("timedelta64[s]"), utc=True)


CONTRASTS = {
    "t2d_addon": ("glp1", "dpp4"),
    "antiplatelet": ("ticagrelor", "clopidogrel"),
    "warfarin": ("warfarin_5mg", "warfarin_3mg"),
    "antidepressant": ("mirtazapine", "sertraline"),
}


def decision_summary(d: dec.Decision) -> dict[str, Any]:
    """Rows, options given, and for the headline contrast: true ATE, SD of individual effects, naive bias."""
    treated, control = CONTRASTS[d.name]
    out: dict[str, Any] = {"rows": len(d.person), "outcome": d.outcome, "contrast": f"{treated} - {control}"}
    out["given"] = {o: int((d.given == k).sum()) for k, o in enumerate(d.options)}
    if len(d.person) < 2:
        return out
    effects = d.individual_effects(treated, control)
    out["true_ate"] = round(float(effects.mean()), 4)
    out["effect_sd"] = round(float(effects.std()), 4)
    naive = d.naive_difference(treated, control)
    out["naive_difference"] = round(naive, 4)
    out["naive_bias"] = round(naive - float(effects.mean()), 4)
    out["expected_confounding_bias"] = round(d.expected_naive_difference(treated, control) - float(effects.mean()), 4)
    return out


def prevalence_by_band(people: People, cond: Conditions) -> dict[str, list[float]]:
    """Observed prevalence per condition in the bands 18-44, 45-64, 65+ (breast cancer: among women)."""
    band = age_band(people.age)
    out: dict[str, list[float]] = {}
    for name in cond.names:
        vals = []
        for b in range(3):
            idx = band == b
            if name == "breast_cancer":
                idx = idx & people.female
            vals.append(round(float(cond.has[name][idx].mean()), 4) if idx.any() else float("nan"))
        out[name] = vals
    return out


__all__ = ["SynthOptions", "SynthSummary", "draw_population", "generate"]
