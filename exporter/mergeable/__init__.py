"""Per-window states that merge, for batches too large to hold in memory.

A batch is read in chunks (``chunks``); each chunk is validated and scored like a whole batch and
folded into a state (``batch.BatchState``) that adds up: confusion counts (``confusion``), and per
feature the window's counts placed on the fitted reference (``drift``). States of separate chunks,
processes or Dask partitions merge by addition, so the figures do not depend on how the batch was
split. Every figure is the one the in-memory path computes, exactly, except the Wasserstein
distance, which comes with an upper bound on its error (see ``drift.NumericPlacement``).
"""
