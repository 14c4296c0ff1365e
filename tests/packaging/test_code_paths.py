"""``--code``: the user's own transformers travel with the package, under its digest."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import numpy as np
import pytest

from cloudeploy.errors import IntegrityError, PackageError, ValidationError
from cloudeploy.packaging import build_package, load_package, verify_package

SOURCE = """
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


class Clipper(BaseEstimator, TransformerMixin):
    def __init__(self, limit=1.0):
        self.limit = limit

    def fit(self, X, y=None):
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X):
        return np.clip(np.asarray(X, dtype=float), -self.limit, self.limit)


def shift(X):
    return np.asarray(X, dtype=float) + 0.5
"""


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A module of the user's own transformers, importable in this process only."""
    name = f"my_transformers_{uuid.uuid4().hex[:8]}"
    source_dir = tmp_path / "src"
    source_dir.mkdir()
    path = source_dir / f"{name}.py"
    path.write_text(textwrap.dedent(SOURCE))
    monkeypatch.syspath_prepend(str(source_dir))
    module = __import__(name)
    yield module, path
    sys.modules.pop(name, None)


@pytest.fixture
def custom_pipeline(user_module, training_data):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    module, _path = user_module
    X, y = training_data
    return make_pipeline(
        module.Clipper(limit=1.5), FunctionTransformer(module.shift), LogisticRegression()
    ).fit(X, y)


def test_the_code_is_in_the_package_and_its_manifest(custom_pipeline, user_module, tmp_path):
    module, path = user_module
    package = build_package(custom_pipeline, tmp_path / "pkg", code_paths=[path], compile=False)
    assert f"code/{path.name}" in package.manifest.files
    assert (package.path / "code" / path.name).read_text() == path.read_text()


