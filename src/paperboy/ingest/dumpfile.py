"""Reading a dump file line by line, plain or gzipped, as far as it can be read.

A dump that was cut short (a download that stopped, a full disk) or damaged (a flipped bit) still
holds every line before the damage, and an import must keep them (README: an interrupted import
keeps what it did). Python's ``gzip`` module loses them: a truncated member raises ``EOFError``
from a read and the text decompressed in that read — up to the reader's whole buffer, hundreds of
lines — is gone with it. So gzip is decompressed here with ``zlib`` directly, block by block: what a
block yields is handed on before the next block is read, and when ``zlib`` rejects a block, the
block is fed again byte by byte from a copy of the decompressor taken before it, which yields the
text up to the damaged byte itself.

:class:`DumpReader` yields the complete lines; when reading stops early it records a
:class:`Damage` (which line, which byte, what happened) instead of raising, so the caller imports
what was read and then reports the damage. A last line that the damage cut in two is reported in
the damage, never imported (half a record may still be valid JSON: a shorter title, say). A plain
file's last line without its newline is kept when it is a whole JSON value: nothing says a file
must end with a newline; when it is not, the file was cut in the middle of it.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

__all__ = ["Damage", "DumpReader", "GZIP_MAGIC"]

GZIP_MAGIC = b"\x1f\x8b"
READ = 1 << 16  # bytes of the file per read: ~250 KB of text per gzip block, a few hundred lines


@dataclass(slots=True, frozen=True)
class Damage:
    """Where and why a dump could not be read to its end."""

    line: int  # the first line that was not read whole: every line before it was read
    offset: int  # byte of the file (compressed, for gzip) where reading stopped
    reason: str

    def __str__(self) -> str:
        return f"damaged at line {self.line:,} (byte {self.offset:,} of the file): {self.reason}"


class DumpReader:
    """Iterate ``(line number, line, bytes of the file read so far)`` over the non-blank lines of
    ``path``; after the iteration :attr:`damage` says whether, where and why reading stopped early.

    Line numbers count every line, blank ones too, so they match an editor's and ``sed -n``'s. A
    line longer than ``max_line`` bytes is yielded cut to ``max_line + 1`` bytes (the rest is
    skipped, never held): damaged data can decompress to megabytes without a newline."""

    def __init__(self, path: str | os.PathLike, max_line: int):
        self.path = Path(path)
        self.max_line = max_line
        self.damage: Damage | None = None
        self._offset = 0  # bytes of the file handed to the decompressor (or read, for plain files)
        self._stop: tuple[int, str] | None = None  # (offset, reason) where the bytes stopped

    def __iter__(self) -> Iterator[tuple[int, bytes, int]]:
        with open(self.path, "rb") as raw:
            gzipped = raw.read(2) == GZIP_MAGIC
            raw.seek(0)
            keep = self.max_line + 1
            pending: list[bytes] = []  # the start of a line that goes on in the next block (at most ``keep`` bytes)
            held = 0
            number = 0
            for block in self._gunzip(raw) if gzipped else self._plain(raw):
                lines = block.split(b"\n")
                if len(lines) == 1:  # no newline in this block: one long line goes on
                    if held < keep:
                        pending.append(block[: keep - held])
                        held += len(pending[-1])
                    continue
                if pending:
                    lines[0] = b"".join(pending) + lines[0][: keep - held]
                last = lines.pop()
                pending, held = ([last[:keep]], min(len(last), keep)) if last else ([], 0)
                for line in lines:
                    number += 1
                    if line.strip():
                        yield number, line[:keep], self._offset
            tail = b"".join(pending)
            if self._stop is not None:
                offset, reason = self._stop
                if tail:
                    reason += f"; line {number + 1:,} is cut short there and was not imported"
                self.damage = Damage(number + 1, offset, reason)
            elif tail.strip():
                if _whole_json(tail):
                    yield number + 1, tail, self._offset
                else:
                    reason = f"the file ends in the middle of line {number + 1:,} (no newline, and not a whole JSON value): it was cut short"
                    self.damage = Damage(number + 1, self._offset, reason)

    def _reads(self, raw) -> Iterator[bytes]:
        """The file's bytes, a read at a time, until its end or a read error (then :attr:`_stop`)."""
        while True:
            try:
                data = raw.read(READ)
            except OSError as e:
                self._stop = (self._offset, f"the file cannot be read on from there: {e}")
                return
            if not data:
                return
            yield data

    def _plain(self, raw) -> Iterator[bytes]:
        for data in self._reads(raw):
            self._offset += len(data)
            yield data

    def _gunzip(self, raw) -> Iterator[bytes]:
        """The decompressed text of every gzip member of the file, block by block, as far as it goes."""
        member = zlib.decompressobj(wbits=31)  # 31: gzip header and trailer (CRC-32 and length checked)
        started = False  # has the current member been given any bytes?
        for data in self._reads(raw):
            while data:
                if not started:
                    data = data.lstrip(b"\x00")  # zero padding after a member (tape-style), as gzip allows
                    if not data:
                        break
                started = True
                before = member.copy()
                try:
                    text = member.decompress(data)
                except zlib.error as e:
                    yield from self._salvage(before, data)
                    self._stop = (self._offset, _zlib_reason(e, self._offset))
                    return
                if text:
                    yield text
                if member.eof:  # this member ended inside ``data``: what follows is the next member
                    used = len(data) - len(member.unused_data)
                    self._offset += used
                    data = member.unused_data
                    member, started = zlib.decompressobj(wbits=31), False
                else:
                    self._offset += len(data)
                    data = b""
        if self._stop is not None:  # a read error: said already
            return
        if started and not member.eof:
            text = member.flush()
            if text:
                yield text
            self._stop = (self._offset, "the compressed data ends before its end-of-stream marker: the file was cut short")

    def _salvage(self, member, data: bytes) -> Iterator[bytes]:
        """Feed ``data`` byte by byte to ``member`` (the decompressor before it): every byte of text
        before the damaged byte comes out; :attr:`_offset` stops at the damaged byte."""
        for i in range(len(data)):
            try:
                text = member.decompress(data[i : i + 1])
            except zlib.error:
                return
            self._offset += 1
            if text:
                yield text
            if member.eof:  # the damage is after this member's end (the next member's header)
                return


def _zlib_reason(error: zlib.error, offset: int) -> str:
    message = str(error).split(": ", 1)[-1]
    if "incorrect header check" in message or "unknown compression method" in message:
        return f"the bytes there are not gzip data ({message})" if offset else f"the gzip header is damaged ({message})"
    if "incorrect data check" in message or "incorrect length check" in message:
        return f"the gzip checksum does not match ({message}): a line before this point may hold damaged text"
    return f"the compressed data is corrupt ({message})"


def _whole_json(line: bytes) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True
