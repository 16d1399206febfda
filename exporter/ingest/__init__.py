"""Ingestion: a batch read from its source is validated, scored and recorded, one outcome per batch.

``validation`` turns an arrived table into valid rows (small pure steps), ``scoring`` runs the model
on them, ``batches`` records a whole batch atomically and returns its ``BatchOutcome``, and
``label_files`` joins late labels to stored predictions.
"""
