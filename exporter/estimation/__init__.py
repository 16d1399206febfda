"""Performance estimated without labels, from the model's calibrated confidence."""
