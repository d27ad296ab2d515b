"""Estimators in scikit-learn conventions, the model registry and model cards."""
