"""Reference profiles stored once by content and held once in memory, however many models use them."""

from __future__ import annotations

import gc
import sqlite3
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LogisticRegression

from exporter.app import build_app
from exporter.config import load_config
from exporter.reference.building import REFERENCE_ROWS, build_profile
from exporter.reference.format1 import profile_from_npz, profile_to_npz
from exporter.reference.keeper import ReferenceKeeper
from exporter.reference.profile import ReferenceProfile
from exporter.reference.shared import SharedProfiles
from exporter.reference.storage import encode, profile_from_bytes, profile_to_bytes
from exporter.state import StateStore

from helpers import binary_data, dump_model, write_project

MODELS = 4


def _project(root: Path, models: int = MODELS, **per_model: list[dict[str, Any]]) -> Path:
    """``models`` models named m0, m1, ... on the one reference and model file of ``write_project``;
    ``per_model["overrides"][i]`` changes model i."""
    config = write_project(root)
    data = yaml.safe_load(config.read_text())
    base = data["models"][0]
    overrides = per_model.get("overrides", [{}] * models)
    data["models"] = [{**base, "name": f"m{i}", **overrides[i]} for i in range(models)]
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config


def _profiles(config: Path, shared: SharedProfiles | None) -> tuple[Any, list[ReferenceProfile]]:
    """Each model's profile as its job's run makes it current; ``shared`` replaces the process's cache."""
    app = build_app(load_config(config))
    for job in app.jobs:
        if shared is not None:
            job.reference = ReferenceKeeper(job.model, app.state, job.key, profiles=shared)
        job.reference.refresh(job.ensure_model())
    profiles = [job.profile for job in app.jobs]
    assert None not in profiles
    return app, profiles


def _on_disk(state_path: Path) -> int:
    return sum(p.stat().st_size for p in (state_path, Path(f"{state_path}-wal")) if p.exists())


def _stored(state_path: Path) -> dict[str, int]:
    with sqlite3.connect(state_path) as db:
        return {
            "models": db.execute("SELECT COUNT(*) FROM reference_models").fetchone()[0],
            "profiles": db.execute("SELECT COUNT(*) FROM reference_documents").fetchone()[0],
            "arrays": db.execute("SELECT COUNT(*) FROM reference_arrays").fetchone()[0],
            "bytes": db.execute("SELECT COALESCE(SUM(LENGTH(data)), 0) FROM reference_arrays").fetchone()[0],
            "legacy": db.execute("SELECT COUNT(*) FROM reference_profiles").fetchone()[0],
        }


def test_models_on_one_reference_hold_one_profile_object_and_store_it_once(tmp_path: Path) -> None:
    single = _project(tmp_path / "one", models=1)
    app, (alone,) = _profiles(single, SharedProfiles())
    app.state.close()
    one_model = _stored(tmp_path / "one" / "state" / "mlmon.db")

    shared = SharedProfiles()
    config = _project(tmp_path / "many")
    app, profiles = _profiles(config, shared)
    assert all(profile is profiles[0] for profile in profiles)
    assert shared.held() == (1, one_model["arrays"])
    app.state.close()
    stored = _stored(tmp_path / "many" / "state" / "mlmon.db")
    assert stored == {**one_model, "models": MODELS}
    # the same profile as the single model's, value for value
    for name, feature in alone.features.items():
        np.testing.assert_array_equal(profiles[0].features[name].values, feature.values)

    # a restart: the jobs as the app builds them, on the process's own cache, read it once
    app, again = _profiles(config, None)
    app.state.close()
    assert all(profile is again[0] for profile in again)


def test_models_with_their_own_model_files_share_the_reference_arrays(tmp_path: Path) -> None:
    config = _project(tmp_path, models=2)
    x, y = binary_data(400, seed=7)
    other = LogisticRegression(C=0.01, max_iter=1000).fit(x, y)
    data = yaml.safe_load(config.read_text())
    data["models"][1]["model_path"] = "other.joblib"
    data["models"][1]["model_sha256"] = dump_model(other, tmp_path / "other.joblib")
    config.write_text(yaml.safe_dump(data, sort_keys=False))

    shared = SharedProfiles()
    app, (first, second) = _profiles(config, shared)
    assert first is not second and first.fingerprint != second.fingerprint
    assert not np.array_equal(first.probabilities, second.probabilities)
    for name, feature in first.features.items():
        assert second.features[name].values is feature.values
    assert second.fitted["feature_drift"].keys() == first.fitted["feature_drift"].keys()
    for key, array in first.fitted["feature_drift"].items():
        assert second.fitted["feature_drift"][key] is array
    app.state.close()
    stored = _stored(tmp_path / "state" / "mlmon.db")
    feature_bytes = sum(f.values.nbytes for f in first.features.values())
    profile_bytes = sum(array.nbytes for array in encode(first).arrays.values())
    assert stored["profiles"] == 2
    # the second profile adds only what differs: its outputs and their fitted state
    assert stored["bytes"] < 2 * profile_bytes - feature_bytes


