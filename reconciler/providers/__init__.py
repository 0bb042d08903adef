"""Vendor providers: one module per vendor, each with its kinds; `registry` lists them."""
