"""The stream shapes the code relies on, as Protocols instead of `BinaryIO`.

`BinaryIO` promises the whole file API (seek, fileno, readlines...); the streams passed
around here are often duck-typed wrappers (boto3's StreamingBody, a counting or hashing
reader, a multipart writer) that have only what these Protocols name.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...


class ReadableStream(Readable, Protocol):
    """A readable that is closed after use, usually in a `with` block."""

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> object: ...
