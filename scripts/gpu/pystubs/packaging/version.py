"""A stand-in for packaging.version: enough of PEP 440 to compare the versions diffusers and
huggingface_hub compare (release numbers, then dev < pre-release < final < post-release)."""
import re

_PATTERN = re.compile(r"^\s*v?(\d+(?:\.\d+)*)(?:[-_.]?(a|b|rc|alpha|beta|c)[-_.]?(\d*))?"
                      r"(?:[-_.]?post[-_.]?(\d*))?(?:[-_.]?dev[-_.]?(\d*))?(?:\+([\w.]+))?\s*$", re.I)


class InvalidVersion(ValueError):
    pass


class Version:
    def __init__(self, text):
        m = _PATTERN.match(str(text))
        if not m:
            raise InvalidVersion(f"Invalid version: {text!r}")
        self._text = str(text)
        self.release = tuple(int(p) for p in m.group(1).split("."))
        pre = m.group(2)
        kind = {"alpha": "a", "beta": "b", "c": "rc"}.get((pre or "").lower(), (pre or "").lower())
        self.pre = (kind, int(m.group(3) or 0)) if pre else None
        self.post = int(m.group(4) or 0) if m.group(4) is not None else None
        self.dev = int(m.group(5) or 0) if m.group(5) is not None else None
        self.local = m.group(6)

    @property
    def base_version(self):
        return ".".join(str(p) for p in self.release)

    @property
    def public(self):
        return self._text.split("+")[0]

    @property
    def major(self):
        return self.release[0]

    @property
    def minor(self):
        return self.release[1] if len(self.release) > 1 else 0

    @property
    def micro(self):
        return self.release[2] if len(self.release) > 2 else 0

    @property
    def is_prerelease(self):
        return self.pre is not None or self.dev is not None

    @property
    def is_devrelease(self):
        return self.dev is not None

    def _key(self):
        release = self.release
        while len(release) > 1 and release[-1] == 0:
            release = release[:-1]
        order = {"a": 0, "b": 1, "rc": 2}
        if self.pre is None and self.post is None and self.dev is not None:
            pre = (-1, 0)  # 1.0.dev0 sorts before 1.0a1
        elif self.pre is None:
            pre = (3, 0)
        else:
            pre = (order[self.pre[0]], self.pre[1])
        post = -1 if self.post is None else self.post
        dev = float("inf") if self.dev is None else self.dev
        return release, pre, post, dev

    def __eq__(self, other):
        return self._key() == _coerce(other)._key()

    def __lt__(self, other):
        return self._key() < _coerce(other)._key()

    def __le__(self, other):
        return self._key() <= _coerce(other)._key()

    def __gt__(self, other):
        return self._key() > _coerce(other)._key()

    def __ge__(self, other):
        return self._key() >= _coerce(other)._key()

    def __hash__(self):
        return hash(self._key())

    def __str__(self):
        return self._text

    def __repr__(self):
        return f"<Version({self._text!r})>"


def _coerce(v):
    return v if isinstance(v, Version) else Version(v)


def parse(text):
    return Version(text)
