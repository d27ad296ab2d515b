"""A site's data for federated training: its store's readmission examples, consent applied, split by patient.

Everything here runs inside the site. Patients who opted out of training (or of sharing, which the consent
model defines to cover federated learning) are dropped before any statistic or model update is computed. The
held-out split is a hash of the patient id, so every method evaluated on a site (federated, local-only, central)
sees the same held-out patients without anyone exchanging ids.

``split_population`` is the test bed's tool: it cuts one synthetic NDJSON population into one folder per site
(by each Patient's ``managingOrganization``) and ingests each into its own store, as separate hospitals would
hold them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
import pandas as pd

from carepilot.domain.consent import ConsentDirectory, ConsentScope
from carepilot.errors import InputError
from carepilot.features.population import iter_profiles, readmission_frame

EXCLUDING_SCOPES = (ConsentScope.TRAINING, ConsentScope.SHARING)
SITE_SYSTEM = "http://carepilot.example.org/fhir/sid/organization"


def _unit_hash(patient_id: str, salt: str) -> float:
    digest = hashlib.sha256(f"{salt}:{patient_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class SiteData:
    """One site's examples: training rows, calibration rows (part of training patients) and held-out rows."""

    name: str
    train: pd.DataFrame
    calibration: pd.DataFrame
    test: pd.DataFrame
    excluded_patients: int

    @property
    def fit_rows(self) -> pd.DataFrame:
        """Training rows minus the calibration rows (what the model's weights are fitted on)."""
        return self.train[~self.train.index.isin(self.calibration.index)]


def consented(frame: pd.DataFrame, consent: ConsentDirectory) -> tuple[pd.DataFrame, int]:
    """Rows of patients who allow training and sharing; also how many patients were excluded."""
    if frame.empty:
        return frame, 0
    out: set[str] = set()
    for scope in EXCLUDING_SCOPES:
        out |= set(consent.opted_out(scope))
    mask = frame["patient_id"].astype(str).isin(out)
    return frame[~mask], int(frame.loc[mask, "patient_id"].nunique())


def site_data(
    name: str,
    frame: pd.DataFrame,
    consent: ConsentDirectory,
    *,
    test_fraction: float = 0.25,
    calibration_fraction: float = 0.2,
    salt: str = "carepilot-federated",
    fold: int = 0,
) -> SiteData:
    """Apply consent, then split by patient into training (with a calibration part) and held-out rows.

    ``fold`` picks which ``test_fraction``-wide slice of the patient hash is held out, so folds ``0 .. 1/f - 1``
    hold out every patient exactly once (cross-validation by patient).
    """
    if not 0 < test_fraction < 1 or not 0 < calibration_fraction < 1:
        raise InputError("test and calibration fractions must lie strictly between 0 and 1")
    if not 0 <= fold < round(1 / test_fraction):
        raise InputError(f"fold {fold} out of range for a held-out fraction of {test_fraction}")
    kept, excluded = consented(frame, consent)
    kept = kept.reset_index(drop=True)
    ids = kept["patient_id"].astype(str)
    u = ids.map(lambda pid: _unit_hash(pid, salt))
    v = ids.map(lambda pid: _unit_hash(pid, salt + ":calibration"))
    held = (u >= fold * test_fraction) & (u < (fold + 1) * test_fraction)
    test = kept[held]
    train = kept[~held]
    calibration = train[v[train.index] < calibration_fraction]
    return SiteData(name, train, calibration, test, excluded)


def store_frame(database_url: str) -> tuple[pd.DataFrame, Any]:
    """The readmission examples of one site's store and its consent directory (read from the same store)."""
    from carepilot.store.consent import SqlConsentDirectory
    from carepilot.store.db import open_database
    from carepilot.store.repository import SqlRecordRepository

    db = open_database(database_url)
    frame = readmission_frame(list(iter_profiles(SqlRecordRepository(db))))
    return frame, SqlConsentDirectory(db)


# ------------------------------------------------------------------------------------------- test bed
def _patient_of(resource: dict[str, Any]) -> str | None:
    if resource.get("resourceType") == "Patient":
        return str(resource.get("id"))
    for key in ("subject", "patient", "beneficiary"):
        ref = (resource.get(key) or {}).get("reference") or ""
        if ref.startswith("Patient/"):
            return ref.split("/", 1)[1]
    return None


def _site_of_patient(patient: dict[str, Any], org_site: dict[str, str]) -> str:
    ref = (patient.get("managingOrganization") or {}).get("reference") or ""
    return org_site.get(ref.split("/", 1)[-1], "unassigned")


def split_population(population: Path, out: Path, source: str = "ehr") -> list[str]:
    """Cut a synthetic NDJSON population into ``out/SITE/fhir/*.ndjson`` by managing organisation; site names."""
    folder = population / "fhir" / source
    if not (folder / "Patient.ndjson").is_file():
        raise InputError(f"{folder} has no Patient.ndjson (generate the population with --format ndjson)")
    orgs = [orjson.loads(line) for line in (folder / "Organization.ndjson").read_bytes().splitlines() if line]
    org_site: dict[str, str] = {}
    for org in orgs:
        code = next((i["value"] for i in org.get("identifier", []) if i.get("system") == SITE_SYSTEM), org["id"])
        org_site[org["id"]] = str(code)
    patient_site: dict[str, str] = {}
    for line in (folder / "Patient.ndjson").read_bytes().splitlines():
        if line:
            patient = orjson.loads(line)
            patient_site[str(patient["id"])] = _site_of_patient(patient, org_site)
    sites = sorted(set(patient_site.values()))
    handles: dict[tuple[str, str], IO[bytes]] = {}
    try:
        for path in sorted(folder.glob("*.ndjson")):
            for line in path.read_bytes().splitlines():
                if not line:
                    continue
                resource = orjson.loads(line)
                pid = _patient_of(resource)
                targets: Sequence[str] = sites if pid is None else [patient_site.get(pid, "unassigned")]
                for site in targets:
                    key = (site, path.name)
                    if key not in handles:
                        target = out / site / "fhir"
                        target.mkdir(parents=True, exist_ok=True)
                        handles[key] = (target / path.name).open("wb")
                    handles[key].write(line + b"\n")
    finally:
        for handle in handles.values():
            handle.close()
    return sites


def ingest_site(site_home: Path, source: str = "ehr") -> str:
    """Ingest ``site_home/fhir`` into the site's own SQLite store; returns its database URL."""
    from carepilot.ingest.pipeline import Ingestor
    from carepilot.ingest.readers import discover
    from carepilot.store.db import open_database
    from carepilot.store.repository import SqlRecordRepository

    url = f"sqlite:///{(site_home / 'carepilot.db').resolve()}"
    db = open_database(url)
    Ingestor(SqlRecordRepository(db), source).ingest(discover([site_home / "fhir"]))
    return url
