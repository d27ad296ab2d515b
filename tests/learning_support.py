"""A small store with a deployed toy readmission model: served predictions, resolvable outcomes, a pending challenger.

Synthetic patients only. Two models on two features are fitted once (small logistic fits); predictions cover 20
weeks of discharges, the later ones with a shifted input so the monitor has drift to find.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import insert

from carepilot.config import Settings
from carepilot.learning.drift import reference_profile
from carepilot.learning.governance import Governance, ModelEventRepository, owner
from carepilot.learning.inputs import write_reference
from carepilot.learning.outcomes import OutcomeRepository, Prediction
from carepilot.models.registry import ModelRegistry
from carepilot.models.risk import RiskClassifier
from carepilot.store import tables as t
from carepilot.store.db import open_database

START = datetime(2025, 1, 6, 10, tzinfo=UTC)
FEATURES = ("latest_creatinine", "age")


def _data(rng: np.random.Generator, n: int, shifted: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
    creat = rng.lognormal(0.1, 0.35, n)
    age = rng.normal(68, 12, n)
    risk = 1 / (1 + np.exp(-(-2.2 + 1.6 * (creat - 1.1) + 0.03 * (age - 68))))
    y = (rng.random(n) < risk).astype(int)
    if shifted:
        creat = creat * 88.4  # µmol/L read as mg/dL
    return pd.DataFrame({"latest_creatinine": creat, "age": age}), y


def build_store(settings: Settings, n_weeks: int = 20, per_week: int = 40, shift_week: int = 14) -> dict[str, str]:
    """Populate the store and the registry under ``settings.home``; returns the model name and versions."""
    settings.ensure_home()
    db = open_database(settings.resolved_database_url)
    registry = ModelRegistry(settings.models_dir)
    rng = np.random.default_rng(5)
    X, y = _data(rng, 800)
    champion = RiskClassifier("logistic", param_grid=[{"C": 1.0}]).fit(X, y)
    v1 = registry.save(champion, "readmission", metadata={"validation": {"auroc": 0.72, "brier": 0.15}})
    write_reference(
        registry, "readmission", v1.version, reference_profile(X, FEATURES, champion.predict_proba(X)[:, 1])
    )
    gov = Governance(registry, ModelEventRepository(db))
    gov.approve("readmission", v1.version, principal=owner("mo-test"), reason="initial deployment")
    X2, y2 = _data(rng, 800, shifted=True)
    challenger = RiskClassifier("logistic", param_grid=[{"C": 1.0}]).fit(X2, y2)
    v2 = registry.save(challenger, "readmission", metadata={"update": "retrain"}, status="pending")
    comparison = {
        "kind": "retrain",
        "champion_version": "1",
        "challenger_version": v2.version,
        "holdout": {"n": 200, "events": 30, "period": "2025-03-01 to 2025-05-01"},
        "champion": {"auroc": 0.61, "calibration_slope": 0.4, "brier": 0.2},
        "challenger": {"auroc": 0.71, "calibration_slope": 0.95, "brier": 0.14},
        "what_changed": ["training window moved to the post-shift period"],
    }
    (registry.root / "readmission" / v2.version / "comparison.json").write_text(json.dumps(comparison))

    outcomes = OutcomeRepository(db)
    preds: list[Prediction] = []
    with db.write() as conn:
        k = 0
        for week in range(n_weeks):
            Xw, yw = _data(rng, per_week, shifted=week >= shift_week)
            scores = champion.predict_proba(Xw)[:, 1]
            for i in range(per_week):
                k += 1
                pid, when = f"p{k}", START + timedelta(days=7 * week, hours=i)
                conn.execute(
                    insert(t.patients).values(
                        patient_id=pid,
                        sex="female" if k % 2 else "male",
                        race="white" if k % 3 else "black",
                        ethnicity="not-hispanic",
                        birth_date=date(1957 - int(Xw["age"].iloc[i]) + 68, 1, 1),
                    )
                )
                conn.execute(
                    insert(t.encounters).values(
                        resource_id=f"e{k}",
                        patient_id=pid,
                        encounter_class="IMP",
                        start=when - timedelta(days=3),
                        end=when,
                    )
                )
                if yw[i]:
                    conn.execute(
                        insert(t.encounters).values(
                            resource_id=f"r{k}",
                            patient_id=pid,
                            encounter_class="IMP",
                            start=when + timedelta(days=12),
                            end=when + timedelta(days=14),
                        )
                    )
                features = {f: float(Xw[f].iloc[i]) for f in FEATURES}
                preds.append(
                    Prediction(
                        pid, when, "readmission", v1.version, float(scores[i]), encounter_id=f"e{k}", features=features
                    )
                )
        last = START + timedelta(days=7 * n_weeks + 40)
        conn.execute(
            insert(t.observations).values(
                row_id="end", resource_id="end", patient_id="p1", concept="bmi", effective=last, value=25.0
            )
        )
    outcomes.log_predictions(preds)
    db.dispose()
    return {"name": "readmission", "serving": v1.version, "pending": v2.version}
