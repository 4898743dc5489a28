"""Payment gateway adapters (fake, Stripe) and the signed webhooks they send."""
