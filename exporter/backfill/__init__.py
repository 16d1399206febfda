"""Backfill: history turned into OpenMetrics with timestamps, and into Prometheus TSDB blocks."""