@pytest.mark.parametrize(
    "override",
    [{"estimation": False}, {"id_column": None}, {"drift": {"method": "psi"}}, {"categorical_features": ["f0"]}],
)
def test_models_whose_fit_differs_never_share_a_profile(tmp_path: Path, override: dict[str, Any]) -> None:
    config = _project(tmp_path, models=2, overrides=[{}, override])
    app, (first, second) = _profiles(config, SharedProfiles())
    app.state.close()
    assert first is not second and first.fingerprint != second.fingerprint
    assert _stored(tmp_path / "state" / "mlmon.db")["profiles"] == 2


def test_a_profile_no_model_uses_any_more_is_deleted_with_its_arrays(tmp_path: Path) -> None:
    config = _project(tmp_path, models=2)
    app, (old, _) = _profiles(config, SharedProfiles())
    app.state.close()
    before = _stored(tmp_path / "state" / "mlmon.db")
    old_digests = set(encode(old).arrays)

    reference = pd.read_parquet(tmp_path / "reference.parquet")
    reference.iloc[:300].to_parquet(tmp_path / "reference.parquet", index=False)
    # the first model moves to the new reference: the old profile stays, the second still uses it
    app = build_app(load_config(config))
    shared = SharedProfiles()
    first = app.jobs[0]
    first.reference = ReferenceKeeper(first.model, app.state, first.key, profiles=shared)
    new = first.reference.load_or_fit(first.ensure_model())
    assert new.fingerprint != old.fingerprint and new.rows == 300
    assert _stored(tmp_path / "state" / "mlmon.db")["profiles"] == 2
    # then the second: nothing uses the old profile, so it goes, and every array only it held
    second = app.jobs[1]
    second.reference = ReferenceKeeper(second.model, app.state, second.key, profiles=shared)
    assert second.reference.load_or_fit(second.ensure_model()) is new
    app.state.close()
    after = _stored(tmp_path / "state" / "mlmon.db")
    assert after["profiles"] == 1 and after["models"] == 2
    with sqlite3.connect(tmp_path / "state" / "mlmon.db") as db:
        digests = {digest for (digest,) in db.execute("SELECT digest FROM reference_arrays")}
    assert digests == set(encode(new).arrays)
    assert not digests & (old_digests - set(encode(new).arrays))
    assert after["bytes"] < before["bytes"]


def test_a_profile_is_freed_once_no_model_holds_it(tmp_path: Path) -> None:
    config = _project(tmp_path, models=2)
    shared = SharedProfiles()
    app, profiles = _profiles(config, shared)
    held = weakref.ref(profiles[0])
    arrays = shared.held()[1]
    assert shared.held() == (1, arrays) and arrays > 0
    del profiles
    app.jobs[0].reference.invalidate()
    gc.collect()
    assert held() is not None  # the second model still holds it
    app.jobs[1].reference.invalidate()
    gc.collect()
    assert held() is None and shared.held() == (0, 0)
    # the next load reads it from the store again, equal to what was held
    again = app.jobs[0].reference.load_or_fit(app.jobs[0].ensure_model())
    assert shared.held() == (1, arrays) and again.fingerprint == app.jobs[1].reference.fingerprint(
        app.jobs[1].ensure_model()
    )
    app.state.close()


