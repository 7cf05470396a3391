"""What a file is, judged by its content (magic bytes), and whether the policy takes it.

The name's extension is never trusted: a renamed executable stays an executable. Binary
formats are recognised by the `filetype` package; text (which has no magic bytes) is
recognised here: no NUL bytes and readable as UTF-8, UTF-16 with a BOM, or cp1252. Text that
is markup (HTML, SVG, XML) gets its own type, so an allow-list of text/plain does not let
active content in.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

# enough for every signature filetype checks (it reads at most 8 KiB) and for text sniffing
HEAD_BYTES = 8192
UNKNOWN = "application/octet-stream"
_CONTROL = set(range(0x00, 0x20)) - {0x09, 0x0A, 0x0C, 0x0D, 0x1B}


def sniff(head: bytes) -> str:
    """The media type of content that starts with `head`."""
    import filetype  # only `case attach` needs it

    kind = filetype.guess(head)
    if kind is not None:
        return kind.mime
    text = _as_text(head)
    if text is None:
        return UNKNOWN
    return _markup(text) or "text/plain"


def _as_text(head: bytes) -> str | None:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return head.decode("utf-16")
        except UnicodeDecodeError:
            return None
    if b"\x00" in head:
        return None
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not merely a character cut at the end of the head
            try:
                text = head.decode("cp1252")
            except UnicodeDecodeError:
                return None
        else:
            text = head[: exc.start].decode("utf-8-sig")
    if any(ord(ch) in _CONTROL for ch in text):
        return None
    return text


def _markup(text: str) -> str | None:
    start = text.lstrip()[:512].lower()
    if not start.startswith("<"):
        return None
    if "<svg" in start:
        return "image/svg+xml"
    if "<html" in start or start.startswith("<!doctype html"):
        return "text/html"
    if start.startswith("<?xml"):
        return "application/xml"
    return None


def allowed(media_type: str, patterns: list[str]) -> bool:
    return any(fnmatchcase(media_type, pattern) for pattern in patterns)


def size_limit(max_mb: float) -> int:
    """The policy's limit in bytes (MB read as MiB, as file managers show sizes)."""
    return int(max_mb * 1024 * 1024)


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"
