"""Ingest pipeline: read, validate, normalise codes and units, quarantine, upsert idempotently."""
