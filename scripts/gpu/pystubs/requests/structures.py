"""A stand-in (see scripts/gpu/pystubs/_standin.py)."""


class CaseInsensitiveDict(dict):
    pass
