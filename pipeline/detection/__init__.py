"""Negative-spike detection: the pure detector (live and offline) and its live driver."""

from pipeline.detection.detector import DetectorParams, DetectorResult, SpikeDetector, detect_series

__all__ = ["DetectorParams", "DetectorResult", "SpikeDetector", "detect_series"]
