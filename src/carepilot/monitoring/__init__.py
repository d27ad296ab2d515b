"""Stream processing, personal baselines, early-warning scores and alert policies."""
