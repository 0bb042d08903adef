"""Fast in-process tests of the pure parts: planner, drift, executor (seconds, no network)."""
