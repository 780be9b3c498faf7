"""A stand-in (see scripts/gpu/pystubs/_standin.py)."""
from concurrent.futures import ThreadPoolExecutor


def thread_map(fn, *iterables, max_workers=None, **kwargs):
    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        return list(pool.map(fn, *iterables))
