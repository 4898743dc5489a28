"""Billing adapters: the table-based tax policy, invoice documents (HTML and PDF) and their store."""
