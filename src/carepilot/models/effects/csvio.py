"""CSV input for effect models: columns, covariate encoding, and clear errors for bad files.

Every column other than the treatment and outcome is a covariate unless a list is given. Numeric columns are
median-imputed; text columns are categorical (a "missing" level, one-hot without the first level, unseen
levels encoded like the first). The encoder is a scikit-learn ``ColumnTransformer`` kept with the model so
prediction files get the same columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from carepilot.errors import InputError, UnreadableInputError


class CsvColumnError(InputError):
    """A named column is missing from a CSV file, or holds values of the wrong kind."""


@dataclass
class EffectTable:
    """Rows ready for an effect model: encoded covariates, option labels and outcomes."""

    X: pd.DataFrame
    t: np.ndarray
    y: np.ndarray
    covariates: list[str]
    dropped_rows: int
    encoder: ColumnTransformer


def read_csv(path: Path) -> pd.DataFrame:
    """Read a CSV file, or raise UnreadableInputError naming the file."""
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError as exc:
        raise UnreadableInputError(f"{path}: file not found") from exc
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise UnreadableInputError(f"{path}: cannot be read as CSV ({exc})") from exc
    if frame.empty:
        raise UnreadableInputError(f"{path}: has no data rows")
    return frame


def require_columns(frame: pd.DataFrame, columns: Sequence[str], where: str) -> None:
    """Raise CsvColumnError listing every requested column that the file lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise CsvColumnError(
            f"{where}: missing column(s) {', '.join(missing)}; the file has {', '.join(map(str, frame.columns))}"
        )


def make_encoder(frame: pd.DataFrame, covariates: Sequence[str]) -> ColumnTransformer:
    """Median-impute numeric columns; impute and one-hot encode text columns."""
    numeric = [c for c in covariates if pd.api.types.is_numeric_dtype(frame[c])]
    text = [c for c in covariates if c not in numeric]
    transformers = []
    if numeric:
        # keep_empty_features: a column empty in this file still yields a column, so shapes stay fixed.
        transformers.append(("num", SimpleImputer(strategy="median", keep_empty_features=True), numeric))
    if text:
        transformers.append(
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"),
                    # drop="first": a full set of levels is collinear with a linear stage's intercept.
                    OneHotEncoder(drop="first", handle_unknown="ignore", sparse_output=False),
                ),
                text,
            )
        )
    return ColumnTransformer(transformers, verbose_feature_names_out=False)


def load_effect_table(path: Path, treatment: str, outcome: str, covariates: Sequence[str] | None = None) -> EffectTable:
    """Read a CSV for fitting: check columns, types and arms; encode covariates."""
    frame = read_csv(path)
    require_columns(frame, [treatment, outcome], str(path))
    covs = list(covariates) if covariates else [c for c in frame.columns if c not in (treatment, outcome)]
    require_columns(frame, covs, str(path))
    if not covs:
        raise CsvColumnError(f"{path}: no covariate columns besides {treatment!r} and {outcome!r}")
    y_raw = frame[outcome]
    y_num = pd.to_numeric(y_raw, errors="coerce")
    bad = y_num.isna() & y_raw.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise CsvColumnError(
            f"{path}: outcome column {outcome!r} must be numeric; row {row + 2} holds {str(y_raw.iloc[row])[:30]!r}"
        )
    keep = y_num.notna() & frame[treatment].notna()
    dropped = int((~keep).sum())
    frame = frame.loc[keep].reset_index(drop=True)
    y = y_num.loc[keep].to_numpy(dtype=float)
    t = frame[treatment].astype(str).to_numpy()
    arms = sorted(set(t.tolist()))
    if len(arms) < 2:
        raise CsvColumnError(
            f"{path}: treatment column {treatment!r} has a single option {arms}; effects need two or more"
        )
    encoder = make_encoder(frame, covs)
    X = encode(encoder, frame, fit=True)
    return EffectTable(X=X, t=t, y=y, covariates=covs, dropped_rows=dropped, encoder=encoder)


def encode(encoder: ColumnTransformer, frame: pd.DataFrame, fit: bool = False) -> pd.DataFrame:
    """Apply (or fit and apply) the covariate encoder; returns a float DataFrame with named columns."""
    values = encoder.fit_transform(frame) if fit else encoder.transform(frame)
    return pd.DataFrame(np.asarray(values, dtype=float), columns=[str(c) for c in encoder.get_feature_names_out()])


def load_covariates(path: Path, covariates: Sequence[str], encoder: ColumnTransformer) -> pd.DataFrame:
    """Read a CSV for prediction with the encoder fitted at training time."""
    frame = read_csv(path)
    require_columns(frame, covariates, str(path))
    return encode(encoder, frame)
