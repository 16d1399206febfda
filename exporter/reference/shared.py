"""Reference profiles held once per process, however many models use them.

The state store keeps each profile once by its content key and each array once by its digest (see
``storage``); this keeps them once in memory the same way. A profile is held under its key and each
of its arrays under its digest, by weak reference: while any model holds a profile, every model
loading the same key gets that very object, and one loading another profile that holds an equal
array (the same reference's feature values, fitted for another model file) gets that very array.
Once no model holds them they are freed, and the next load reads them from the store again.

Held profiles and arrays are read-only (arrays loaded are views on the bytes read; arrays just
fitted are held as read-only views): a model that wrote into one would change it for every other.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np

from exporter.reference.format1 import profile_from_npz
from exporter.reference.profile import ReferenceProfile
from exporter.reference.storage import ArrayRef, array_from_bytes, build_array, decode, encode, raw_bytes, ref_key
from exporter.state import StateStore


class SharedProfiles:
    def __init__(self) -> None:
        # one lock for loads and saves: two models asking for the same profile at once read it once
        self._lock = threading.RLock()
        self._profiles: weakref.WeakValueDictionary[str, ReferenceProfile] = weakref.WeakValueDictionary()
        self._arrays: weakref.WeakValueDictionary[str, np.ndarray] = weakref.WeakValueDictionary()
        self._fits: dict[str, tuple[threading.Lock, int]] = {}  # fingerprint -> its lock, and how many wait

    @contextmanager
    def fitting(self, fingerprint: str) -> Iterator[None]:
        """Held while a model looks up or fits the profile of ``fingerprint``: models starting together
        on one reference (a first start, a new reference) wait for the first one's fit and then load
        it, instead of each fitting it at once, with a copy of the reference each."""
        with self._lock:
            lock, users = self._fits.get(fingerprint, (threading.Lock(), 0))
            self._fits[fingerprint] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._lock:
                lock, users = self._fits.pop(fingerprint)
                if users > 1:
                    self._fits[fingerprint] = (lock, users - 1)

    def held(self) -> tuple[int, int]:
        """How many profiles and arrays are held now."""
        with self._lock:
            return len(self._profiles), len(self._arrays)

    def load(self, state: StateStore, model: str, fingerprint: str) -> ReferenceProfile | None:
        """The stored profile fitted under ``fingerprint`` for ``model``, or None when there is none.

        Looked up as the model's own profile, then as a profile another model stored under the same
        fingerprint (the same reference, model file and settings: it is used, not fitted again),
        then as the model's format-1 copy, which is moved to the shared tables on the way.
        """
        with self._lock:
            stored = state.reference(model)
            if stored is not None and stored.fingerprint == fingerprint:
                profile = self._read(state, stored.profile)
                if profile is not None:
                    return profile
            key = state.reference_with_fingerprint(fingerprint)
            if key is not None and state.use_reference(model, key):
                profile = self._read(state, key)
                if profile is not None:
                    return profile
            legacy = state.legacy_reference(model)
            if legacy is not None and legacy[0] == fingerprint:
                return self.save(state, model, profile_from_npz(legacy[1]))
            return None

    def save(self, state: StateStore, model: str, profile: ReferenceProfile) -> ReferenceProfile:
        """Store ``profile`` as the one ``model`` uses; returns the held copy to use from now on."""
        encoded = encode(profile)
        arrays = {digest: raw_bytes(array) for digest, array in encoded.arrays.items()}
        with self._lock:
            state.save_reference(model, encoded.key, encoded.fingerprint, encoded.document, arrays)
            return self._profiles.get(encoded.key) or self._keep(encoded.key, encoded.document, encoded.arrays)

    def _read(self, state: StateStore, key: str) -> ReferenceProfile | None:
        held = self._profiles.get(key)
        if held is not None:
            return held
        arrays: dict[str, np.ndarray | bytes] = dict(self._arrays.items())  # strong while reading
        read = state.reference_profile(key, skip=arrays.keys())
        if read is None:
            return None
        document, stored = read
        arrays.update(stored)
        return self._keep(key, document, arrays)

    def _keep(self, key: str, document: str, arrays: Mapping[str, np.ndarray | bytes]) -> ReferenceProfile:
        def part(ref: list[Any]) -> np.ndarray:
            value = arrays[ref[0]]
            # an array just fitted may be the model's own (its classes): a read-only view of it is
            # held, its owner's flags stay as they are
            return value.view() if isinstance(value, np.ndarray) else array_from_bytes(value, ref)

        def array(ref: ArrayRef) -> np.ndarray:
            name = ref_key(ref)
            held = self._arrays.get(name)
            if held is None:
                held = build_array(ref, part)
                held.flags.writeable = False
                self._arrays[name] = held
            return held

        profile = decode(document, array)
        self._profiles[key] = profile
        return profile


# The process's one cache; a model job uses it unless given another.
PROFILES = SharedProfiles()
