"""Durable state in SQLite: processed batches, counters, run history and reference profiles; and the
per-row predictions of models with ids, kept beside it in columnar files (``exporter.rows``).

A batch's processed mark and its counter increments are written in one transaction, so a crash either
keeps both or neither: a restart never scores a batch twice and never loses a count. Its stored
predictions are written to their file before that transaction and count only once its mark commits
(``exporter.rows.store``), so they follow the mark exactly.

The store heals rather than stops the exporter: a file that is not a sound SQLite database is moved
aside (``<state>.corrupt-<time>``) with an error in the log, and a fresh store is started, counted in
``resets``; a store that cannot be opened at all (a read-only folder, a full disk) is opened again by
the next operation, so it is picked up once it can be, without a restart.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from exporter.rows.legacy import migrate
from exporter.rows.store import RowStore, temporary_root

# ``predictions`` and ``pending_labels`` are read only to move what an older version kept in them
# into the row store (exporter.rows.legacy), when the store opens
SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    model TEXT NOT NULL, key TEXT NOT NULL, status TEXT NOT NULL, reason TEXT,
    rows INTEGER NOT NULL, processed_at REAL NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (model, key)
);
CREATE TABLE IF NOT EXISTS counters (
    model TEXT NOT NULL, name TEXT NOT NULL, labels TEXT NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (model, name, labels)
);
CREATE TABLE IF NOT EXISTS predictions (
    model TEXT NOT NULL, row_id TEXT NOT NULL, batch_key TEXT NOT NULL, scored_at REAL NOT NULL,
    label TEXT, labelled_at REAL,
    PRIMARY KEY (model, row_id)
);
CREATE INDEX IF NOT EXISTS predictions_by_batch ON predictions (model, batch_key);
CREATE INDEX IF NOT EXISTS predictions_by_time ON predictions (model, scored_at);
CREATE TABLE IF NOT EXISTS label_files (
    model TEXT NOT NULL, key TEXT NOT NULL, status TEXT NOT NULL, processed_at REAL NOT NULL,
    PRIMARY KEY (model, key)
);
CREATE TABLE IF NOT EXISTS pending_labels (
    model TEXT NOT NULL, row_id TEXT NOT NULL, label TEXT NOT NULL, received_at REAL NOT NULL,
    PRIMARY KEY (model, row_id)
);
CREATE TABLE IF NOT EXISTS runs (
    model TEXT NOT NULL, run_at REAL NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL,
    window_start REAL, window_end REAL, window_rows INTEGER NOT NULL, scored_rows INTEGER NOT NULL,
    labelled_rows INTEGER, correct_rows INTEGER, samples BLOB NOT NULL,
    PRIMARY KEY (model, run_at)
);
CREATE INDEX IF NOT EXISTS runs_by_time ON runs (run_at);
-- format 1: each model's own copy of its profile in one blob; read once and moved to the tables below
CREATE TABLE IF NOT EXISTS reference_profiles (
    model TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, payload BLOB NOT NULL
);
-- each profile once by its content key, each array once by its digest, and which profile a model uses
CREATE TABLE IF NOT EXISTS reference_models (model TEXT PRIMARY KEY, profile TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS reference_documents (
    profile TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, document TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reference_documents_by_fingerprint ON reference_documents (fingerprint);
CREATE TABLE IF NOT EXISTS reference_parts (
    profile TEXT NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (profile, digest)
);
CREATE INDEX IF NOT EXISTS reference_parts_by_digest ON reference_parts (digest);
CREATE TABLE IF NOT EXISTS reference_arrays (digest TEXT PRIMARY KEY, data BLOB NOT NULL);
"""

log = logging.getLogger(__name__)

CounterKey = tuple[str, tuple[tuple[str, str], ...]]


def counter_key(name: str, labels: Mapping[str, str] | None = None) -> CounterKey:
    return name, tuple(sorted((labels or {}).items()))


