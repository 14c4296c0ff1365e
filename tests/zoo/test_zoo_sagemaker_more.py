"""The other half of the failure zoo through the SageMaker emulation (see test_zoo_sagemaker.py).

Same endpoints (built again for this module, on this worker's emulation), same
assertions; the cases are split only so that two xdist workers can bake them at once.
"""

from __future__ import annotations

import pytest

from cloudeploy.testing import zoo
from tests.zoo import cloud_helpers as helpers
from tests.zoo.test_zoo_sagemaker import PROFILE, endpoints  # noqa: F401 - the module-scoped fixture

CASES = zoo.CASES[1::2]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_failing_candidate_is_rolled_back_and_the_old_version_fails_nothing(endpoints, case):  # noqa: F811
    cli = PROFILE if case.name == "raises_every_row" else None
    run = helpers.run_case(endpoints[case.kind], case.build(), trust=case.trust, rollout=zoo.ZOO_PLAN,
                           cli_profile=cli)  # fmt: skip
    helpers.assert_caught(run)
    assert cli is None or run.exit_code == 3
