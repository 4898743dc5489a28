"""Virus scanners behind ``elearning_core.attachment.ports.VirusScanner``: clamd's INSTREAM protocol."""

from elearning_adapters.antivirus.clamd import ClamdScanner, parse_address

__all__ = ["ClamdScanner", "parse_address"]
