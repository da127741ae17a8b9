"""Hypothesis profiles for the property tests and a count of the generated cases. The default profile ("ci") is
small, derandomized and deadline-free so the folder runs in about two minutes; EMBER_HYPOTHESIS_PROFILE=thorough
(or =dev) runs many more random cases. The run ends with a line "property-test cases run: N"."""
import os

from hypothesis import HealthCheck, Phase, settings

_SLOW_DRAWS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True, database=None,
                          suppress_health_check=_SLOW_DRAWS, print_blob=True)
settings.register_profile("dev", max_examples=200, deadline=None, suppress_health_check=_SLOW_DRAWS)
settings.register_profile("thorough", max_examples=2000, deadline=None, suppress_health_check=_SLOW_DRAWS,
                          phases=list(Phase))
settings.load_profile(os.environ.get("EMBER_HYPOTHESIS_PROFILE", "ci"))

_CASES = {"hypothesis": 0, "tests": set()}


def _counting(inner_test, name):
    def run_one_case(*args, **kwargs):
        _CASES["hypothesis"] += 1
        _CASES["tests"].add(name)
        return inner_test(*args, **kwargs)
    return run_one_case


def pytest_collection_modifyitems(items):
    """Counts every case hypothesis runs by wrapping each test's inner function (the hook hypothesis provides
    for plugins: `test.hypothesis.inner_test`)."""
    for item in items:
        handle = getattr(getattr(item, "obj", None), "hypothesis", None)
        if handle is not None and not getattr(handle, "_ember_counted", False):
            handle.inner_test = _counting(handle.inner_test, item.nodeid)
            handle._ember_counted = True


def pytest_terminal_summary(terminalreporter):
    if _CASES["tests"]:
        terminalreporter.write_line(f"property-test cases run: {_CASES['hypothesis']} cases "
                                    f"in {len(_CASES['tests'])} hypothesis tests "
                                    f"(profile {settings.default.max_examples} max examples per test)")
