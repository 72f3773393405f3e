"""Text utilities shared by the pipeline (language detection, ...)."""
