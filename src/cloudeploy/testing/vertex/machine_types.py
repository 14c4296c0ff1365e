"""The machine types Vertex AI serves predictions on, and the check the service makes.

Source: "Configure compute resources for inference" (cloud.google.com/vertex-ai/docs/
predictions/configure-compute), the list that ``MachineSpec.machineType`` links to
("See the list of machine types supported for prediction"). A deploy or batch job
naming any other type is refused with 400 INVALID_ARGUMENT before anything starts,
as the service does. ``machineType`` may be left out of a ``DeployedModel``: the
``MachineSpec`` reference gives its default, ``n1-standard-2``.

The table lists families and their vCPU (or GPU/TPU) sizes; regional availability
and accelerator pairing are not checked (see docs/emulators/vertex.md).
"""

from __future__ import annotations

from cloudeploy.testing.vertex._wire import invalid

DEFAULT_DEPLOY_MACHINE_TYPE = "n1-standard-2"

_CPU = {
    "e2-standard": (2, 4, 8, 16, 32),
    "e2-highmem": (2, 4, 8, 16),
    "e2-highcpu": (2, 4, 8, 16, 32),
    "n1-standard": (2, 4, 8, 16, 32),
    "n1-highmem": (2, 4, 8, 16, 32),
    "n1-highcpu": (2, 4, 8, 16, 32),
    "n2-standard": (2, 4, 8, 16, 32, 48, 64, 80),
    "n2-highmem": (2, 4, 8, 16, 32, 48, 64, 80),
    "n2-highcpu": (2, 4, 8, 16, 32, 48, 64, 80),
    "n2d-standard": (2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224),
    "n2d-highmem": (2, 4, 8, 16, 32, 48, 64, 80, 96),
    "n2d-highcpu": (2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224),
    "c2-standard": (4, 8, 16, 30, 60),
    "c2d-standard": (2, 4, 8, 16, 32, 56, 112),
    "c2d-highmem": (2, 4, 8, 16, 32, 56, 112),
    "c2d-highcpu": (2, 4, 8, 16, 32, 56, 112),
    "c3-standard": (4, 8, 22, 44, 88, 176),
    "c3-highmem": (4, 8, 22, 44, 88, 176),
    "c3-highcpu": (4, 8, 22, 44, 88, 176),
    "g2-standard": (4, 8, 12, 16, 24, 32, 48, 96),
}
_NAMED = {
    *(f"a2-highgpu-{n}g" for n in (1, 2, 4, 8)),
    "a2-megagpu-16g",
    *(f"a2-ultragpu-{n}g" for n in (1, 2, 4, 8)),
    *(f"a3-highgpu-{n}g" for n in (1, 2, 4, 8)),
    "a3-megagpu-8g",
    *(f"ct5lp-hightpu-{n}t" for n in (1, 4, 8)),
}

SUPPORTED: frozenset[str] = frozenset(
    {f"{family}-{size}" for family, sizes in _CPU.items() for size in sizes} | _NAMED
)


def check_machine_type(machine_type: str, *, field: str) -> None:
    """INVALID_ARGUMENT naming ``field`` unless ``machine_type`` is one Vertex AI serves on."""
    if machine_type not in SUPPORTED:
        raise invalid(
            f'Machine type "{machine_type}" is not supported for {field}. '
            "See https://cloud.google.com/vertex-ai/docs/predictions/configure-compute "
            "for the machine types supported for prediction."
        )
