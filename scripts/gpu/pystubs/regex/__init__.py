"""A stand-in for the regex package: the standard library's re (see scripts/gpu/pystubs)."""
from re import *  # noqa: F401,F403
from re import compile, escape, findall, finditer, match, search, split, sub  # noqa: F401