def test_a_fresh_process_loads_and_predicts_with_the_packaged_code(
    custom_pipeline, user_module, training_data, tmp_path
):
    _module, path = user_module
    X, _y = training_data
    package = build_package(custom_pipeline, tmp_path / "pkg", code_paths=[path], compile=False)
    script = (
        "import json, sys\n"
        "from cloudeploy.packaging import load_package\n"
        "rows = json.loads(sys.argv[2])\n"
        "print(json.dumps(load_package(sys.argv[1]).predict(rows)))\n"
    )
    rows = X[:8].tolist()
    done = subprocess.run(
        [sys.executable, "-c", script, str(package.path), json.dumps(rows)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == custom_pipeline.predict(np.array(rows)).tolist()


def test_the_digest_covers_the_code(custom_pipeline, user_module, tmp_path):
    _module, path = user_module
    first = build_package(custom_pipeline, tmp_path / "a", code_paths=[path], compile=False)
    without = build_package(
        custom_pipeline, tmp_path / "b", allowed_globals=[f"{path.stem}.*"], compile=False
    )
    assert first.digest != without.digest
    packaged = first.path / "code" / path.name
    packaged.write_text(packaged.read_text() + "\nimport os  # changed after packaging\n")
    with pytest.raises(IntegrityError, match=f"code/{path.name} was modified"):
        verify_package(first.path)
    packaged.unlink()
    with pytest.raises(IntegrityError, match="missing"):
        verify_package(first.path)


def test_an_extra_file_in_the_code_directory_is_refused(custom_pipeline, user_module, tmp_path):
    _module, path = user_module
    package = build_package(custom_pipeline, tmp_path / "pkg", code_paths=[path], compile=False)
    (package.path / "code" / "sneaky.py").write_text("import os\n")
    with pytest.raises(IntegrityError, match="sneaky.py is not listed"):
        load_package(package.path)


def test_without_code_the_users_classes_are_refused(custom_pipeline, user_module, tmp_path):
    from cloudeploy.errors import UnsafeModelError

    _module, path = user_module
    with pytest.raises(UnsafeModelError) as refused:
        build_package(custom_pipeline, tmp_path / "pkg", compile=False)
    assert f"{path.stem}.Clipper" in refused.value.globals


def test_the_cli_packages_a_model_file_with_code(custom_pipeline, user_module, tmp_path):
    import joblib
    from click.testing import CliRunner

    from cloudeploy.cli import cli

    _module, path = user_module
    model_file = tmp_path / "model.joblib"
    joblib.dump(custom_pipeline, model_file)
    result = CliRunner().invoke(
        cli,
        [
            "package",
            str(model_file),
            "-o",
            str(tmp_path / "pkg"),
            "--code",
            str(path),
            "--no-compile",
            "--output",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "pkg" / "code" / path.name).is_file()


@pytest.fixture
def main_class(monkeypatch):
    """A transformer class defined in __main__, as in a notebook."""
    from sklearn.base import BaseEstimator, TransformerMixin

    class NotebookScaler(BaseEstimator, TransformerMixin):
        def fit(self, X, y=None):
            return self

        def transform(self, X):
            return X

    NotebookScaler.__module__ = "__main__"
    NotebookScaler.__qualname__ = "NotebookScaler"
    monkeypatch.setattr(sys.modules["__main__"], "NotebookScaler", NotebookScaler, raising=False)
    return NotebookScaler


def test_a_class_defined_in_main_says_to_move_it_into_a_module_and_pass_code(
    main_class, training_data, tmp_path
):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    X, y = training_data
    model = make_pipeline(main_class(), LogisticRegression()).fit(X, y)
    with pytest.raises(PackageError) as refused:
        build_package(model, tmp_path / "pkg")
    message = str(refused.value)
    assert "NotebookScaler defined in __main__" in message
    assert "move it into a module" in message
    assert "--code" in message


def test_the_cli_says_it_in_one_line_for_a_pickle_file(main_class, training_data, tmp_path):
    from click.testing import CliRunner
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from cloudeploy.cli import cli

    X, y = training_data
    path = tmp_path / "notebook.pkl"
    path.write_bytes(pickle.dumps(make_pipeline(main_class(), LogisticRegression()).fit(X, y)))
    result = CliRunner().invoke(cli, ["package", str(path), "-o", str(tmp_path / "pkg")])
    assert result.exit_code == PackageError.exit_code
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "--code" in result.output


@pytest.mark.parametrize("name", ["numpy.py", "json.py", "cloudeploy.py"])
def test_code_that_would_shadow_a_library_is_refused(name, classifier, tmp_path):
    path = tmp_path / name
    path.write_text("x = 1\n")
    with pytest.raises(ValidationError, match="would shadow a library module"):
        build_package(classifier, tmp_path / "pkg", code_paths=[path])


def test_a_directory_must_be_a_python_package(classifier, tmp_path):
    folder = tmp_path / "helpers"
    folder.mkdir()
    with pytest.raises(ValidationError, match="with __init__.py"):
        build_package(classifier, tmp_path / "pkg", code_paths=[folder])


def test_the_local_provider_accepts_a_package_with_code(
    custom_pipeline, user_module, tmp_path, monkeypatch
):
    from cloudeploy.api import resolve_provider

    _module, path = user_module
    monkeypatch.setenv("CLOUDEPLOY_HOME", str(tmp_path / "home"))
    package = build_package(custom_pipeline, tmp_path / "pkg", code_paths=[path], compile=False)
    version = resolve_provider("local").upload_model(package.path, "custom")
    assert version.digest == package.digest


def test_deploy_with_code_deploys_a_package_holding_the_code(
    custom_pipeline, user_module, tmp_path
):
    """``cloudeploy deploy MODEL --code m.py`` hands the provider a package with code/ in it."""
    import joblib

    from cloudeploy.commands.deploy import _with_code

    _module, path = user_module
    model_file = tmp_path / "model.joblib"
    joblib.dump(custom_pipeline, model_file)
    with _with_code(str(model_file), (str(path),), "custom", False) as packaged:
        manifest = verify_package(packaged)
        assert f"code/{path.name}" in manifest.files
    assert not Path(packaged).exists()  # the temporary package is removed after the deploy
