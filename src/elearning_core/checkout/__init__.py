"""Checkout: one-time prices of courses and learning paths, coupons, orders and their payment saga."""
