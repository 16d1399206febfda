"""Moving the per-row tables of an older state (``predictions``, ``pending_labels``) into the row store.

Done once when the state store opens, one batch at a time: the batch's rows are written to its file
first, then deleted from SQLite in a transaction, so a kill in between only means that batch is moved
again (its file rewritten with the same rows). Rows keep their batch, scoring time, label and the time
it arrived; waiting labels keep theirs and are read before any label logged since.
"""

from __future__ import annotations

import logging
import sqlite3

import pandas as pd
import pyarrow as pa

from exporter.rows.keys import row_keys
from exporter.rows.store import KEY, LABEL, LABELLED_AT, LEGACY_LABELS, RECEIVED_AT, RowStore, label_column

log = logging.getLogger(__name__)


def migrate(db: sqlite3.Connection, rows: RowStore) -> int:
    """Move every legacy row and waiting label into ``rows``; returns how many rows moved."""
    moved = 0
    batches = db.execute("SELECT DISTINCT model, batch_key FROM predictions").fetchall()
    for model, batch_key in batches:
        frame = pd.read_sql_query(
            "SELECT row_id, scored_at, label, labelled_at FROM predictions"
            " WHERE model = ? AND batch_key = ? ORDER BY rowid",
            db,
            params=(model, batch_key),
        )
        labelled = frame["label"].notna().to_numpy()
        rows.write_rows(
            model,
            batch_key,
            pa.table(
                {
                    KEY: row_keys(frame["row_id"].to_numpy(dtype=object)),
                    LABEL: label_column(frame["label"].to_numpy(dtype=object), labelled, len(frame)),
                    LABELLED_AT: pa.array(frame["labelled_at"].to_numpy(dtype=float), mask=~labelled),
                }
            ),
            scored_at=float(frame["scored_at"].min()),
        )
        db.execute("BEGIN IMMEDIATE")
        db.execute("DELETE FROM predictions WHERE model = ? AND batch_key = ?", (model, batch_key))
        db.execute("COMMIT")
        moved += len(frame)
    for (model,) in db.execute("SELECT DISTINCT model FROM pending_labels").fetchall():
        frame = pd.read_sql_query(
            "SELECT row_id, label, received_at FROM pending_labels WHERE model = ? ORDER BY rowid", db, params=(model,)
        )
        table = pa.table(
            {
                KEY: row_keys(frame["row_id"].to_numpy(dtype=object)),
                LABEL: label_column(frame["label"].to_numpy(dtype=object), None, len(frame)),
                RECEIVED_AT: frame["received_at"].to_numpy(dtype=float),
            }
        )
        earlier = rows.read_table(model, LEGACY_LABELS)
        if earlier is not None:  # moved before, and an older version ran again in between
            table = pa.concat_tables([earlier, table.cast(earlier.schema)])
        rows.write_table(model, LEGACY_LABELS, table)
        db.execute("BEGIN IMMEDIATE")
        db.execute("DELETE FROM pending_labels WHERE model = ?", (model,))
        db.execute("COMMIT")
    if moved:
        log.info("moved %d stored prediction(s) of %d batch(es) into the row store", moved, len(batches))
    return moved
