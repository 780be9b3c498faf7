"""A stand-in for packaging: just packaging.version (see scripts/gpu/pystubs/_standin.py)."""
__version__ = "0.0.0"
