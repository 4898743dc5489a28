"""The signature table: what each format's first bytes say, and what they never say (the name is not asked)."""

from __future__ import annotations

import io
import zipfile

import pytest

from elearning_core.attachment import sniffing
from elearning_core.attachment.sniffing import SNIFF_BYTES, download_name, sniff


def package(*members: tuple[str, bytes], stored_first: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index, (name, data) in enumerate(members):
            kind = zipfile.ZIP_STORED if stored_first and index == 0 else zipfile.ZIP_DEFLATED
            archive.writestr(name, data, compress_type=kind)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"%PDF-1.4\n", sniffing.PDF),
        (b"\x89PNG\r\n\x1a\n\x00\x00", sniffing.PNG),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", sniffing.JPEG),
        (b"GIF89a\x01\x00", sniffing.GIF),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", sniffing.WEBP),
        (b"Week 1\tnotes\r\n", sniffing.TEXT),
        ("Grüße, café, 日本語\n".encode(), sniffing.TEXT),
        (package(("[Content_Types].xml", b"<Types/>"), ("word/document.xml", b"<w/>")), sniffing.DOCX),
        (package(("[Content_Types].xml", b"<Types/>"), ("xl/workbook.xml", b"<x/>")), sniffing.XLSX),
        (package(("[Content_Types].xml", b"<Types/>"), ("ppt/presentation.xml", b"<p/>")), sniffing.PPTX),
        (package(("mimetype", sniffing.ODT.encode()), ("content.xml", b"<c/>"), stored_first=True), sniffing.ODT),
        (package(("mimetype", sniffing.EPUB.encode()), ("content.opf", b"<c/>"), stored_first=True), sniffing.EPUB),
        (package(("setup.exe", b"MZ")), sniffing.ZIP),
    ],
)
def test_each_format_is_known_by_its_first_bytes(head: bytes, expected: str) -> None:
    assert sniff(head) == expected


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"MZ\x90\x00\x03",  # a Windows executable
        b"\x7fELF\x02\x01",
        b"plain start then a NUL\x00",
        b"text with a bell \x07",
        b"\xff\xfe\x00\x00 not utf-8 \xc3\x28 in the middle" + b"x" * 10,
    ],
)
def test_anything_else_is_unknown(head: bytes) -> None:
    assert sniff(head) is None


def test_a_character_cut_at_the_end_of_the_head_is_still_text() -> None:
    text = ("é" * SNIFF_BYTES).encode()[: SNIFF_BYTES - 1]  # ends in half a character

    assert sniff(text) == sniffing.TEXT


@pytest.mark.parametrize(
    ("name", "media_type", "offered"),
    [
        ("notes.pdf", sniffing.PDF, "notes.pdf"),
        ("NOTES.PDF", sniffing.PDF, "NOTES.PDF"),
        ("photo.jpeg", sniffing.JPEG, "photo.jpeg"),
        ("page.html", sniffing.TEXT, "page.html.txt"),
        ("invoice.pdf", sniffing.PNG, "invoice.pdf.png"),
        ("report", sniffing.DOCX, "report.docx"),
    ],
)
def test_a_name_keeps_an_extension_that_fits_the_content_or_gets_one(name: str, media_type: str, offered: str) -> None:
    assert download_name(name, media_type) == offered
