"""Replay is deterministic (issue 15, L6): what a script stores never depends on the process's hash seed or on
memory addresses, so a case replays to the same workflow in any process."""
import json
import os
import subprocess
import sys

import pytest

from engine import scripting
from engine.calendar import LegalCalendar, bpmn_helpers
from engine.scripting import evaluate, execute
from tests.conftest import ROOT

SET_SCRIPT = (
    "out = list({'alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta'})\n"
    "joined = ','.join({'甲', '乙', '丙', 'x', 'y'})\n"
    "comprehension = [w for w in {w.upper() for w in ['q', 'r', 's', 't', 'u', 'v']}]\n"
    "built = list(set(['k1', 'k2', 'k3', 'k4', 'k5']) | frozenset(['k6', 'k7']))\n"
    "keys = list({'m': 1, 'n': 2, 'o': 3, 'p': 4}.keys() & {'p', 'o', 'n', 'm'})\n"
    "mixed = list({3, 'b', 1.5, None, ('t', 1), 'a', 2})\n"
    "popped = [{'pa', 'pb', 'pc', 'pd'}.pop()]\n"
    "shown = str({'s1', 's2', 's3', 's4'})\n"
)
PRINT_SCRIPT = (
    "a = f'{legal_days!r}'\n"
    "b = '%(f)s' % {'f': legal_days}\n"
    "c = str([workdays, len, lambda x: x])\n"
    "d = f'{sorted}|{str.upper}|{datetime}'\n"
    "e = '%r' % (natural_days,)\n"
)
_RUN = """
import json, sys
from engine.calendar import LegalCalendar, bpmn_helpers
from engine.scripting import execute
data = {}
execute(sys.stdin.read(), data, helpers=bpmn_helpers(LegalCalendar()))
print(json.dumps(data, ensure_ascii=False, sort_keys=True))
"""


def _in_process(script: str, seed: str) -> dict:
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", _RUN], input=script, cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("script", [SET_SCRIPT, PRINT_SCRIPT], ids=["sets", "printed-functions"])
def test_the_same_script_stores_the_same_data_in_processes_with_other_hash_seeds(script):
    # Seeds 1 and 2 give the six strings different orders in a plain Python set.
    first, second = _in_process(script, "1"), _in_process(script, "2")
    assert first == second
    assert "0x" not in json.dumps(first)


def test_sets_iterate_in_sorted_order():
    data: dict = {}
    execute(SET_SCRIPT, data)
    assert data["out"] == ["alpha", "beta", "delta", "epsilon", "gamma", "zeta"]
    assert data["joined"] == "x,y,丙,乙,甲"
    assert data["comprehension"] == ["Q", "R", "S", "T", "U", "V"]
    assert data["built"] == ["k1", "k2", "k3", "k4", "k5", "k6", "k7"]
    assert data["keys"] == ["m", "n", "o", "p"]
    assert data["mixed"] == [1.5, 2, 3, "a", "b", None, ["t", 1]]
    assert data["popped"] == ["pa"]
    assert data["shown"] == "{'s1', 's2', 's3', 's4'}"


def test_functions_print_by_name_without_an_address():
    data: dict = {}
    execute(PRINT_SCRIPT, data, helpers=bpmn_helpers(LegalCalendar()))
    assert data == {"a": "<function legal_days>", "b": "<function legal_days>",
                    "c": "[<function workdays>, <function len>, <function <lambda>>]",
                    "d": "<function sorted>|<function upper>|<class datetime>", "e": "<function natural_days>"}


def test_sets_still_behave_as_sets():
    assert evaluate("isinstance({1}, set) and isinstance(set(), set) and 'a' in {'a', 'b'}", {}) is True
    assert evaluate("len({1, 2} - {2}) == 1 and {1, 2} == {2, 1} and {1} < {1, 2}", {}) is True
    assert evaluate("sorted({'b', 'a'} ^ {'c'})", {}) == ["a", "b", "c"]
    data: dict = {}
    execute("s = set()\ns.add('b')\ns.update(['a'])\ns |= {'c'}\nout = list(s)\ndel s", data)
    assert data == {"out": ["a", "b", "c"]}
    assert scripting.StableSet({"b", "a"}).__repr__() == "{'a', 'b'}"
