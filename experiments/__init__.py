"""Experiments and benchmarks built on the public API of ``calib`` and ``physics``."""
