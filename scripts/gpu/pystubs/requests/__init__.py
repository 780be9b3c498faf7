"""A stand-in for requests (see scripts/gpu/pystubs/_standin.py): huggingface_hub imports it,
the benchmark never downloads."""
from _standin import module_getattr

from . import adapters, exceptions, models, structures  # noqa: F401
from .exceptions import ConnectionError, HTTPError, JSONDecodeError, RequestException  # noqa: F401
from .exceptions import ReadTimeout, Timeout  # noqa: F401

__version__ = "0.0.0"
__getattr__ = module_getattr(globals())
