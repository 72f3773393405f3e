"""Alert-quality benchmark: synthetic watches with labeled surges, NAB-style scoring."""
