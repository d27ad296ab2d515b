"""Identity resolution across sources: train the Splink model on the records, score candidate pairs, decide.

Splink does the blocking, the comparisons and the EM estimation of m and u (DuckDB locally, Spark at scale:
the same model runs on either database API). What is decided here:

- a pair at or above the upper match weight is linked automatically, one between the thresholds goes to the
  review queue, one below is not linked;
- each record links to at most one record of each other source (the best-scoring one): a source system holds
  one record per person, so a second candidate in the same source is a near-namesake, not the same person.
  This greedy one-to-one step is a few lines of pandas, simpler than Splink's clustering for two sources;
- persons are the connected components (``scipy.sparse.csgraph``) of the kept links and reviewer-accepted
  pairs, minus reviewer-rejected ones; a person's golden id is derived from its members' ids.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from splink import Linker, block_on

from carepilot.errors import InputError
from carepilot.ingest.linkage_model import RECORD_COLUMNS, comparable_fields, linkage_record, linkage_settings

log = logging.getLogger(__name__)

GOLDEN_NAMESPACE = uuid.UUID("6f1c9d2e-5b0a-4c39-9d7e-1a2b3c4d5e6f")
UPPER_WEIGHT = 6.0  # log2 Bayes factor: auto-link at or above
LOWER_WEIGHT = 2.0  # review between LOWER and UPPER; below, no link


@dataclass(frozen=True)
class Thresholds:
    """Match-weight thresholds (log2 of the Bayes factor) for automatic links and for review."""

    upper: float = UPPER_WEIGHT
    lower: float = LOWER_WEIGHT

    def __post_init__(self) -> None:
        if self.lower > self.upper:
            raise InputError(f"review threshold {self.lower} is above the auto-link threshold {self.upper}")


@dataclass
class LinkageResult:
    """Scored candidate pairs with their decision, and the persons they form."""

    pairs: pd.DataFrame  # left_id, right_id, left_source, right_source, match_weight, match_probability, decision
    persons: pd.DataFrame  # golden_id, patient_id, source, match_probability, status
    records: int
    pairs_compared: int
    seconds: float
    parameters: dict[str, Any] = field(default_factory=dict)

    def links(self) -> set[tuple[str, str]]:
        """Every linked pair (auto or reviewed), each as a sorted tuple of patient ids."""
        kept = self.pairs[self.pairs["decision"].isin(["auto", "reviewed"])]
        return {(min(a, b), max(a, b)) for a, b in zip(kept["left_id"], kept["right_id"], strict=True)}

    def review_queue(self) -> pd.DataFrame:
        """Pairs waiting for a reviewer."""
        return self.pairs[self.pairs["decision"] == "review"]


def records_frame(patients: Iterable[tuple[str, Mapping[str, Any]]]) -> pd.DataFrame:
    """Linkage records of ``(source, Patient resource)`` pairs."""
    rows = [linkage_record(dict(resource), source) for source, resource in patients]
    return pd.DataFrame(rows, columns=list(RECORD_COLUMNS))


def pair_key(a: str, b: str) -> str:
    """The key of an unordered pair of patient ids (``A:B`` with A < B)."""
    left, right = sorted((a, b))
    return f"{left}:{right}"


def duckdb_api() -> Any:
    """Splink's DuckDB backend on an in-memory database."""
    from splink import DuckDBAPI

    return DuckDBAPI()


def spark_api(spark: Any) -> Any:
    """Splink's Spark backend on a session started with Splink's similarity-function jar (``spark_session``)."""
    import tempfile

    from splink import SparkAPI

    # Splink breaks long Spark lineages with checkpoints, which need a folder.
    spark.sparkContext.setCheckpointDir(tempfile.mkdtemp(prefix="carepilot-splink-"))
    return SparkAPI(spark_session=spark)