@dataclass(frozen=True)
class StoredRun:
    """One run of one model as the run history keeps it.

    ``samples`` maps each published series (``name{label="value",...}`` without model and version)
    to its value. ``labelled_rows`` and ``correct_rows`` count the window's labelled rows and those
    predicted right (None when the task has no notion of it), so a ratio can be recomputed exactly
    over any set of runs whose windows do not overlap, or across replicas.
    """

    name: str
    version: str
    run_at: float
    window_start: float | None
    window_end: float | None
    window_rows: int
    scored_rows: int
    labelled_rows: int | None
    correct_rows: int | None
    samples: Mapping[str, float]

    @property
    def model(self) -> str:
        return f"{self.name}:{self.version}"


class StoredReference(NamedTuple):
    fingerprint: str
    profile: str  # the key of the stored profile


@dataclass(frozen=True)
class StoredBatch:
    key: str
    rows: int
    processed_at: float
    seq: int


def _pack(samples: Mapping[str, float]) -> bytes:
    # a run's samples repeat the same long series names run after run: compressed they take a
    # seventh of the space (18 kB to 2.5 kB for the demo's 30-feature model)
    return zlib.compress(json.dumps(dict(samples), sort_keys=True).encode(), 6)


def _unpack(stored: bytes | str) -> dict[str, float]:
    return json.loads(stored if isinstance(stored, str) else zlib.decompress(stored))


def _is_corruption(error: BaseException) -> bool:
    """A database error that is the file's fault (not a lock, a permission or a full disk)."""
    return isinstance(error, sqlite3.DatabaseError) and not isinstance(error, sqlite3.OperationalError)


class StateUnavailable(OSError):
    """The state store cannot be opened or written (permissions, a full disk, a file in the way)."""


