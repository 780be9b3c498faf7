"""A stand-in for filelock: locks that do not lock (one benchmark process, no downloads)."""

__version__ = "0.0.0"


class Timeout(TimeoutError):
    pass


class BaseFileLock:
    def __init__(self, lock_file=None, *args, **kwargs):
        self.lock_file = lock_file

    def acquire(self, *args, **kwargs):
        return self

    def release(self, *args, **kwargs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class FileLock(BaseFileLock):
    pass


SoftFileLock = UnixFileLock = FileLock
