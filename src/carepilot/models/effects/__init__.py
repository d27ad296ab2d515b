"""Individual treatment effects: learners, selection, overlap, policy value, decision specs and Insights.

Estimation and evaluation are pure computations on arrays; file reading lives in ``csvio`` and ``artifact``.
"""
