"""Accelerator kinds: what a device can compute, hold and move, and how fast."""
