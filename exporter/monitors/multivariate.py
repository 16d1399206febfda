"""Multivariate drift: how badly a PCA of the reference reconstructs the window (as NannyML does).

Fitting standardises the numeric reference features (reference mean and standard deviation; missing
values imputed with the reference mean; constant or empty columns dropped) and keeps the fewest
principal components explaining ``explained_variance`` of the variance. The score is the mean
Euclidean distance between a standardised row and its reconstruction from those components. A change
in how features move together raises it even when every feature keeps its own distribution.

The band comes from the reference itself: the PCA is fitted on all reference rows and the error is
then computed on consecutive chunks of ``chunk_rows`` of those same rows; the upper bound is the
mean chunk error plus ``band_sigmas`` sample standard deviations. Without two full chunks there is
no band, so only the score is published. The band suits windows of about ``chunk_rows`` rows: the
error of a much smaller window varies more than the chunks did.

Models whose reference has fewer than two usable numeric features get no figures.

A window is scored in chunks of ``CHUNK_ROWS`` rows, so its working memory stays a few megabytes
whatever its size, and no full-size copy of the window's features is made: float columns are read
in place and copied once into one reused chunk buffer, standardised there, and every row's distance
to its projection is the length of its coordinates along the directions the components leave out
(``left_out``): one product with a few directions instead of rebuilding every row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from exporter.figures import Figure
from exporter.monitors.registry import Fitted, Monitor, Output, register
from exporter.reference.building import REFERENCE_ROWS, as_numbers
from exporter.window import Window

# rows scored at once: about 16 MB of float64 working memory at 30 features
CHUNK_ROWS = 65_536

if TYPE_CHECKING:
    from exporter.config import ModelConfig
    from exporter.reference.profile import ReferenceProfile


@register
class MultivariateDrift(Monitor):
    name = "multivariate_drift"

    def applies(self, model: ModelConfig) -> bool:
        return model.drift.enabled and model.drift.multivariate.enabled

    def fit(self, reference: ReferenceProfile, model: ModelConfig) -> Fitted:
        rows = reference.fitted.get(REFERENCE_ROWS)
        if rows is None:
            return {}
        matrix = rows["matrix"]
        present = ~np.all(np.isnan(matrix), axis=0)
        varying = np.zeros(matrix.shape[1], dtype=bool)
        varying[present] = np.nanmax(matrix[:, present], axis=0) > np.nanmin(matrix[:, present], axis=0)
        if np.count_nonzero(varying) < 2:
            return {}
        matrix = matrix[:, varying]
        mean, std = np.nanmean(matrix, axis=0), np.nanstd(matrix, axis=0)
        standardised = _standardise(matrix, mean, std)
        _, singular, directions = np.linalg.svd(standardised, full_matrices=False)
        explained = np.cumsum(singular**2) / np.sum(singular**2)
        wanted = int(np.searchsorted(explained, model.drift.multivariate.explained_variance)) + 1
        # at least one direction is left out: with every component kept, any row is rebuilt exactly
        # and the error is rounding noise, so the band would flag nothing but that noise
        components = directions[: min(wanted, directions.shape[0] - 1)]
        fitted: Fitted = {"columns": rows["columns"][varying], "mean": mean, "std": std, "components": components}
        chunk = model.drift.multivariate.chunk_rows
        errors = [
            reconstruction_error(standardised[start : start + chunk], components)
            for start in range(0, standardised.shape[0] - chunk + 1, chunk)
        ]
        if len(errors) >= 2:
            upper = np.mean(errors) + model.drift.multivariate.band_sigmas * np.std(errors, ddof=1)
            fitted["upper"] = np.array([upper])
        return fitted

    def calculate(
        self, window: Window, reference: ReferenceProfile | None, fitted: Fitted, model: ModelConfig
    ) -> Output:
        rows = len(window.features)
        if reference is None or "components" not in fitted or rows == 0:
            return []
        return multivariate_figures(error_sum(window.features, fitted) / rows, fitted)


def error_sum(features: pd.DataFrame, fitted: Fitted) -> float:
    """The sum over the rows of ``features`` of their reconstruction error (the score is its mean)."""
    rows = len(features)
    mean, std, directions = fitted["mean"], fitted["std"], left_out(fitted["components"])
    columns = [_column(features, name) for name in fitted["columns"]]
    # one chunk's buffers, reused: each column is standardised straight into its place
    chunk = np.empty((min(CHUNK_ROWS, rows), len(columns)), order="F")
    total = 0.0
    for start in range(0, rows, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, rows)
        standardised = chunk[: stop - start]
        for index, column in enumerate(columns):
            _standardise_column(
                None if column is None else column[start:stop], mean[index], std[index], standardised[:, index]
            )
        total += _error_sum(standardised, directions)
    return total


def multivariate_figures(score: float, fitted: Fitted) -> Output:
    """The score, and with the reference's band, whether it is past the band's upper bound."""
    figures: Output = [Figure("mlmon_multivariate_drift_score", score)]
    if "upper" in fitted:
        upper = float(fitted["upper"][0])
        figures.append(Figure("mlmon_multivariate_drift_detected", float(score > upper)))
        figures.append(Figure("mlmon_threshold", upper, {"metric": "multivariate_drift"}))
    return figures


def reconstruction_error(standardised: np.ndarray, components: np.ndarray) -> float:
    """Mean Euclidean distance between the rows and their projection onto the components."""
    return _error_sum(standardised, left_out(components)) / standardised.shape[0]


def left_out(components: np.ndarray) -> np.ndarray:
    """Orthonormal directions completing the (orthonormal) components to the whole space.

    A row minus its projection onto the components is its part along these directions, so its
    distance to the projection is the length of its coordinates along them: one product with the
    few left-out directions instead of rebuilding the row and subtracting (equal up to rounding).
    """
    _, _, directions = np.linalg.svd(components, full_matrices=True)
    return directions[components.shape[0] :]


def _error_sum(standardised: np.ndarray, left_out_directions: np.ndarray) -> float:
    residual = standardised @ left_out_directions.T
    return float(np.sum(np.sqrt(np.einsum("ij,ij->i", residual, residual))))


def _standardise(matrix: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    # A missing value is imputed with the reference mean, which is 0 once standardised.
    return np.nan_to_num((matrix - mean) / std, nan=0.0)


def _standardise_column(values: np.ndarray | None, mean: float, std: float, out: np.ndarray) -> None:
    """``_standardise`` of one column (None: the window lacks it) into ``out``, in one pass while the
    column is in the processor's cache: a value that is not a finite number is missing (0 once
    standardised); the rare finite value too large to standardise is clipped as ``nan_to_num`` does."""
    if values is None:
        out[:] = 0.0
        return
    np.subtract(values, mean, out=out)
    out /= std
    if not np.isfinite(out).all():
        out[~np.isfinite(values)] = 0.0
        np.nan_to_num(out, copy=False, nan=0.0)


def _column(features: pd.DataFrame, name: str) -> np.ndarray | None:
    """A feature column as float64 with NaN for anything but a finite number (infinities are left
    for ``_standardise_column``); a float column is read in place; None when the window lacks it."""
    if name not in features.columns:
        return None
    series = features[name]
    if series.dtype == np.float64:
        return series.to_numpy(copy=False)
    return as_numbers(series)
