"""Hypothesis profiles for the property tests and a count of the generated cases. The default profile ("ci") is
small, derandomized and deadline-free so the folder runs in about two minutes; EMBER_HYPOTHESIS_PROFILE=thorough
(or =dev) runs many more random cases. The run ends with a line "property-test cases run: N"."""
import os
import re

from hypothesis import HealthCheck, Phase, settings

_SLOW_DRAWS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True, database=None,
                          suppress_health_check=_SLOW_DRAWS, print_blob=True)
settings.register_profile("dev", max_examples=200, deadline=None, suppress_health_check=_SLOW_DRAWS)
settings.register_profile("thorough", max_examples=2000, deadline=None, suppress_health_check=_SLOW_DRAWS,
                          phases=list(Phase))
settings.load_profile(os.environ.get("EMBER_HYPOTHESIS_PROFILE", "ci"))

_CASES = {"hypothesis": 0, "tests": 0}
_PASSING = re.compile(r"(\d+) passing examples")


def pytest_runtest_makereport(item, call):
    if call.when != "call":
        return
    stats = getattr(item, "hypothesis_statistics", None)
    if stats:
        _CASES["hypothesis"] += sum(int(n) for n in _PASSING.findall(stats))
        _CASES["tests"] += 1


def pytest_terminal_summary(terminalreporter):
    if _CASES["tests"]:
        terminalreporter.write_line(f"property-test cases run: {_CASES['hypothesis']} generated examples "
                                    f"in {_CASES['tests']} hypothesis tests "
                                    f"(profile {settings.default.max_examples} max examples per test)")
