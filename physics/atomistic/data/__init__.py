"""Bundled data files and the scripts that write them."""
