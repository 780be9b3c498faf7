"""Placeholder names for the `transformers` classes diffusers' pipeline modules import.

The reference script never uses them (it passes text embeddings, has no safety checker or image
encoder); they only let `pipeline_stable_diffusion*.py` be imported without transformers.
"""

__version__ = "0.0.0-placeholder"


class _Placeholder:
    def __init__(self, *args, **kwargs):
        raise RuntimeError(type(self).__name__ + " is a placeholder; transformers is not installed")


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    cls = type(name, (_Placeholder,), {})
    globals()[name] = cls
    return cls