def test_a_state_of_the_earlier_format_is_read_and_moved_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _project(tmp_path, models=2)
    app, (fitted, _) = _profiles(config, SharedProfiles())
    app.state.close()
    # the store as an earlier version left it: each model's own blob, none of the shared tables filled
    state_path = tmp_path / "state" / "mlmon.db"
    with sqlite3.connect(state_path) as db:
        for table in ("reference_models", "reference_documents", "reference_parts", "reference_arrays"):
            db.execute(f"DELETE FROM {table}")  # noqa: S608  (table names from the list above)
        for model in ("m0:1", "m1:1"):
            db.execute(
                "INSERT INTO reference_profiles (model, fingerprint, payload) VALUES (?, ?, ?)",
                (model, fitted.fingerprint, profile_to_npz(fitted)),
            )
    assert _stored(state_path)["legacy"] == 2
    assert profile_from_npz(profile_to_npz(fitted)).fitted.keys() == fitted.fitted.keys()

    app = build_app(load_config(config))
    shared = SharedProfiles()
    for job in app.jobs:
        job.reference = ReferenceKeeper(job.model, app.state, job.key, profiles=shared)
        monkeypatch.setattr(job.reference, "fit", lambda *a: pytest.fail("refitted a stored profile"))
    first, second = (job.reference.load_or_fit(job.ensure_model()) for job in app.jobs)
    app.state.close()
    assert first is second and first.fingerprint == fitted.fingerprint
    for name, feature in fitted.features.items():
        np.testing.assert_array_equal(first.features[name].values, feature.values)
    assert first.fitted.keys() == fitted.fitted.keys()
    stored = _stored(state_path)
    assert stored["legacy"] == 0 and stored["profiles"] == 1 and stored["models"] == 2


def test_float64_values_come_back_bit_for_bit_and_read_only() -> None:
    tricky = np.array([-0.0, 5e-324, np.nextafter(1.0, 2.0), 1e308, -np.inf, 0.1 + 0.2])
    profile = ReferenceProfile(
        fingerprint="f",
        rows=6,
        features={},
        predictions=tricky,
        labels=np.array(["é", "", "long label"]),
        fitted={"m": {"scalar": np.array(3), "grid": np.arange(6.0).reshape(2, 3).T, "text": np.array("ks")}},
    )
    restored = profile_from_bytes(profile_to_bytes(profile))
    assert restored.predictions.tobytes() == tricky.tobytes()
    assert restored.labels.tolist() == ["é", "", "long label"]
    assert int(restored.fitted["m"]["scalar"]) == 3 and str(restored.fitted["m"]["text"]) == "ks"
    np.testing.assert_array_equal(restored.fitted["m"]["grid"], np.arange(6.0).reshape(2, 3).T)
    with pytest.raises(ValueError, match="read-only"):
        restored.predictions[0] = 1.0


def test_the_stored_key_is_the_content() -> None:
    profile = ReferenceProfile(fingerprint="f", rows=1, features={}, predictions=np.array([1.0]))
    same = ReferenceProfile(fingerprint="f", rows=1, features={}, predictions=np.array([1.0]))
    other = ReferenceProfile(fingerprint="f", rows=1, features={}, predictions=np.array([1.0 + 1e-15]))
    assert encode(profile).key == encode(same).key != encode(other).key
    # the rows the multivariate fit reads are not part of the stored profile
    profile.fitted[REFERENCE_ROWS] = {"matrix": np.ones((1, 2))}
    assert encode(profile).key == encode(same).key


def test_a_state_store_reads_a_profile_and_its_arrays_in_one_piece(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "s.db")
    profile = ReferenceProfile(fingerprint="f", rows=2, features={}, predictions=np.array([1.0, 2.0]))
    shared = SharedProfiles()
    held = shared.save(state, "a:1", profile)
    assert state.reference("a:1") == ("f", encode(profile).key)
    assert shared.load(state, "b:1", "f") is held  # another model with the same fingerprint
    assert shared.load(state, "c:1", "g") is None
    state.forget_reference("a:1")
    assert state.reference("b:1") == ("f", encode(profile).key)
    state.forget_reference("b:1")
    assert state.reference_profile(encode(profile).key) is None
    state.close()


def test_text_of_few_distinct_values_is_stored_as_codes_and_comes_back_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    cities = np.array(["Oslo", "Lima", "Pune", "Reykjavík", "Ouagadougou"])
    frame = pd.DataFrame({"city": rng.choice(cities, 20_000), "age": rng.normal(40, 9, 20_000)})
    profile = build_profile(frame, [], fingerprint="f", labels=rng.choice(np.array(["yes", "no"]), 20_000))
    values = profile.features["city"].values
    assert values.dtype == np.dtype("<U11") and values.nbytes == 880_000

    encoded = encode(profile)
    stored = sum(array.nbytes for array in encoded.arrays.values())
    assert stored < 20_000 * 8 + 2 * 20_000 + 1_000  # the sorted ages, one byte a city and a label, the names
    restored = profile_from_bytes(profile_to_bytes(profile))
    back = restored.features["city"].values
    assert back.dtype == values.dtype and back.tolist() == values.tolist()
    assert restored.labels.tolist() == profile.labels.tolist() and restored.labels.dtype == profile.labels.dtype

    state = StateStore(tmp_path / "s.db")
    shared = SharedProfiles()
    first = shared.save(state, "a:1", profile)
    other = ReferenceProfile(fingerprint="g", rows=profile.rows, features=profile.features, labels=None)
    second = shared.save(state, "b:1", other)
    assert second.features["city"].values is first.features["city"].values
    with pytest.raises(ValueError, match="read-only"):
        first.features["city"].values[0] = "Bergen"
    state.close()


