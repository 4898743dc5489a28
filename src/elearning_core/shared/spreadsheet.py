"""Text cells that are safe to open in a spreadsheet: every CSV the platform writes goes through here."""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection")."""


def spreadsheet_text(text: str) -> str:
    """Names, emails and titles are typed by users; opened in a spreadsheet, one starting like a formula
    would run (``=HYPERLINK(...)`` exfiltrating the sheet), so it is turned into plain text with a
    leading apostrophe. Numbers are not text cells: a negative number stays a number."""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text
