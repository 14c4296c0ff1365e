"""Functions the sandbox tests run in the confined child (copied in through ``code_paths``).

Each takes the path of the file the parent handed over, like every sandbox target.
"""

from __future__ import annotations

import os
import socket
import time


def echo(path, *args, **kwargs):
    with open(path, "rb") as handle:
        content = handle.read()
    return {"content": content, "args": list(args), "kwargs": kwargs, "cwd": os.getcwd()}


def try_network(path, port):
    """Each way out the child might try: a TCP connection to the parent, a UDP socket."""
    outcome = {}
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            outcome["tcp"] = "connected"
    except OSError as error:
        outcome["tcp"] = f"{type(error).__name__}: {error.strerror}"
    try:
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()
        outcome["udp"] = "opened"
    except OSError as error:
        outcome["udp"] = f"{type(error).__name__}: {error.strerror}"
    return outcome


def try_writes(path, targets):
    """Try to create each of ``targets`` and a file beside ``path``; report what happened."""
    outcome = {}
    for target in [*targets, os.path.join(os.path.dirname(path), "scratch.txt")]:
        try:
            with open(target, "w") as handle:
                handle.write("x")
            outcome[target] = "written"
        except OSError as error:
            outcome[target] = f"{type(error).__name__}: {error.strerror}"
    return outcome


def run_command(path, marker):
    return {"status": os.system(f"touch {marker}")}


def sleep_forever(path):
    while True:
        time.sleep(1)


def eat_memory(path):
    hog = []
    while True:
        hog.append(bytearray(64 << 20))


def burn_cpu(path):
    while True:
        pass


def huge_answer(path):
    return {"blob": b"x" * (8 << 20)}


def unpickle(path):
    """What a naive loader does: unpickle the file and predict with it."""
    import pickle

    import numpy as np

    with open(path, "rb") as handle:
        model = pickle.load(handle)
    try:
        model.predict(np.zeros((1, 3)))
    except Exception as error:  # noqa: BLE001 - the payload's own failure after it ran
        return {"predict": type(error).__name__}
    return {"predict": "ok"}


def raise_unsafe(path):
    from cloudeploy.errors import UnsafeModelError

    raise UnsafeModelError("refused in the child", globals=["os.system"], hint="a hint")


def return_bad_onnx(path):
    return {
        "schema": {"features": []},
        "output_kind": "class_labels",
        "classes": [0, 1],
        "onnx": b"not an onnx model",
        "record": {},
    }
