"""One-off training experiments: reproducible, not part of the product or of `make test`."""
