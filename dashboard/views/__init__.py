"""The dashboard's pages: each file is a page script and a module with ``render()``."""
