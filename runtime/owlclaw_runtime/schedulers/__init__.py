"""Scheduler backends: embedded (default) and Hatchet."""
