"""A stand-in (see scripts/gpu/pystubs/_standin.py)."""
from _standin import module_getattr

__getattr__ = module_getattr(globals())

__version__ = "0.0.0"
STANDIN = True  # diffusers_bench.py reports the pipeline section as needing real numpy
pi = 3.141592653589793

# Scalar maths that module-level defaults evaluate (np.sqrt(2.0) in diffusers' unet blocks).
from math import cos, exp, log, sin, sqrt  # noqa: E402,F401
