"""Notification: domain events turned into messages to people, in-app and by email."""
