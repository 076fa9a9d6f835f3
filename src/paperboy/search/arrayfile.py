"""Index files: numpy arrays as raw bytes at aligned offsets after a JSON header.

The keyword index and the vectors file are written this way (atomically: a temporary file, then a
rename) and read by memory-mapping, never unpickled: every web process on a machine maps the same
file, so the operating system holds its pages once however many processes serve (``serve --workers N``).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["write_arrays", "read_arrays"]

_MAGIC = b"PBIDX1\n"
_ALIGN = 64


def write_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` (replacing it atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    layout, offset = {}, 0
    for name, a in arrays.items():
        a = np.ascontiguousarray(a)
        layout[name] = [a.dtype.str, list(a.shape), offset]
        offset += -(-a.nbytes // _ALIGN) * _ALIGN
    header = json.dumps(layout).encode()
    start = -(-(len(_MAGIC) + 8 + len(header)) // _ALIGN) * _ALIGN
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_MAGIC + len(header).to_bytes(8, "little") + header)
            for name, a in arrays.items():
                f.seek(start + layout[name][2])
                f.write(memoryview(np.ascontiguousarray(a)).cast("B"))
            f.truncate(start + offset)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_arrays(path: Path, *, private: bool = False) -> dict[str, np.ndarray]:
    """The arrays of ``path``, memory-mapped read-only — or, ``private``, copy-on-write: writing to
    one copies only the pages written, into this process; the file and other processes never see it."""
    with open(path, "rb") as f:
        if f.read(len(_MAGIC)) != _MAGIC:
            raise ValueError(f"{path} is not a Paperboy index file")
        size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(size))
    start = -(-(len(_MAGIC) + 8 + size) // _ALIGN) * _ALIGN
    out = {}
    for name, (dtype, shape, offset) in header.items():
        count = int(np.prod(shape)) if shape else 1
        if count == 0:
            out[name] = np.empty(shape, np.dtype(dtype))
        else:
            mapped = np.memmap(path, dtype=np.dtype(dtype), mode="c" if private else "r", offset=start + offset, shape=tuple(shape))
            out[name] = np.asarray(mapped)  # a plain array over the mapping: np.memmap's subclass hooks cost per operation
    return out
