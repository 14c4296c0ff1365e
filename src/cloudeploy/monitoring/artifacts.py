"""Monitoring's package-time artefacts, and finding them again at monitoring time.

``packaging.build`` calls :func:`write_artifacts` once, when the package is
built from training data (``baseline=X_train``): the files written go into the
manifest's ``files`` and so are covered by its digest, like the model. Today
that is the novelty detector (``novelty.npz``, :mod:`cloudeploy.monitoring.novelty`)
and, when the model object is at hand, the training attributions
(``attribution.json``, :mod:`cloudeploy.monitoring.attribution`).
A package built with a ready baseline dict, or without one, gets none; monitoring
then reports the outlier share as "not available" with the reason.

A failure to fit an artefact never fails the package: it is skipped with a
warning naming the reason (monitoring is an addition to serving, not a condition).
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudeploy.errors import PackageError
from cloudeploy.monitoring.attribution import ATTRIBUTION_FILE, baseline_attributions, load_record
from cloudeploy.monitoring.novelty import NOVELTY_FILE, NoveltyDetector, fit_novelty
from cloudeploy.packaging.load import load_package
from cloudeploy.packaging.manifest import sha256_file

if TYPE_CHECKING:
    from cloudeploy.packaging.schema import InputSchema

logger = logging.getLogger("cloudeploy.monitoring")


class ArtifactWarning(UserWarning):
    """A monitoring artefact could not be fitted at package time (the package is still built)."""


def _training_frame(data: Any, names: list[str]) -> Any:
    """``data`` as something :func:`column_chunks` reads by the schema's names."""
    columns = getattr(data, "columns", None)
    if columns is not None and not all(n in set(map(str, columns)) for n in names):
        return data.to_numpy()  # a model fitted on an array: the frame's header is not its features
    return data


def write_artifacts(
    staging: Path, data: Any, baseline: dict[str, Any] | None, schema: InputSchema, estimator: Any = None,
    *, graph: Any = None, graph_output: str | None = None,
) -> dict[str, str]:
    """Write the monitoring artefacts for training ``data`` into ``staging``; ``{file: sha256}``.

    The attributions explain ``estimator``, or, when there is none (an untrusted
    model file is never unpickled here), the package's compiled ``graph`` and its
    ``graph_output`` (see :func:`~cloudeploy.monitoring.attribution.baseline_attributions`).
    """
    if data is None or isinstance(data, dict) or not baseline:
        return {}
    written: dict[str, str] = {}
    try:
        detector = fit_novelty(_training_frame(data, schema.names), baseline, schema.names)
        detector.save(staging / NOVELTY_FILE)
        written[NOVELTY_FILE] = sha256_file(staging / NOVELTY_FILE)
    except Exception as error:  # noqa: BLE001 - an artefact never fails the package
        warnings.warn(f"no novelty detector in the package: {type(error).__name__}: {error}",
                      ArtifactWarning, stacklevel=3)
    if estimator is not None or (graph is not None and graph_output is not None):
        try:
            explained = estimator if estimator is not None else graph
            record = baseline_attributions(explained, _training_frame(data, schema.names), schema.names,
                                           graph_output=None if estimator is not None else graph_output)
            path = staging / ATTRIBUTION_FILE
            path.write_text(json.dumps(record, sort_keys=True, indent=1) + "\n")
            written[ATTRIBUTION_FILE] = sha256_file(path)
        except Exception as error:  # noqa: BLE001
            warnings.warn(f"no training attributions in the package: {type(error).__name__}: {error}",
                          ArtifactWarning, stacklevel=3)
    return written


def load_attribution(package_dir: str | Path, files: dict[str, str]) -> dict[str, Any] | None:
    """The package's training attribution record, digest-checked; None when it has none."""
    path = Path(package_dir) / ATTRIBUTION_FILE
    if ATTRIBUTION_FILE not in files or not path.is_file():
        return None
    if sha256_file(path) != files[ATTRIBUTION_FILE]:
        raise PackageError(f"{path} does not match the digest in the package manifest",
                           hint="the package was modified after it was built; rebuild it")
    return load_record(path)


def load_explained_model(package_dir: str | Path, manifest: Any, record: dict[str, Any]) -> Any:
    """What ``record``'s explainer explains, loaded from the package at ``package_dir``.

    A record made from the compiled graph (``runtime: "onnx"``: the model file was
    never trusted) gets the graph, and nothing is unpickled; otherwise the model
    file, under the package's allowlist.
    """
    if record["explainer"].get("runtime") == "onnx":
        return load_package(package_dir, runtime="onnx").model
    runtime = manifest.format if manifest.format in ("xgboost", "lightgbm") else "sklearn"
    return load_package(package_dir, runtime=runtime, allowed_globals=manifest.trusted_types).model


def load_novelty(package_dir: str | Path, files: dict[str, str] | None = None) -> NoveltyDetector | None:
    """The package's novelty detector, digest-checked against ``files``; None when it has none."""
    path = Path(package_dir) / NOVELTY_FILE
    if files is not None and NOVELTY_FILE not in files:
        return None
    if not path.is_file():
        return None
    if files is not None and sha256_file(path) != files[NOVELTY_FILE]:
        raise PackageError(f"{path} does not match the digest in the package manifest",
                           hint="the package was modified after it was built; rebuild it")
    return NoveltyDetector.load(path)
