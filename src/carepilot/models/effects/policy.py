"""Doubly robust (AIPW) value of treatment rules, cross-fitted, with confidence intervals.

For each patient i and option a the AIPW score is (Robins, Rotnitzky & Zhao 1994; Dudík, Langford & Li 2011)::

    Gamma_ia = mu_a(x_i) + 1[t_i = a] / e_a(x_i) * (y_i - mu_a(x_i))

with outcome models mu_a and propensities e_a fitted on the other folds (cross-fitting, Chernozhukov et al.
2018). The value of a rule pi is mean_i Gamma_{i, pi(x_i)}; its standard error is the scores' standard
deviation over sqrt(n), and the difference of two rules uses the paired per-patient differences (Athey &
Wager 2021, Econometrica 89:133). A learned rule is itself cross-fitted: each fold's assignments come
from a CATE model fitted on the other folds, so no patient is scored by a rule that saw its outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import norm
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold

from carepilot.errors import InputError
from carepilot.models.effects.learners import (
    LearnerConfig,
    base_regressors,
    choose_arm_model,
    logistic_propensity,
    single_threaded,
)


@dataclass(frozen=True)
class PolicyValue:
    """A rule's estimated mean outcome with its (1 - alpha) interval."""

    name: str
    value: float
    low: float
    high: float
    se: float


@dataclass(frozen=True)
class PolicyComparison:
    """Rule A minus rule B, with the interval of the paired difference."""

    name: str
    difference: float
    low: float
    high: float
    se: float


@dataclass
class PolicyEvaluation:
    """Learned rule vs every single-option rule vs current practice, and what to recommend."""

    options: list[str]
    lower_is_better: bool
    learned: PolicyValue
    single: dict[str, PolicyValue]
    current: PolicyValue
    best_single: str
    vs_best_single: PolicyComparison
    learned_beats_best: bool
    recommendation: str
    assignment_share: dict[str, float]
    alpha: float = 0.05
    extra: dict[str, Any] = field(default_factory=dict)


def aipw_scores(y: np.ndarray, t: np.ndarray, propensity: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """AIPW scores Gamma (n, k) from outcomes, option codes, propensities (n, k) and outcome models (n, k)."""
    onehot = np.eye(mu.shape[1])[t]
    return mu + onehot / propensity * (y[:, None] - mu)


def value_of(scores: np.ndarray, assignment: np.ndarray, name: str, alpha: float = 0.05) -> PolicyValue:
    """AIPW value of assigning option ``assignment[i]`` to patient i."""
    per_patient = scores[np.arange(len(scores)), assignment]
    mean, se = float(per_patient.mean()), float(per_patient.std(ddof=1) / np.sqrt(len(per_patient)))
    z = float(norm.ppf(1 - alpha / 2))
    return PolicyValue(name, mean, mean - z * se, mean + z * se, se)


def compare(scores: np.ndarray, a: np.ndarray, b: np.ndarray, name: str, alpha: float = 0.05) -> PolicyComparison:
    """Value of rule ``a`` minus rule ``b`` with a paired interval."""
    idx = np.arange(len(scores))
    diff = scores[idx, a] - scores[idx, b]
    mean, se = float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(len(diff)))
    z = float(norm.ppf(1 - alpha / 2))
    return PolicyComparison(name, mean, mean - z * se, mean + z * se, se)


