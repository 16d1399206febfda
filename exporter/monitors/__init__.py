"""Calculators run on every evaluation window, one module each, registered by name."""
