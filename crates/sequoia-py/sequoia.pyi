"""SEQUOIA sequence stores: every distinct sequence once, keyed by the SHA-256 of its
residues, with every source record of it; read by SHA-256, MD5, refget SQ. digest or
accession. Coordinates are 0-based, end excluded."""

import os
from typing import Iterable, Iterator, Literal, Optional, Sequence, Tuple, TypeVar, Union, overload

__version__: str

StrPath = Union[str, "os.PathLike[str]"]
Item = Union[str, Tuple[str, Optional[int], Optional[int]]]
_T = TypeVar("_T")

class NoStoreError(FileNotFoundError):
    """There is no store at the location (or no commit of the number asked for)."""

class StoreLockedError(OSError):
    """Another writer holds the store's lock."""

class CorruptStoreError(OSError):
    """A pack or index file of the store is damaged."""

class ReadOnlyError(OSError):
    """A write on a store opened read-only."""

class ConflictError(OSError):
    """Another writer published a commit to the same object storage first."""

class AmbiguousIdError(LookupError):
    """An accession names several distinct sequences; Store.find(id) lists them."""

class Representation:
    """One source record of a sequence: its FASTA header (without '>') and its source."""

    header: str
    source: str
    def __init__(self, header: str, source: str) -> None: ...
    def __iter__(self) -> Iterator[str]: ...

class SequenceInfo:
    """A stored sequence's length, digests and representations."""

    length: int
    sha256: str
    md5: str
    sha512t24u: str
    representations: Tuple[Representation, ...]

class Store:
    """A SEQUOIA store, opened read-only (the default) or for writing."""

    def __init__(
        self,
        location: StrPath,
        *,
        read_only: bool = True,
        cache: Optional[StrPath] = None,
        cache_ttl: float = 10.0,
    ) -> None: ...
    def __getitem__(self, id: str) -> str: ...
    def fetch(self, id: str, start: Optional[int] = None, end: Optional[int] = None) -> str: ...
    @overload
    def get(self, id: str) -> Optional[str]: ...
    @overload
    def get(self, id: str, default: _T) -> Union[str, _T]: ...
    def __contains__(self, id: object) -> bool: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[str]: ...
    def find(self, id: str) -> list[str]: ...
    @overload
    def fetch_many(self, items: Iterable[Item], *, missing: Literal["raise", "skip"] = "raise") -> list[str]: ...
    @overload
    def fetch_many(self, items: Iterable[Item], *, missing: Literal["none"]) -> list[Optional[str]]: ...
    def info(self, id: str) -> SequenceInfo: ...
    def stats(self) -> dict: ...
    def records(self) -> Iterator[Tuple[str, str, str]]: ...
    def sequences(self) -> Iterator[Tuple[str, str]]: ...
    def import_fasta(self, paths: Union[StrPath, Sequence[StrPath]], source: Optional[str] = None) -> dict: ...
    def put_many(self, records: Iterable[Tuple[str, str]], *, source: str) -> dict: ...
    def commit(self) -> Optional[int]: ...
    def rollback(self) -> None: ...
    def refresh(self) -> None: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    @property
    def location(self) -> str: ...
    @property
    def read_only(self) -> bool: ...
    @property
    def commit_number(self) -> Optional[int]: ...
    def __enter__(self) -> "Store": ...
    def __exit__(self, exc_type: object, exc: object, tb: object) -> bool: ...

def open(
    location: StrPath,
    *,
    read_only: bool = True,
    cache: Optional[StrPath] = None,
    cache_ttl: float = 10.0,
) -> Store:
    """Opens the store at location (a directory, file://PATH or s3://BUCKET/PREFIX)."""
