"""Federated training across sites with Flower: only parameters and aggregate statistics leave a site."""
