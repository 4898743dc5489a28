"""The notification module's adapters: mail templates, the event handlers, the sender and the live stream."""