def train_and_predict(
    records: pd.DataFrame, db_api: Any, *, seed: int = 1, min_weight: float = -5.0
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Estimate the model on ``records`` (EM for m, random sampling for u) and score the blocked pairs."""
    sources = sorted(records["source"].dropna().unique())
    if len(sources) < 2:
        raise InputError(f"record linkage needs Patients from at least two sources; found {sources or 'none'}")
    tables = [
        db_api.register(records[records["source"] == s].drop(columns=["source"]).reset_index(drop=True), table_name=s)
        for s in sources
    ]
    linker = Linker(tables, linkage_settings("link_only", comparable_fields(records)), log_level=logging.WARNING)
    # The deterministic rule admits almost no false positives; about 60% of true pairs agree on all three
    # fields once names carry typos, nicknames and case changes (the recall is the documented input of
    # Splink's direct estimate).
    linker.training.estimate_probability_two_random_records_match(
        [block_on("family", "given", "birth_date")], recall=0.6
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=seed)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("birth_date"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("family", "sex"))
    predictions = linker.inference.predict().as_pandas_dataframe()
    params = {
        "pairs_compared": len(predictions),
        "probability_two_random_records_match": linker._settings_obj._probability_two_random_records_match,
    }
    predictions = predictions[predictions["match_weight"] >= min_weight]
    pairs = pd.DataFrame(
        {
            "left_id": predictions["unique_id_l"].astype(str),
            "right_id": predictions["unique_id_r"].astype(str),
            "left_source": predictions["source_dataset_l"].astype(str),
            "right_source": predictions["source_dataset_r"].astype(str),
            "match_weight": predictions["match_weight"].astype(float),
            "match_probability": predictions["match_probability"].astype(float),
        }
    )
    return pairs, params


def one_to_one(pairs: pd.DataFrame) -> pd.Series:
    """True for pairs that are the best candidate of both records towards the other record's source."""
    order = pairs.sort_values("match_weight", ascending=False, kind="mergesort")
    taken: set[tuple[str, str]] = set()  # (record, other source) already linked
    keep = pd.Series(False, index=pairs.index)
    for idx, left, right, ls, rs in zip(
        order.index, order["left_id"], order["right_id"], order["left_source"], order["right_source"], strict=True
    ):
        if (left, rs) in taken or (right, ls) in taken:
            continue
        taken.add((left, rs))
        taken.add((right, ls))
        keep[idx] = True
    return keep


def decide(pairs: pd.DataFrame, thresholds: Thresholds, decisions: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Add ``decision`` (auto, review, reviewed, rejected, none) to scored pairs.

    ``decisions`` maps a pair key to a reviewer's ``accepted`` or ``rejected``; a reviewer's word wins over the
    thresholds.
    """
    decisions = decisions or {}
    out = pairs.copy()
    out["pair"] = [pair_key(a, b) for a, b in zip(out["left_id"], out["right_id"], strict=True)]
    reviewer = out["pair"].map(decisions)
    candidate = (out["match_weight"] >= thresholds.lower) & (reviewer != "rejected")
    best = one_to_one(out[candidate]) if candidate.any() else pd.Series(dtype=bool)
    out["decision"] = "none"
    kept = best[best].index
    out.loc[kept, "decision"] = np.where(out.loc[kept, "match_weight"] >= thresholds.upper, "auto", "review")
    out.loc[reviewer == "accepted", "decision"] = "reviewed"
    out.loc[reviewer == "rejected", "decision"] = "rejected"
    return out


def golden_id(members: Iterable[str]) -> str:
    """A stable id for a person from the ids of its records."""
    return str(uuid.uuid5(GOLDEN_NAMESPACE, min(members)))


def persons(pairs: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """One row per record that belongs to a multi-record person: golden id, source, probability and status."""
    linked = pairs[pairs["decision"].isin(["auto", "reviewed"])]
    ids = pd.Index(pd.unique(pd.concat([linked["left_id"], linked["right_id"]])))
    columns = ["golden_id", "patient_id", "source", "match_probability", "status"]
    if ids.empty:
        return pd.DataFrame(columns=columns)
    left, right = ids.get_indexer(linked["left_id"]), ids.get_indexer(linked["right_id"])
    graph = coo_matrix((np.ones(len(linked)), (left, right)), shape=(len(ids), len(ids)))
    _, component = connected_components(graph, directed=False)
    members: dict[int, list[str]] = {}
    for pid, comp in zip(ids, component, strict=True):
        members.setdefault(int(comp), []).append(str(pid))
    source = dict(zip(records["unique_id"], records["source"], strict=True))
    best: dict[str, tuple[float, str]] = {}
    for a, b, p, d in zip(
        linked["left_id"], linked["right_id"], linked["match_probability"], linked["decision"], strict=True
    ):
        for pid in (a, b):
            status = "reviewed" if d == "reviewed" else "auto"
            if pid not in best or p > best[pid][0]:
                best[pid] = (float(p), status)
    rows = []
    for comp_members in members.values():
        gid = golden_id(comp_members)
        for pid in sorted(comp_members):
            p, status = best[pid]
            rows.append((gid, pid, source.get(pid), p, status))
    return pd.DataFrame(rows, columns=columns)


def link_records(
    records: pd.DataFrame,
    *,
    thresholds: Thresholds | None = None,
    decisions: Mapping[str, str] | None = None,
    db_api: Any = None,
    seed: int = 1,
) -> LinkageResult:
    """Train, score and decide over every record; reviewer ``decisions`` (pair key -> accepted|rejected) apply."""
    thresholds = thresholds or Thresholds()
    started = time.perf_counter()
    pairs, params = train_and_predict(records, db_api if db_api is not None else duckdb_api(), seed=seed)
    decided = decide(pairs, thresholds, decisions)
    result = LinkageResult(
        pairs=decided,
        persons=persons(decided, records),
        records=len(records),
        pairs_compared=int(params.pop("pairs_compared")),
        seconds=time.perf_counter() - started,
        parameters={**params, "upper_weight": thresholds.upper, "lower_weight": thresholds.lower},
    )
    log.info(
        "linkage: %d records, %d pairs scored, %d linked, %d for review",
        result.records,
        result.pairs_compared,
        len(result.links()),
        len(result.review_queue()),
    )
    return result
