"""Continuous monitoring engine, readings in and alerts out. Pure: no I/O, no clock (data time only)."""
