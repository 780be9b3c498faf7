"""Placeholder names for modules diffusers and huggingface_hub import but jdiffusion's GPU
benchmark never calls (no downloads, no images as PIL, no model cards).

diffusers_bench.py puts this folder at the end of sys.path, so a real installed module always
wins; these only stand in for what the interpreter lacks. Any attribute of a stand-in module is
a class (an Exception subclass when its name says it is an error), whose own attributes are
classes too, so that module-level code such as annotations, base classes and constant tables
evaluates. Calling anything real on them raises.
"""


class _Meta(type):
    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return placeholder(name, cls.__module__)

    def __getitem__(cls, item):  # np.ndarray[...] and the like in annotations
        return cls


def _refuse(self, *args, **kwargs):
    raise RuntimeError(f"{type(self).__module__}.{type(self).__name__} is a stand-in: the real "
                       f"module is not installed (scripts/gpu/pystubs)")


def placeholder(name, module):
    errorish = name.endswith(("Error", "Exception", "Timeout", "Warning"))
    base = Exception if errorish else object
    body = {"__module__": module}
    if not errorish:
        body["__init__"] = _refuse
    return _Meta(name, (base,), body)


def module_getattr(module_globals):
    """A module-level __getattr__ that makes (and caches) placeholders."""
    def __getattr__(name):
        if name.startswith("__"):
            raise AttributeError(name)
        cls = placeholder(name, module_globals["__name__"])
        module_globals[name] = cls
        return cls
    return __getattr__
