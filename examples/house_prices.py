"""Example data and models for the README: synthetic house prices, California style.

    python examples/house_prices.py [--out DIR]

Writes to DIR (default: the current directory):

- ``train.csv``: 2,000 rows of the eight California-housing features
  (MedInc, HouseAge, AveRooms, AveBedrms, Population, AveOccup, Latitude,
  Longitude) and the target ``price`` (in $100,000s);
- ``rows.csv``: five rows to predict (features only, with a header);
- ``scoring.csv``: 1,000 rows with an ``id`` column, for batch prediction;
- ``model.joblib``: a scaled ridge regression (the "v1" of the README);
- ``model2.joblib``: a random forest (the "v2" canary).

The data is generated, not downloaded (no network needed), with the same
columns and ranges as scikit-learn's ``fetch_california_housing``, so the
README's example instance ``[8.3, 41.0, 6.9, 1.0, 322.0, 2.5, 37.9, -122.2]``
(that data set's first row) is a plausible input.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

FEATURES = ["MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup", "Latitude", "Longitude"]


def house_prices(rows: int, *, seed: int = 0) -> pd.DataFrame:
    """``rows`` synthetic districts: the eight features and ``price``."""
    rng = np.random.default_rng(seed)
    income = rng.gamma(4.0, 1.0, rows).clip(0.5, 15.0)
    frame = pd.DataFrame({
        "MedInc": income.round(4),
        "HouseAge": rng.integers(1, 53, rows).astype(float),
        "AveRooms": (4.0 + 0.4 * income + rng.normal(0, 1.0, rows)).clip(1.0, 20.0).round(3),
        "AveBedrms": rng.normal(1.05, 0.1, rows).clip(0.5, 3.0).round(3),
        "Population": rng.lognormal(7.0, 0.7, rows).round(0),
        "AveOccup": rng.normal(2.9, 0.6, rows).clip(1.0, 8.0).round(3),
        "Latitude": rng.uniform(32.5, 42.0, rows).round(2),
        "Longitude": rng.uniform(-124.3, -114.3, rows).round(2),
    })
    coastal = (frame["Longitude"] < -121.5).astype(float)
    price = (0.45 * frame["MedInc"] + 0.006 * frame["HouseAge"] + 0.6 * coastal
             - 0.05 * frame["AveOccup"] + rng.normal(0, 0.3, rows))
    frame["price"] = price.clip(0.15, 5.0).round(3)
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("."), help="Directory to write to.")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)

    train = house_prices(2_000, seed=0)
    train.to_csv(out / "train.csv", index=False)
    house_prices(5, seed=1)[FEATURES].to_csv(out / "rows.csv", index=False)
    scoring = house_prices(1_000, seed=2)[FEATURES]
    scoring.insert(0, "id", [f"district-{i:04d}" for i in range(len(scoring))])
    scoring.to_csv(out / "scoring.csv", index=False)

    X, y = train[FEATURES], train["price"]
    joblib.dump(make_pipeline(StandardScaler(), Ridge()).fit(X, y), out / "model.joblib")
    forest = RandomForestRegressor(n_estimators=30, max_depth=8, random_state=0, n_jobs=1)
    joblib.dump(make_pipeline(StandardScaler(), forest).fit(X, y), out / "model2.joblib")
    written = ", ".join(name for name in ("train.csv", "rows.csv", "scoring.csv", "model.joblib", "model2.joblib"))
    print(f"wrote {written} to {out.resolve()}")


if __name__ == "__main__":
    main()
