"""Benchmark ``linkage``: identity resolution across the synthetic population's sources against its truth.

Synthesises a population (``fhir/ehr/`` and ``fhir/lab/``; 15% of persons have a noisy lab copy, see
docs/synthetic-population.md), links the Patient records with the Splink model and compares the linked pairs
with ``truth/persons.parquet``. Target: F1 >= 0.98. Thresholds and comparisons were tuned on seed 11; the
default report seed is 7.

Pairs in the review queue count as not linked (a reviewer has not seen them); ``f1_after_review`` says what
a reviewer who decides every queued pair correctly would reach. Baseline in the same run: exact agreement on
given name, family name, birth date and sex (case-folded), the usual deterministic rule.

Options: ``patients=N`` (5000), ``seed=S`` (7), ``upper=W`` / ``lower=W`` (match-weight thresholds),
``population=DIR`` (an existing synthetic population instead of a fresh one).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import orjson
import pandas as pd

from carepilot.bench import BenchReport, environment, peak_rss_mb
from carepilot.config import Settings
from carepilot.errors import BenchmarkError
from carepilot.ingest.linkage import LOWER_WEIGHT, UPPER_WEIGHT, Thresholds, link_records, records_frame
from carepilot.synth.population import SynthOptions, generate

TARGET_F1 = 0.98


def _scores(found: set[tuple[str, str]], truth: set[tuple[str, str]]) -> dict[str, float]:
    tp = len(found & truth)
    precision = tp / len(found) if found else 0.0
    recall = tp / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def _truth_pairs(persons: pd.DataFrame) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for ids in persons.groupby("person_id")["patient_id"].apply(list):
        ids = sorted(ids)
        out.update((a, b) for i, a in enumerate(ids) for b in ids[i + 1 :])
    return out


def _deterministic(records: pd.DataFrame) -> set[tuple[str, str]]:
    keys = ["given", "family", "birth_date", "sex"]
    ehr = records[records["source"] == "ehr"].dropna(subset=keys)
    lab = records[records["source"] == "lab"].dropna(subset=keys)
    merged = ehr.merge(lab, on=keys, suffixes=("_l", "_r"))
    return {(min(a, b), max(a, b)) for a, b in zip(merged["unique_id_l"], merged["unique_id_r"], strict=True)}


def run(settings: Settings, options: dict[str, str]) -> BenchReport:
    """Synthesise (or read) a population, link its Patients, score the links against the truth."""
    try:
        patients = int(options.get("patients", "5000"))
        seed = int(options.get("seed", "7"))
        thresholds = Thresholds(
            upper=float(options.get("upper", UPPER_WEIGHT)), lower=float(options.get("lower", LOWER_WEIGHT))
        )
    except ValueError as exc:
        raise BenchmarkError(f"bad linkage benchmark option: {exc}") from exc
    given = options.get("population")
    folder = Path(given) if given else Path(tempfile.mkdtemp(prefix="carepilot-linkage-bench-"))
    started = time.perf_counter()
    try:
        if not given:
            generate(
                SynthOptions(
                    patients=patients,
                    seed=seed,
                    out=folder,
                    format="ndjson",
                    streams=False,
                    reference_data=settings.reference_data,
                )
            )
        pairs = []
        for source in ("ehr", "lab"):
            path = folder / "fhir" / source / "Patient.ndjson"
            if not path.is_file():
                raise BenchmarkError(f"{path} not found: not a synthetic population folder")
            pairs += [(source, orjson.loads(line)) for line in path.read_bytes().splitlines() if line.strip()]
        truth = pd.read_parquet(folder / "truth" / "persons.parquet")
    finally:
        synth_seconds = time.perf_counter() - started
    try:
        records = records_frame(pairs)
        result = link_records(records, thresholds=thresholds)
        true_pairs = _truth_pairs(truth)
        found = result.links()
        queue = result.review_queue()
        queued = {tuple(sorted(p)) for p in zip(queue["left_id"], queue["right_id"], strict=True)}
        after_review = found | (queued & true_pairs)
        baseline = _deterministic(records)
    finally:
        if not given:
            shutil.rmtree(folder, ignore_errors=True)
    scores = _scores(found, true_pairs)
    metrics = {
        **scores,
        "pairs_compared": result.pairs_compared,
        "review_queue": len(queue),
        "review_queue_true_matches": len(queued & true_pairs),
        "f1_after_review": _scores(after_review, true_pairs)["f1"],
        "true_pairs": len(true_pairs),
        "linked_pairs": len(found),
        "records": result.records,
        "seconds": round(result.seconds, 2),
        "synth_seconds": round(synth_seconds, 2),
        "peak_rss_mb": peak_rss_mb(),
        "target_f1": TARGET_F1,
        "meets_target": scores["f1"] >= TARGET_F1,
    }
    return BenchReport(
        benchmark="linkage",
        dataset=f"synthetic population, {patients} persons, seed {seed}" if not given else str(given),
        n=result.records,
        metrics=metrics,
        baselines={"exact given+family+birth date+sex": _scores(baseline, true_pairs)},
        seconds=round(time.perf_counter() - started, 2),
        environment=environment(),
        notes=[
            f"thresholds: auto-link at match weight >= {thresholds.upper}, review from {thresholds.lower}",
            "tuned on seed 11; pairs in the review queue count as not linked in precision/recall/f1",
        ],
    )
