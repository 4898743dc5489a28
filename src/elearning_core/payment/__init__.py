"""Payments: money, the payment gateway port, and the asynchronous outcomes its webhooks report."""
