"""Point-in-time features: nothing after the index time is ever read."""
