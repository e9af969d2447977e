"""Capture without asking: find agents' logs where they live (`discover`), keep the store
current as sessions grow (`watch`), and have Claude Code hand over each session as it stops
(`hooks`). Everything here ends in the ordinary incremental ingest."""
