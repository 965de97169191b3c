"""Simulated cohorts {name}_sim: descendants of each partition's phased founders."""
