"""A stand-in (see scripts/gpu/pystubs/_standin.py)."""
from _standin import module_getattr

__getattr__ = module_getattr(globals())