def cross_fitted_nuisances(
    X: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    config: LearnerConfig,
    known_propensity: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold outcome predictions mu (n, k) and propensities e (n, k)."""
    k = int(t.max()) + 1
    mu = np.zeros((len(y), k))
    e = np.zeros((len(y), k))
    for train_idx, test_idx in folds:
        for arm in range(k):
            arm_idx = train_idx[t[train_idx] == arm]
            family, _ = choose_arm_model(X[arm_idx], y[arm_idx], config)
            model = clone(base_regressors(config)[family]).fit(X[arm_idx], y[arm_idx])
            mu[test_idx, arm] = model.predict(X[test_idx])
        if known_propensity is None:
            model = clone(logistic_propensity()).fit(X[train_idx], t[train_idx])
            proba = np.zeros((len(test_idx), k))
            proba[:, np.asarray(model.classes_, dtype=int)] = model.predict_proba(X[test_idx])
            e[test_idx] = proba
    if known_propensity is not None and known_propensity.ndim == 1 and len(known_propensity) == len(y):
        # Per-patient probability of the option actually received: only that column enters the AIPW score.
        e[:] = 1.0
        e[np.arange(len(y)), t] = known_propensity
    elif known_propensity is not None:
        e[:] = known_propensity
    # Clip estimated propensities so a handful of patients cannot dominate the estimate (Crump et al. 2009).
    return mu, np.clip(e, 0.01, 1.0)


RuleLearner = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""(X_train, t_train, y_train, X_test) -> option codes for X_test, in 'higher is better' orientation."""


def evaluate_rules(
    X: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    options: list[str],
    rule_learner: RuleLearner,
    lower_is_better: bool = False,
    known_propensity: np.ndarray | None = None,
    config: LearnerConfig | None = None,
    n_folds: int = 5,
    alpha: float = 0.05,
    seed: int = 0,
) -> PolicyEvaluation:
    """Cross-fitted AIPW evaluation of a learned rule against each single option and current practice.

    ``known_propensity`` is either (k,) probabilities of each option (a trial) or (n,) the probability of the
    option each patient received; otherwise propensities are estimated with cross-fitting.
    """
    with single_threaded():
        return _evaluate_rules(
            X, t, y, options, rule_learner, lower_is_better, known_propensity, config, n_folds, alpha, seed
        )


def _evaluate_rules(
    X: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    options: list[str],
    rule_learner: RuleLearner,
    lower_is_better: bool,
    known_propensity: np.ndarray | None,
    config: LearnerConfig | None,
    n_folds: int,
    alpha: float,
    seed: int,
) -> PolicyEvaluation:
    config = config or LearnerConfig(random_state=seed)
    k = len(options)
    counts = np.bincount(t, minlength=k)
    if k < 2 or counts.min() < n_folds:
        raise InputError(f"each option needs at least {n_folds} patients to evaluate rules; counts {counts.tolist()}")
    # Work in 'higher is better' orientation; flip signs back for reporting.
    sign = -1.0 if lower_is_better else 1.0
    ys = sign * y
    splitter = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
    folds = list(splitter.split(X, t))
    mu, e = cross_fitted_nuisances(X, t, ys, folds, config, known_propensity)
    scores = aipw_scores(ys, t, e, mu)
    learned = np.zeros(len(y), dtype=int)
    for train_idx, test_idx in folds:
        learned[test_idx] = rule_learner(X[train_idx], t[train_idx], ys[train_idx], X[test_idx])

    def flip(v: PolicyValue) -> PolicyValue:
        if sign > 0:
            return v
        return PolicyValue(v.name, -v.value, -v.high, -v.low, v.se)

    single = {opt: value_of(scores, np.full(len(y), a), f"everyone on {opt}", alpha) for a, opt in enumerate(options)}
    best_code = max(range(k), key=lambda a: single[options[a]].value)
    best = options[best_code]
    learned_value = value_of(scores, learned, "learned rule", alpha)
    diff = compare(scores, learned, np.full(len(y), best_code), f"learned rule - everyone on {best}", alpha)
    # Current practice: the observed mean outcome under the treatments actually given.
    se_cur = float(ys.std(ddof=1) / np.sqrt(len(ys)))
    z = float(norm.ppf(1 - alpha / 2))
    current = PolicyValue(
        "current practice",
        float(ys.mean()),
        float(ys.mean()) - z * se_cur,
        float(ys.mean()) + z * se_cur,
        se_cur,
    )
    beats = diff.low > 0
    if beats:
        rec = f"the learned rule is better than everyone on {best} (the interval of the difference excludes 0)"
    elif diff.high < 0:
        rec = f"the learned rule is worse than everyone on {best}: recommend {best} for everyone"
    else:
        rec = f"no clear difference between the learned rule and everyone on {best}: recommend the single option {best}"
    reported_diff = diff if sign > 0 else PolicyComparison(diff.name, -diff.difference, -diff.high, -diff.low, diff.se)
    return PolicyEvaluation(
        options=options,
        lower_is_better=lower_is_better,
        learned=flip(learned_value),
        single={o: flip(v) for o, v in single.items()},
        current=flip(current),
        best_single=best,
        vs_best_single=reported_diff,
        learned_beats_best=bool(beats),
        recommendation=rec,
        assignment_share={o: float(np.mean(learned == a)) for a, o in enumerate(options)},
        alpha=alpha,
    )


def engine_rule_learner(
    learner: str = "causal_forest",
    config: LearnerConfig | None = None,
    cautious: bool = True,
    alpha: float = 0.05,
    known_propensity: np.ndarray | None = None,
) -> RuleLearner:
    """A rule learner backed by the effect engine (higher outcome is better).

    ``cautious``: start from the option with the best average predicted outcome in the training folds and
    move a patient to another option only when the interval of that option's advantage over it excludes zero.
    Otherwise the plain argmax of the point estimates.
    """
    from carepilot.models.effects.engine import EffectEngine

    def learn(X_train: np.ndarray, t_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray) -> np.ndarray:
        k = int(t_train.max()) + 1
        known = None
        if known_propensity is not None:
            known = {str(a): float(known_propensity[a]) for a in range(k)}
        engine = EffectEngine(learner=learner, reference="0", config=config, min_propensity=0.0, intervals=cautious)
        engine.fit(X_train, t_train, y_train, known_propensity=known)
        code = {o: int(o) for o in engine.options_}
        tau_train = np.column_stack([np.zeros(len(X_train)), engine.effect(X_train)])
        tau_test = np.column_stack([np.zeros(len(X_test)), engine.effect(X_test)])
        order = [code[o] for o in engine.options_]  # column -> option code
        if not cautious:
            return np.asarray(order)[np.argmax(tau_test, axis=1)]
        default_col = int(np.argmax(tau_train.mean(axis=0)))
        default = engine.options_[default_col]
        assignment = np.full(len(X_test), order[default_col])
        best_gain = np.zeros(len(X_test))
        for col, option in enumerate(engine.options_):
            if col == default_col:
                continue
            point, low, _ = engine.contrast(X_test, option, default, alpha)
            better = (low > 0) & (point > best_gain)
            assignment[better] = order[col]
            best_gain[better] = point[better]
        return assignment

    return learn
