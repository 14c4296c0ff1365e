"""Testing support: emulators of the clouds, the pytest plugin, the conformance suite.

- ``cloudeploy.testing.vertex``: Vertex AI v1 REST + Cloud Storage emulator.
- ``cloudeploy.testing.sagemaker``: SageMaker/S3/CloudWatch emulation on moto.
- ``cloudeploy.testing.conformance``: the provider contract as a reusable test class.
- ``cloudeploy.testing.pytest_plugin``: fixtures ``vertex_emulator``, ``sagemaker_emulator``.
"""
