"""ACTG 175 (Hammer et al. 1996, NEJM 335:1081): does a learned treatment rule beat the best single arm?

Four-arm randomised trial shipped with lifelines (``ACTG175.csv``): arms 0-3 = ZDV, ZDV+ddI, ZDV+ddC, ddI;
outcome CD4 count at 20 weeks (``cd420``, higher is better); known randomisation probability 1/4 per arm.
The primary rule is fixed in advance: a causal forest, cautious (a patient leaves the best average arm
only when the interval of the gain excludes zero). Plain argmax rules are reported as secondary. Every rule
is learned and evaluated with 5-fold cross-fitting; values are AIPW with the known propensities
(``policy.evaluate_rules``).
Options: ``folds`` (default 5), ``trees`` (default 200), ``forest_trees`` (default 400), ``seed`` (default 0).
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import lifelines.datasets
import numpy as np
import pandas as pd

from carepilot.bench import BenchReport
from carepilot.config import Settings
from carepilot.errors import BenchmarkError
from carepilot.models.effects.learners import LearnerConfig, single_threaded
from carepilot.models.effects.policy import PolicyEvaluation, engine_rule_learner, evaluate_rules

ARMS = ["ZDV", "ZDV+ddI", "ZDV+ddC", "ddI"]
# Baseline covariates only: anything measured after randomisation (cd420, cd496, cd820, offtrt...) is out.
COVARIATES = [
    "age", "wtkg", "hemo", "homo", "drugs", "karnof", "oprior", "z30", "zprior", "preanti",
    "race", "gender", "str2", "strat", "symptom", "cd40", "cd80",
]  # fmt: skip


def _summary(result: PolicyEvaluation) -> dict[str, object]:
    d = result.vs_best_single
    return {
        "rule_value": result.learned.value,
        "rule_ci_low": result.learned.low,
        "rule_ci_high": result.learned.high,
        "difference": d.difference,
        "difference_ci_low": d.low,
        "difference_ci_high": d.high,
        "beats_best_arm": result.learned_beats_best,
        "assignment_share": {ARMS[int(k)]: v for k, v in result.assignment_share.items()},
    }


def run(settings: Settings, options: dict[str, str]) -> BenchReport:
    path = Path(lifelines.datasets.__file__).parent / "ACTG175.csv"
    if not path.is_file():
        raise BenchmarkError(f"ACTG175.csv is not shipped with this lifelines install ({path})")
    frame = pd.read_csv(path)
    folds = int(options.get("folds", 5))
    seed = int(options.get("seed", 0))
    config = LearnerConfig(
        n_trees=int(options.get("trees", 200)),
        forest_trees=int(options.get("forest_trees", 400)),
        n_bootstrap=30,
        random_state=seed,
    )
    X = frame[COVARIATES].to_numpy(dtype=float)
    t = frame["arms"].to_numpy(dtype=int)
    y = frame["cd420"].to_numpy(dtype=float)
    known = np.full(4, 0.25)
    labels = [str(a) for a in range(4)]
    started = time.perf_counter()
    rules = {
        "causal_forest_cautious": engine_rule_learner("causal_forest", config, cautious=True),
        "causal_forest_argmax": engine_rule_learner("causal_forest", config, cautious=False),
        "t_learner_argmax": engine_rule_learner("t_auto", config, cautious=False),
    }
    results = {}
    with warnings.catch_warnings(), single_threaded():
        warnings.simplefilter("ignore")
        for name, learner in rules.items():
            results[name] = evaluate_rules(
                X, t, y, labels, learner, known_propensity=known, config=config, n_folds=folds, seed=seed
            )
    primary = results["causal_forest_cautious"]
    best = primary.best_single
    metrics: dict[str, object] = {
        **_summary(primary),
        "best_arm": ARMS[int(best)],
        "best_arm_value": primary.single[best].value,
        "best_arm_ci_low": primary.single[best].low,
        "best_arm_ci_high": primary.single[best].high,
        "arm_values": {ARMS[int(k)]: v.value for k, v in primary.single.items()},
        "current_practice_value": primary.current.value,
        "primary_rule": "causal_forest_cautious",
        "secondary_rules": {name: _summary(r) for name, r in results.items() if name != "causal_forest_cautious"},
        "recommendation": primary.recommendation.replace(
            f"everyone on {best}", f"everyone on {ARMS[int(best)]}"
        ).replace(f"single option {best}", f"single arm {ARMS[int(best)]}"),
    }
    diff = primary.vs_best_single
    verdict = "beats" if primary.learned_beats_best else "does NOT beat"
    notes = [
        f"primary rule {verdict} everyone on {ARMS[int(best)]}: difference {diff.difference:+.1f} "
        f"(95% CI {diff.low:+.1f} to {diff.high:+.1f}) cells/mm3",
        str(metrics["recommendation"]),
        f"{folds}-fold cross-fitting; AIPW with known propensities 1/4; covariates: {', '.join(COVARIATES)}",
    ]
    return BenchReport(
        benchmark="actg175",
        dataset=f"ACTG 175 ({path.name} shipped with lifelines {lifelines.__version__})",
        n=len(y),
        metrics=metrics,
        baselines={
            "everyone on ZDV+ddI (trial arm mean)": {"rule_value": 403.2},
            "T-learner rules (published range)": {"rule_value_low": 396.0, "rule_value_high": 403.0},
        },
        seconds=round(time.perf_counter() - started, 3),
        notes=notes,
    )
