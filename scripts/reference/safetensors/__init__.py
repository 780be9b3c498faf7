"""A small pure-Python stand-in for the `safetensors` package, enough for the reference script.

The format: an 8-byte little-endian header length, a JSON header
{name: {"dtype", "shape", "data_offsets": [begin, end]}} (plus optional "__metadata__"),
then the tensors' row-major little-endian bytes. Only what diffusers imports is provided.
"""

__version__ = "0.0.0-standin"


def safe_open(path, framework="pt", device="cpu"):
    from .torch import _SafeOpen

    return _SafeOpen(path)
