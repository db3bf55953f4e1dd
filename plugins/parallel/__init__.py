"""Parallel plans: how work is split across devices, and what the splitting costs."""
