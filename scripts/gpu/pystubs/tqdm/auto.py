"""A stand-in (see scripts/gpu/pystubs/_standin.py)."""
from tqdm import tqdm  # noqa: F401
