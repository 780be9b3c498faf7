"""A stand-in for Pillow (see scripts/gpu/pystubs/_standin.py)."""
from _standin import module_getattr

__version__ = "0.0.0"
__getattr__ = module_getattr(globals())
