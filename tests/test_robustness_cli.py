"""The robustness suite, part 1: every command against the same bad inputs, judged as a user would.

Each run must end as a clear error (exit 2 and one ``error:`` line; exit 1 when only some inputs were
skipped) or a correct result: never a traceback, a silently wrong result or a changed input (the table is
``tests/robustness/scenarios.py``, the judge ``tests/robustness/harness.py``). ``python -m
tests.robustness.report`` prints the counts of the same table.
"""

from __future__ import annotations

import pytest
from tests.robustness.harness import GOOD, classify
from tests.robustness.scenarios import all_scenarios

pytest.importorskip("skimage")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

SCENARIOS = all_scenarios()


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> dict:
    return {"root": tmp_path_factory.mktemp("shared")}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[scenario.name for scenario in SCENARIOS])
def test_command_on_bad_input(scenario, shared, tmp_path):
    argv, inputs, expect = scenario.setup(tmp_path, shared)
    outcome = classify(argv, inputs, expect)
    assert outcome.category in GOOD, f"{outcome.category}: {outcome.detail}\n{outcome.stderr[-2000:]}"
