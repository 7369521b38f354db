"""The file adapter: read a Corefile (and what it imports) from disk and parse it."""

from __future__ import annotations

import glob as _glob
import os
from collections.abc import Callable, Mapping

from clusterdns.corefile.model import CorefileError, ServerBlock
from clusterdns.corefile.parser import parse


def read_text(path: str) -> str:
    """A file's text; raises OSError, or CorefileError naming the line of a non-UTF-8 byte."""
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start : exc.start + 1].hex()
        raise CorefileError(f"not UTF-8 text (byte 0x{bad})", file=path, line=line) from None


def glob_files(pattern: str) -> list[str]:
    """Paths matching ``pattern`` in lexical order; ``*`` also matches dot files, as in Go."""
    return sorted(_glob.glob(pattern, include_hidden=True))


def load(
    path: str,
    env: Mapping[str, str] = os.environ,
    *,
    warn: Callable[[str], None] | None = None,
) -> tuple[ServerBlock, ...]:
    """Read and parse the Corefile at ``path``, imports resolved against its folder."""
    try:
        text = read_text(path)
    except FileNotFoundError:
        raise CorefileError(f"Corefile {path} does not exist") from None
    except OSError as exc:
        raise CorefileError(f"cannot read Corefile {path}: {exc.strerror or exc}") from None
    return parse(text, path, env=env, read_file=read_text, glob=glob_files, warn=warn)
