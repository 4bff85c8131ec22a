"""Wearables and gateways: vital-sign ingest and early-warning alerts."""
