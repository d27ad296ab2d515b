"""Feedback, outcomes, drift and fairness monitoring, governed retraining."""
