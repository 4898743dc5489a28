"""What a file is, by its first bytes: a small table of signatures, never the client's word.

A maintained sniffing library was not used: ``filetype`` and ``puremagic`` tell a zip from a PDF, but
which zip is an office document needs the archive's member names, and the core keeps to the standard
library. The signatures are the formats' own (ISO 32000 for PDF, the PNG, GIF, JPEG and WebP headers,
ECMA-376 and OpenDocument packages for office documents); plain text is UTF-8 without NULs or control
characters other than whitespace.
"""

from __future__ import annotations

import struct

SNIFF_BYTES = 64 * 1024
"""How much of a file's start ``sniff`` reads: enough for an office package's first member names."""

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
GIF = "image/gif"
WEBP = "image/webp"
TEXT = "text/plain"
ZIP = "application/zip"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
ODP = "application/vnd.oasis.opendocument.presentation"
EPUB = "application/epub+zip"

EXTENSIONS: dict[str, tuple[str, ...]] = {
    PDF: (".pdf",),
    PNG: (".png",),
    JPEG: (".jpg", ".jpeg"),
    GIF: (".gif",),
    WEBP: (".webp",),
    TEXT: (".txt", ".md", ".csv", ".tsv", ".py", ".json", ".log"),
    ZIP: (".zip",),
    DOCX: (".docx",),
    XLSX: (".xlsx",),
    PPTX: (".pptx",),
    ODT: (".odt",),
    ODS: (".ods",),
    ODP: (".odp",),
    EPUB: (".epub",),
}
"""The names a file of each type may keep; another name gets the first of these appended."""

DEFAULT_ALLOWED = frozenset(EXTENSIONS) - {ZIP}
"""Everything ``sniff`` recognises but a bare zip archive, whose members nobody reads before a learner does."""

_OOXML = ((b"word/", DOCX), (b"xl/", XLSX), (b"ppt/", PPTX))
_ODF = {ODT.encode(): ODT, ODS.encode(): ODS, ODP.encode(): ODP, EPUB.encode(): EPUB}
_LOCAL_HEADER = b"PK\x03\x04"
_TEXT_CONTROLS = frozenset(b"\t\n\r\x0c")


def sniff(head: bytes) -> str | None:
    """The media type of a file starting with ``head`` (its first ``SNIFF_BYTES`` or all of it), or None."""
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith(_LOCAL_HEADER):
        return _package(head)
    if head and _is_text(head):
        return TEXT
    return None


def _members(head: bytes) -> list[tuple[bytes, bytes]]:
    """The (name, first bytes of data) of each zip member whose local header starts in ``head``."""
    members = []
    at = head.find(_LOCAL_HEADER)
    while at != -1 and at + 30 <= len(head):
        name_length, extra_length = struct.unpack_from("<HH", head, at + 26)
        name_end = at + 30 + name_length
        name = head[at + 30 : name_end]
        members.append((name, head[name_end + extra_length : name_end + extra_length + 80]))
        at = head.find(_LOCAL_HEADER, at + 4)
    return members


def _package(head: bytes) -> str:
    """An office package by its members (an OpenDocument's first member is its stored ``mimetype``), else zip."""
    members = _members(head)
    if members and members[0][0] == b"mimetype":
        for mimetype, kind in _ODF.items():
            if members[0][1].startswith(mimetype):
                return kind
    for name, _data in members:
        for prefix, kind in _OOXML:
            if name.startswith(prefix):
                return kind
    return ZIP


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # only a character cut at the end of the head is forgiven
            return False
        text = head[: exc.start].decode("utf-8")
    return not any((ord(ch) < 0x20 and ord(ch) not in _TEXT_CONTROLS) or ord(ch) == 0x7F for ch in text)


def download_name(name: str, media_type: str) -> str:
    """``name``, with the type's usual extension appended when its own does not fit what the file is
    (``notes.html`` holding text is offered as ``notes.html.txt``, so no browser or desktop runs it as HTML)."""
    allowed = EXTENSIONS.get(media_type, ())
    if not allowed or name.lower().endswith(allowed):
        return name
    return name + allowed[0]