class StateStore:
    """``wait=True`` lets a store that cannot be opened yet be opened by a later operation instead of
    failing now: the exporter starts, and its runs fail (and say so) until the store can be opened."""

    def __init__(self, path: Path | str, clock: Callable[[], float] = time.time, *, wait: bool = False) -> None:
        self.path = Path(path)
        self.clock = clock
        self._lock = threading.RLock()
        self._connection: sqlite3.Connection | None = None
        self._closed = False
        self.resets = 0  # corrupt files moved aside by this store
        memory = str(self.path) == ":memory:"
        self.rows = RowStore(temporary_root() if memory else Path(f"{self.path}.rows"), self, self._lock)
        try:
            self._connection = self._open()
        except StateUnavailable as exc:
            if not wait:
                raise
            log.error("%s; every run tries again until it can", exc)

    @property
    def _db(self) -> sqlite3.Connection:
        with self._lock:
            if self._closed:
                raise sqlite3.ProgrammingError(f"state store {self.path} is closed")
            if self._connection is None:
                self._connection = self._open()
                log.info("state store %s opened", self.path)
            return self._connection

    def _connect(self) -> sqlite3.Connection:
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            (check,) = db.execute("PRAGMA quick_check").fetchone()
            if check != "ok":
                raise sqlite3.DatabaseError(f"integrity check failed: {check}")
            db.executescript(SCHEMA)
        except BaseException:
            db.close()
            raise
        return db

    def _open(self) -> sqlite3.Connection:
        try:
            return self._migrated(self._connect())
        except (sqlite3.OperationalError, OSError) as exc:
            # cannot open or write (permissions, disk): not the file's fault, so it is kept
            raise StateUnavailable(f"state store {self.path} cannot be opened: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            self._set_aside(exc)
            return self._connect()

    def _migrated(self, db: sqlite3.Connection) -> sqlite3.Connection:
        try:
            migrate(db, self.rows)
        except BaseException:
            db.close()
            raise
        return db

    def heal(self, error: BaseException) -> bool:
        """After ``error`` from an operation: when it (or its cause) says the file is corrupt, move the
        file aside so the next operation starts a fresh store. Returns whether it did."""
        seen: BaseException | None = error
        while seen is not None and not _is_corruption(seen):
            seen = seen.__cause__ or seen.__context__
        if seen is None:
            return False
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
            self._set_aside(seen)
        return True

    def _set_aside(self, error: BaseException) -> None:
        aside = self._move_aside()
        log.error(
            "STATE STORE CORRUPT: %s is not a sound SQLite database (%s); moved it to %s and started a"
            " fresh store. Counters start again from zero, and batches still in the watched folders are"
            " read again (archive_path keeps processed ones out of them).",
            self.path,
            error,
            aside,
        )
        self.resets += 1

    def _move_aside(self) -> Path:
        stamp = int(self.clock())
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        attempt = 1
        while aside.exists():
            attempt += 1
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{attempt}")
        for suffix in ("", "-wal", "-shm"):
            source = Path(str(self.path) + suffix)
            if source.exists():
                os.replace(source, Path(str(aside) + suffix))
        self.rows.clear()  # the fresh ledger names none of the rows kept so far
        return aside

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction, atomic whatever happens; ``durable``: on the disk when it returns.

        A transaction that is not ``durable`` is committed to the write-ahead log without waiting for
        the disk: a killed process loses nothing (the log is written), a power cut may lose it and
        nothing before it; the next durable commit carries it to the disk with its own.
        """
        with self._lock:
            db = self._db
            if not durable:
                db.execute("PRAGMA synchronous=NORMAL")
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            finally:
                if not durable:
                    db.execute("PRAGMA synchronous=FULL")

    # --- batches ---------------------------------------------------------------------------
    def seen_batches(self, model: str) -> set[str]:
        with self._lock:
            rows = self._db.execute("SELECT key FROM batches WHERE model = ?", (model,)).fetchall()
        return {key for (key,) in rows}

    def last_batch(self, model: str) -> str | None:
        """The key of the batch recorded most recently, whatever its status."""
        with self._lock:
            row = self._db.execute(
                "SELECT key FROM batches WHERE model = ? ORDER BY seq DESC LIMIT 1", (model,)
            ).fetchone()
        return row[0] if row else None

    def record_batch(
        self,
        model: str,
        key: str,
        *,
        status: str,
        rows: int,
        processed_at: float,
        counters: Mapping[CounterKey, float],
        reason: str | None = None,
        stored_rows: bool = False,
    ) -> bool:
        """Mark a batch processed and add its counter increments, atomically.

        ``stored_rows``: its rows were written to the row store first (``RowStore.write_batch``); the
        mark makes them count, and the labels already waiting for them are counted received. Returns
        False, writing nothing, when the batch is already recorded (another process got there first).
        """
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM batches WHERE model = ? AND key = ?", (model, key)).fetchone():
                return False
            early = self.rows.early_labels(model, key) if stored_rows else 0
            (seq,) = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM batches WHERE model = ?", (model,)).fetchone()
            db.execute(
                "INSERT INTO batches (model, key, status, reason, rows, processed_at, seq)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (model, key, status, reason, rows, processed_at, seq),
            )
            self._add_counters(db, model, counters)
            if early > 0:
                self._add_counters(db, model, {counter_key("mlmon_labels_received"): float(early)})
        return True

    def recent_batches(self, model: str, limit: int | None = None, since: float | None = None) -> list[StoredBatch]:
        """Successfully scored batches, newest first; at most ``limit``, processed at or after ``since``."""
        query = "SELECT key, rows, processed_at, seq FROM batches WHERE model = ? AND status = 'ok'"
        params: tuple[object, ...] = (model,)
        if since is not None:
            query += " AND processed_at >= ?"
            params += (since,)
        query += " ORDER BY seq DESC"
        if limit is not None:
            query += " LIMIT ?"
            params += (limit,)
        with self._lock:
            return [StoredBatch(*row) for row in self._db.execute(query, params).fetchall()]

    # --- counters --------------------------------------------------------------------------
    @staticmethod
    def _add_counters(db: sqlite3.Connection, model: str, counters: Mapping[CounterKey, float]) -> None:
        db.executemany(
            "INSERT INTO counters (model, name, labels, value) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (model, name, labels) DO UPDATE SET value = value + excluded.value",
            (
                (model, name, json.dumps(dict(labels), sort_keys=True), value)
                for (name, labels), value in counters.items()
            ),
        )

    def add_counters(self, model: str, counters: Mapping[CounterKey, float], *, durable: bool = True) -> None:
        """Counter increments that belong to no batch (a source that could not be read, rows read);
        ``durable`` as for ``transaction``."""
        if counters:
            with self.transaction(durable=durable) as db:
                self._add_counters(db, model, counters)

    def counters(self, model: str) -> dict[CounterKey, float]:
        with self._lock:
            rows = self._db.execute("SELECT name, labels, value FROM counters WHERE model = ?", (model,)).fetchall()
        return {counter_key(name, json.loads(labels)): value for name, labels, value in rows}

    # --- the ledger the row store reads -------------------------------------------------------
    def scored_batches(self, model: str) -> list[tuple[str, int, float]]:
        """(key, seq, processed_at) of the batches scored, oldest first."""
        with self._lock:
            return self._db.execute(
                "SELECT key, seq, processed_at FROM batches WHERE model = ? AND status = 'ok' ORDER BY seq", (model,)
            ).fetchall()

    def label_marks(self, model: str) -> list[tuple[str, float]]:
        """(key, processed_at) of the label files and label deliveries applied, in the order recorded."""
        with self._lock:
            return self._db.execute(
                "SELECT key, processed_at FROM label_files WHERE model = ? AND status = 'ok' ORDER BY rowid", (model,)
            ).fetchall()

    # --- predictions and late labels ---------------------------------------------------------
    def known_row_ids(self, model: str, row_ids: Iterable[str]) -> dict[str, bool]:
        """Which of ``row_ids`` were scored before, each with whether its label has arrived."""
        return self.rows.known(model, list(row_ids))

    def seen_label_files(self, model: str) -> set[str]:
        with self._lock:
            rows = self._db.execute("SELECT key FROM label_files WHERE model = ?", (model,)).fetchall()
        return {key for (key,) in rows}

    def has_batch(self, model: str, key_prefix: str) -> bool:
        """Whether a batch whose key starts with ``key_prefix`` was scored."""
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM batches WHERE model = ? AND status = 'ok' AND substr(key, 1, ?) = ? LIMIT 1",
                (model, len(key_prefix), key_prefix),
            ).fetchone()
        return row is not None

    def forget_batches(self, model: str, key_prefix: str) -> int:
        """Forget the batches and label files whose key starts with ``key_prefix`` (their stored rows
        and labels no longer count), so the next run reads them again; their counts stay. Returns how
        many marks went."""
        match, args = "substr(key, 1, ?) = ?", (len(key_prefix), key_prefix)
        with self.transaction() as db:
            forgotten = db.execute(f"DELETE FROM batches WHERE model = ? AND {match}", (model, *args)).rowcount
            forgotten += db.execute(f"DELETE FROM label_files WHERE model = ? AND {match}", (model, *args)).rowcount
        return forgotten

    def last_label_file(self, model: str) -> str | None:
        """The key of the label file recorded most recently."""
        with self._lock:
            row = self._db.execute(
                "SELECT key FROM label_files WHERE model = ? ORDER BY rowid DESC LIMIT 1", (model,)
            ).fetchone()
        return row[0] if row else None

    def apply_labels(
        self,
        model: str,
        key: str,
        *,
        status: str,
        received_at: float,
        counters: Mapping[CounterKey, float],
        stored_labels: bool = False,
    ) -> int:
        """Mark one label file (or a batch's label deliveries) processed and count, atomically.

        ``stored_labels``: its labels were appended to the row store's log first
        (``RowStore.write_labels``); the mark makes them count. Returns how many stored predictions
        received their label now: a label is applied once, the first for a row wins, and labels whose
        prediction is not stored yet are applied (and counted) when it is. A mark recorded already (by
        another process) writes and counts nothing.
        """
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM label_files WHERE model = ? AND key = ?", (model, key)).fetchone():
                return 0
            applied = self.rows.newly_labelled(model, key) if stored_labels else 0
            db.execute(
                "INSERT INTO label_files (model, key, status, processed_at) VALUES (?, ?, ?, ?)",
                (model, key, status, received_at),
            )
            increments = dict(counters)
            if applied:
                received = counter_key("mlmon_labels_received")
                increments[received] = increments.get(received, 0.0) + applied
            self._add_counters(db, model, increments)
        return applied

    def prune(self, model: str, older_than: float) -> int:
        """Delete stored predictions scored, and waiting labels received, before ``older_than``.

        Runs of the history older than that go too. Batch marks and counters stay: a batch file still
        in its folder must never be scored again. Returns how many predictions were deleted.
        """
        with self.transaction() as db:
            db.execute("DELETE FROM runs WHERE model = ? AND run_at < ?", (model, older_than))
        return self.rows.prune(model, older_than)

    def pending_labels(self, model: str) -> int:
        """Labels kept until a prediction with their id is scored."""
        return self.rows.pending(model)

    # --- run history ----------------------------------------------------------------------------
    def record_run(self, run: StoredRun) -> None:
        """Keep one run in the history; a second run of a model at the same instant replaces the first.

        Its figures are published already, so the run does not wait for the disk: the row is durable
        once the next batch is recorded (``transaction``), and only a power cut before then loses it.
        """
        with self.transaction(durable=False) as db:
            db.execute(
                "INSERT OR REPLACE INTO runs (model, run_at, name, version, window_start, window_end, window_rows,"
                " scored_rows, labelled_rows, correct_rows, samples) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run.model,
                    run.run_at,
                    run.name,
                    run.version,
                    run.window_start,
                    run.window_end,
                    run.window_rows,
                    run.scored_rows,
                    run.labelled_rows,
                    run.correct_rows,
                    _pack(run.samples),
                ),
            )

    def runs(self, name: str | None = None, since: float | None = None, until: float | None = None) -> list[StoredRun]:
        """Runs of the history, oldest first: of one model name (every version) or all, within [since, until]."""
        query = (
            "SELECT name, version, run_at, window_start, window_end, window_rows, scored_rows, labelled_rows,"
            " correct_rows, samples FROM runs WHERE 1 = 1"
        )
        params: tuple[object, ...] = ()
        for clause, value in (("name = ?", name), ("run_at >= ?", since), ("run_at <= ?", until)):
            if value is not None:
                query += f" AND {clause}"
                params += (value,)
        query += " ORDER BY run_at, name, version"
        with self._lock:
            rows = self._db.execute(query, params).fetchall()
        return [StoredRun(*row[:9], _unpack(row[9])) for row in rows]

    # --- reference profiles ------------------------------------------------------------------
    # A profile is stored once however many models use it (``reference_documents``, keyed by the
    # digest of its document), and each of its arrays once however many profiles hold it
    # (``reference_arrays``, keyed by the array's digest). A profile no model uses any more goes in
    # the transaction that stops its last use, and with it every array no other profile holds.
    def reference(self, model: str) -> StoredReference | None:
        """The fingerprint and key of the profile ``model`` uses."""
        with self._lock:
            row = self._db.execute(
                "SELECT d.fingerprint, d.profile FROM reference_models m"
                " JOIN reference_documents d ON d.profile = m.profile WHERE m.model = ?",
                (model,),
            ).fetchone()
        return StoredReference(*row) if row else None

    def reference_with_fingerprint(self, fingerprint: str) -> str | None:
        """The key of a stored profile fitted under ``fingerprint`` (by any model), if there is one."""
        with self._lock:
            row = self._db.execute(
                "SELECT profile FROM reference_documents WHERE fingerprint = ? LIMIT 1", (fingerprint,)
            ).fetchone()
        return row[0] if row else None

    def reference_profile(self, profile: str, skip: Collection[str] = ()) -> tuple[str, dict[str, bytes]] | None:
        """The document of a stored profile and the bytes of its arrays but those in ``skip`` (held
        already), read in one transaction so a concurrent change cannot split them."""
        with self._lock:
            db = self._db
            db.execute("BEGIN")
            try:
                row = db.execute("SELECT document FROM reference_documents WHERE profile = ?", (profile,)).fetchone()
                wanted = db.execute("SELECT digest FROM reference_parts WHERE profile = ?", (profile,)).fetchall()
                arrays = {}
                for (digest,) in wanted:
                    if digest not in skip:
                        (data,) = db.execute("SELECT data FROM reference_arrays WHERE digest = ?", (digest,)).fetchone()
                        arrays[digest] = data
            finally:
                db.execute("COMMIT")
        return (row[0], arrays) if row else None

    def save_reference(
        self, model: str, profile: str, fingerprint: str, document: str, arrays: Mapping[str, bytes | memoryview]
    ) -> None:
        """Store a profile with every array it holds (by digest) and make it the one ``model`` uses.

        An array stored already (for another profile) is not written again.
        """
        with self.transaction() as db:
            for digest, data in arrays.items():
                if not db.execute("SELECT 1 FROM reference_arrays WHERE digest = ?", (digest,)).fetchone():
                    db.execute("INSERT INTO reference_arrays (digest, data) VALUES (?, ?)", (digest, data))
            db.execute(
                "INSERT OR IGNORE INTO reference_documents (profile, fingerprint, document) VALUES (?, ?, ?)",
                (profile, fingerprint, document),
            )
            db.executemany(
                "INSERT OR IGNORE INTO reference_parts (profile, digest) VALUES (?, ?)",
                ((profile, digest) for digest in arrays),
            )
            self._use_reference(db, model, profile)

    def use_reference(self, model: str, profile: str) -> bool:
        """Make the stored ``profile`` the one ``model`` uses; False when it is not stored (any more)."""
        with self.transaction() as db:
            if not db.execute("SELECT 1 FROM reference_documents WHERE profile = ?", (profile,)).fetchone():
                return False
            self._use_reference(db, model, profile)
        return True

    def forget_reference(self, model: str) -> None:
        """``model`` uses no profile any more (its own format-1 copy included)."""
        with self.transaction() as db:
            db.execute("DELETE FROM reference_models WHERE model = ?", (model,))
            db.execute("DELETE FROM reference_profiles WHERE model = ?", (model,))
            self._drop_unused_references(db)

    def reference_models(self) -> list[str]:
        """Every model with a stored profile (its own format-1 copy included), sorted."""
        with self._lock:
            rows = self._db.execute(
                "SELECT model FROM reference_models UNION SELECT model FROM reference_profiles ORDER BY 1"
            ).fetchall()
        return [model for (model,) in rows]

    def reference_bytes(self) -> int:
        """Bytes of stored profile data: every array once, every document, every format-1 copy."""
        with self._lock:
            (size,) = self._db.execute(
                "SELECT (SELECT COALESCE(SUM(LENGTH(data)), 0) FROM reference_arrays)"
                " + (SELECT COALESCE(SUM(LENGTH(document)), 0) FROM reference_documents)"
                " + (SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM reference_profiles)"
            ).fetchone()
        return int(size)

    def vacuum(self) -> None:
        """Rewrite the state file without its free pages, so the disk gets back what deletions freed."""
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.execute("VACUUM")

    @classmethod
    def _use_reference(cls, db: sqlite3.Connection, model: str, profile: str) -> None:
        db.execute("INSERT OR REPLACE INTO reference_models (model, profile) VALUES (?, ?)", (model, profile))
        db.execute("DELETE FROM reference_profiles WHERE model = ?", (model,))
        cls._drop_unused_references(db)

    @staticmethod
    def _drop_unused_references(db: sqlite3.Connection) -> None:
        db.execute("DELETE FROM reference_documents WHERE profile NOT IN (SELECT profile FROM reference_models)")
        db.execute("DELETE FROM reference_parts WHERE profile NOT IN (SELECT profile FROM reference_documents)")
        db.execute("DELETE FROM reference_arrays WHERE digest NOT IN (SELECT digest FROM reference_parts)")

    def legacy_reference(self, model: str) -> tuple[str, bytes] | None:
        """The fingerprint and format-1 blob ``model`` kept its own profile in before, if still there."""
        with self._lock:
            row = self._db.execute(
                "SELECT fingerprint, payload FROM reference_profiles WHERE model = ?", (model,)
            ).fetchone()
        return (row[0], bytes(row[1])) if row else None