def test_models_starting_together_on_one_reference_fit_it_once(tmp_path: Path) -> None:
    config = _project(tmp_path)
    app = build_app(load_config(config))
    shared = SharedProfiles()
    fits: list[str] = []
    for job in app.jobs:
        job.reference = ReferenceKeeper(job.model, app.state, job.key, profiles=shared)
        fit = job.reference.fit

        def counted(loaded: Any, fingerprint: str, fit: Any = fit, key: str = job.key) -> ReferenceProfile:
            fits.append(key)
            time.sleep(0.3)  # long enough for every other model to ask meanwhile
            return fit(loaded, fingerprint)

        job.reference.fit = counted  # type: ignore[method-assign]
    loaded = [job.ensure_model() for job in app.jobs]
    with ThreadPoolExecutor(MODELS) as pool:
        profiles = list(pool.map(lambda pair: pair[0].reference.load_or_fit(pair[1]), zip(app.jobs, loaded)))
    app.state.close()
    assert len(fits) == 1 and all(profile is profiles[0] for profile in profiles)
    assert shared._fits == {}  # noqa: SLF001  (no lock left behind)


def test_reference_prune_drops_only_the_profiles_of_models_the_config_no_longer_has(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from exporter.cli import main

    # three models: a and b share one reference, c has a reference of its own
    config = write_project(tmp_path)
    data = yaml.safe_load(config.read_text())
    model = data["models"][0]
    own = pd.read_parquet(tmp_path / "reference.parquet").iloc[:300]
    own.to_parquet(tmp_path / "reference-c.parquet", index=False)
    data["models"] = [
        {**model, "name": "a"},
        {**model, "name": "b"},
        {**model, "name": "c", "reference_path": "reference-c.parquet"},
    ]
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    state_path = tmp_path / "state" / "mlmon.db"
    assert main(["reference", "prune", "--config", str(config)]) == 0
    assert "no state file" in capsys.readouterr().out and not state_path.exists()  # and none made
    assert main(["reference", "build", "--config", str(config)]) == 0
    with closing(StateStore(state_path)) as state:
        assert state.reference_models() == ["a:1", "b:1", "c:1"]
        kept = {key: state.reference(key) for key in ("a:1", "b:1")}
        everything = state.reference_bytes()

    # b and c leave the config: a dry run lists them and drops nothing
    data["models"] = [data["models"][0]]
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    capsys.readouterr()
    assert main(["reference", "prune", "--config", str(config), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "b:1: not in the config, would drop" in out and "c:1: not in the config, would drop" in out
    assert "a:1" not in out
    with closing(StateStore(state_path)) as state:
        assert state.reference_models() == ["a:1", "b:1", "c:1"]
        assert state.reference_bytes() == everything

    # pruning drops c's own profile, and b's use of the shared one, which a keeps
    on_disk_before = _on_disk(state_path)
    assert main(["reference", "prune", "--config", str(config), "--vacuum"]) == 0
    out = capsys.readouterr().out
    assert "b:1: not in the config, dropped" in out and "c:1: not in the config, dropped" in out
    with closing(StateStore(state_path)) as state:
        assert state.reference_models() == ["a:1"]
        assert state.reference("a:1") == kept["a:1"] == kept["b:1"]
        assert 0 < state.reference_bytes() < everything
    stored = _stored(state_path)
    assert stored["models"] == 1 and stored["profiles"] == 1 and stored["legacy"] == 0
    # the vacuum gave the disk back what the dropped profile held
    assert _on_disk(state_path) < on_disk_before
    # a's profile is still there to use: a run loads it and fits nothing
    app = build_app(load_config(config))
    try:
        assert app.jobs[0].reference.load_or_fit(app.jobs[0].ensure_model()).fingerprint == kept["a:1"][0]
    finally:
        app.state.close()

    # nothing left to prune
    assert main(["reference", "prune", "--config", str(config)]) == 0
    assert "nothing to prune" in capsys.readouterr().out
