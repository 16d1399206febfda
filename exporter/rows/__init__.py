"""Per-row predictions of models whose rows late labels can join, kept as columnar files keyed by integers."""
