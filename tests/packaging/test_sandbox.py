"""The sandbox: a named function runs on a file in a child that cannot reach out, and answers as data."""

from __future__ import annotations

import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from cloudeploy.errors import UnsafeModelError
from cloudeploy.packaging.sandbox import (
    Limits,
    SandboxError,
    SandboxWarning,
    check_compiled,
    run_in_sandbox,
)
from tests.packaging import payloads

TARGETS = Path(__file__).with_name("sandbox_targets.py")
LINUX = sys.platform == "linux"


def run(function, path, **options):
    return run_in_sandbox(f"sandbox_targets:{function}", path, code_paths=[TARGETS], **options)


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"\x00model bytes\xff")
    return path


def test_the_function_gets_a_copy_of_the_file_and_its_arguments_back_as_data(model_file):
    result = run("echo", model_file, args=[1, b"\x01\x02"], kwargs={"k": {"nested": [True, None]}})
    assert result.value["content"] == b"\x00model bytes\xff"
    assert result.value["args"] == [1, b"\x01\x02"]
    assert result.value["kwargs"] == {"k": {"nested": [True, None]}}
    workdir = Path(result.value["cwd"])
    assert workdir != model_file.parent
    assert not workdir.exists()  # the throwaway directory is gone


def test_what_confines_the_child_is_reported_and_complete_on_linux(model_file):
    if LINUX:
        result = run("echo", model_file)
        isolation = result.isolation
        assert isolation["network_isolation"] is True
        assert isolation["filesystem_isolation"] is True
        assert isolation["seccomp"] is True
        assert "RLIMIT_AS" in isolation["resource_limits"]
    else:
        with pytest.warns(SandboxWarning, match="no network_isolation"):
            result = run("echo", model_file)
        assert result.isolation["network_isolation"] is False


def test_the_child_cannot_open_a_socket(model_file):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.2)
        outcome = run("try_network", model_file, args=[listener.getsockname()[1]]).value
        with pytest.raises(TimeoutError):
            listener.accept()  # nobody came
    assert outcome["tcp"] != "connected"
    if LINUX:
        assert outcome == {
            "tcp": "PermissionError: Operation not permitted",
            "udp": "PermissionError: Operation not permitted",
        }


def test_the_child_cannot_write_outside_its_directory(model_file, tmp_path):
    outside = [
        str(tmp_path / "beside-the-model.txt"),
        str(Path(tempfile.gettempdir()) / f"cloudeploy-escape-{uuid.uuid4().hex}"),
    ]
    outcome = run("try_writes", model_file, args=[outside]).value
    for target in outside:
        assert outcome[target] != "written"
        assert not Path(target).exists()
    inside = [value for key, value in outcome.items() if key.endswith("scratch.txt")]
    assert inside == ["written"]
    if LINUX:
        assert outcome[outside[1]] == "OSError: Read-only file system"


def test_the_child_cannot_start_a_program(model_file, tmp_path):
    marker = tmp_path / "ran"
    outcome = run("run_command", model_file, args=[str(marker)]).value
    assert outcome["status"] != 0
    assert not marker.exists()


def test_a_hostile_pickles_side_effects_stay_inside(tmp_path):
    """Even plainly unpickled and predicted, the issue-15 chain cannot run its command."""
    import pickle

    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(payloads.vectorize_chain(marker)))
    outcome = run("unpickle", path).value
    assert outcome["predict"] != "ok"
    assert not marker.exists()


def test_a_child_past_its_timeout_is_killed(model_file):
    started = time.monotonic()
    with pytest.raises(SandboxError, match="did not finish within 3 s and was killed"):
        run("sleep_forever", model_file, limits=Limits(timeout=3))
    assert time.monotonic() - started < 60


def test_a_memory_blowup_is_stopped(model_file):
    with pytest.raises(SandboxError, match="memory"):
        run("eat_memory", model_file, limits=Limits(memory=768 << 20, timeout=120))


def test_a_cpu_hog_is_stopped(model_file):
    with pytest.raises(SandboxError, match="CPU"):
        run("burn_cpu", model_file, limits=Limits(cpu_seconds=1, timeout=120))


def test_an_oversized_answer_is_refused(model_file):
    with pytest.raises(SandboxError, match="answered more than 1048576 bytes"):
        run("huge_answer", model_file, limits=Limits(output=1 << 20))


def test_cloudeploy_errors_come_back_as_themselves(model_file):
    with pytest.raises(UnsafeModelError) as refused:
        run("raise_unsafe", model_file)
    assert refused.value.message == "refused in the child"
    assert refused.value.globals == ["os.system"]
    assert refused.value.hint == "a hint"


def test_the_parent_refuses_onnx_bytes_that_do_not_parse(model_file):
    with pytest.raises(SandboxError, match="ONNX bytes are not a valid model"):
        run("return_bad_onnx", model_file, validate=check_compiled)


def test_compiling_a_pickle_in_the_sandbox_returns_a_checked_graph(classifier, tmp_path):
    import joblib
    import onnx

    path = tmp_path / "model.joblib"
    joblib.dump(classifier, path)
    result = run_in_sandbox(
        "cloudeploy.packaging.compile:compile_model_file",
        path,
        args=["joblib"],
        validate=check_compiled,
        limits=Limits(timeout=300),
    )
    compiled = result.value
    assert compiled["output_kind"] == "class_labels"
    assert [f["name"] for f in compiled["schema"]["features"]] == ["x0", "x1", "x2", "x3"]
    assert compiled["classes"] == [0, 1]
    onnx.checker.check_model(onnx.load_model_from_string(compiled["onnx"]))


def test_packaging_an_untrusted_pickle_never_unpickles_it_in_this_process(
    classifier, tmp_path, monkeypatch
):
    import joblib

    from cloudeploy.packaging import build_package, unpickle

    path = tmp_path / "model.joblib"
    joblib.dump(classifier, path)

    def refuse(*args, **kwargs):
        raise AssertionError("the parent unpickled the untrusted file")

    monkeypatch.setattr(unpickle, "load_pickle_file", refuse)
    monkeypatch.setattr(joblib, "load", refuse)
    package = build_package(path, tmp_path / "pkg")
    assert package.manifest.compiled_file
    assert package.manifest.classes == [0, 1]


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_the_seccomp_program_jumps_every_denied_call_to_eperm(machine):
    import struct

    from cloudeploy.packaging import _linux_confine as confine

    code = confine.seccomp_program(machine)
    program = [struct.unpack("HBBI", code[i : i + 8]) for i in range(0, len(code), 8)]
    assert program[1] == (0x15, 1, 0, confine._AUDIT_ARCH[machine])  # other ABIs: kill
    assert program[-2] == (0x06, 0, 0, 0x7FFF0000)  # allow the rest
    assert program[-1] == (0x06, 0, 0, 0x00050001)  # ERRNO(EPERM)
    denied = {
        value
        for index, (op, jt, _jf, value) in enumerate(program)
        if op == 0x15 and index > 1 and index + 1 + jt == len(program) - 1
    }
    assert denied >= {*confine._DENIED[machine].values(), *confine._DENIED_COMMON.values()}
    with pytest.raises(ValueError):
        confine.seccomp_program("riscv64")
