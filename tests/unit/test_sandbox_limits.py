"""The sandbox's limits (issue 15, M1): CPU time, memory and output of one expression or script, and what deploy
refuses statically. Every payload here froze the process, spun for ever or ate gigabytes before the limits."""
import functools
import os
import subprocess
import sys
import time

import pytest

from engine import scripting
from engine.errors import CaseError, SandboxError
from engine.runtime import EngineSettings, Runtime
from engine.scripting import LimitExceeded, Limits, make_script_engine
from tests.conftest import ROOT

TIGHT = Limits(cpu_seconds=0.3, memory_mb=16, output_kb=64)

# Small limits so every overrun ends in well under a second: limits are a value each call (or script engine)
# carries, never module-global state.
check_expression = functools.partial(scripting.check_expression, limits=TIGHT)
check_script = functools.partial(scripting.check_script, limits=TIGHT)
evaluate = functools.partial(scripting.evaluate, limits=TIGHT)
execute = functools.partial(scripting.execute, limits=TIGHT)


def _fails_quickly(source: str, data: dict, match: str) -> None:
    before = repr(data)
    started = time.monotonic()
    with pytest.raises(LimitExceeded, match=match):
        execute(source, data)
    # 0.3 s of CPU; the wall clock of a shared machine runs slower than that
    assert time.monotonic() - started < 10
    assert repr(data) == before  # nothing of the script reached the task data


# --------------------------------------------------------------------------------------------------------------
# Deploy time: what can be seen statically

@pytest.mark.parametrize("script, named", [
    ("while True: pass", "'while True' never ends"),
    ("x = 1\nwhile 1:\n    x = x + 1", "'while 1' never ends"),
    ("x = 10**10**10", "10 ** 10 ** 10"),
    ("x = 'x' * 10**10", "'x' * 10 ** 10"),
    ("x = [0] * (10**10)", "[0] * 10 ** 10"),
    ("x = 1 << 10**9", "1 << 10 ** 9"),
    ("x = list(range(3*10**7))", "list(range(3 * 10 ** 7))"),
    ("x = sorted(range(10**9))", "sorted(range(10 ** 9))"),
])
def test_check_script_refuses_what_cannot_end_or_fit(script, named):
    [problem] = check_script(script)
    line = script[:script.find("while")].count("\n") + 1 if "while" in script else script.count("\n") + 1
    assert named in problem and problem.startswith(f"line {line}:")


def test_check_expression_refuses_a_constant_too_large():
    [problem] = check_expression("amount > 10**10**10")
    assert "10 ** 10 ** 10" in problem and "digits" in problem


@pytest.mark.parametrize("script", [
    "n = 0\nwhile True:\n    n = n + 1\n    if n > 3:\n        break",
    "def first(items):\n    while True:\n        return items[0]",
    "while True:\n    raise ValueError('stop')",
    "x = 10 ** 100\ny = 'ab' * 100\nz = list(range(1000))\nw = 2 ** 64 << 3",
    "n = 0\nwhile True:\n    for i in range(3):\n        n = n + i\n    if n > 5:\n        break",
])
def test_check_script_accepts_loops_with_a_way_out_and_small_constants(script):
    assert check_script(script) == []


def test_check_script_sees_a_break_that_belongs_to_an_inner_loop():
    script = "while True:\n    for i in range(3):\n        break"
    assert "'while True' never ends" in check_script(script)[0]


# --------------------------------------------------------------------------------------------------------------
# Run time: the same payloads with values that only the task data knows

@pytest.mark.parametrize("script, match", [
    pytest.param("n = 0\nwhile n >= 0:\n    n = n + 1", "CPU time", id="endless-while"),
    pytest.param("for i in range(10 ** big):\n    pass", "CPU time", id="endless-for"),
    pytest.param("x = any(i < 0 for i in range(10 ** big))", "CPU time", id="generator-in-C"),
    pytest.param("x = sum(range(10 ** big))", "CPU time", id="sum-of-range"),
    pytest.param("def f(n):\n    return 1 if n == 0 else f(n - 1) + f(n - 1)\nx = f(60)", "CPU time",
                 id="exponential-recursion"),
    pytest.param("x = 10 ** 10 ** big", "digits", id="power"),
    pytest.param("x = 7 ** (10 ** big)", "digits", id="power-of-seven"),
    pytest.param("x = 1 << (10 ** big)", "digits", id="shift"),
    pytest.param("x = 'x' * 10 ** big", "memory", id="text-times"),
    pytest.param("x = [0] * 10 ** big", "memory", id="list-times"),
    pytest.param("x = list(range(3 * 10 ** (big - 3)))", "list\\(\\) of 30,000,000 items", id="list-range"),
    pytest.param("x = set(range(10 ** big))", "memory", id="set-range"),
    pytest.param("x = dict.fromkeys(range(10 ** big))", "memory", id="dict-fromkeys"),
    pytest.param("x = [i for i in range(10 ** big)]", "memory|CPU time", id="comprehension"),
    pytest.param("x = []\nfor i in range(10 ** big):\n    x.append('y' * 1000)", "memory", id="loop-append"),
    pytest.param("x = []\nwhile len(x) >= 0:\n    x.append(str(len(x)))", "memory|CPU time", id="while-append"),
    pytest.param("x = []\nwhile len(x) >= 0:\n    x += ['y' * 100]", "memory|CPU time", id="inplace-extend"),
    pytest.param("s = 'x'\nwhile s:\n    s = s + s", "memory", id="text-doubling"),
    pytest.param("s = 'x'\nwhile s:\n    s += s", "memory", id="inplace-doubling"),
    pytest.param("x = 2\nwhile x:\n    x = x * x", "digits", id="int-squaring"),
    pytest.param("x = ('y' * 1000).join(str(i) for i in range(10 ** big))", "memory|CPU time", id="join"),
    pytest.param("x = 'y'.ljust(10 ** big)", "memory", id="ljust"),
    pytest.param("x = ('y' * 10 ** 6).replace('', 'z' * 20)", "memory", id="replace-empty"),
    pytest.param("x = ('a,' * 1000000).split(',')", "memory", id="split"),
    pytest.param("x = 'y'.encode() * 10 ** big", "memory", id="bytes-times"),
    pytest.param("x = len('y'.encode().ljust(10 ** big))", "memory", id="bytes-ljust"),
    pytest.param("a = [[0] * 1000] * 1000\nb = [a] * 1000\nx = len(str(b))", "its text would be",
                 id="str-of-shared-lists"),
    pytest.param("a = [[0] * 1000] * 1000\nb = [a] * 1000\nx = len(f'{b}')", "its text would be",
                 id="fstring-of-shared-lists"),
    pytest.param("a = (('y',) * 1000,) * 1000\nb = (a,) * 1000\nx = len('%s' % (b,))", "its text would be",
                 id="percent-of-shared-tuples"),
])
def test_overrun_ends_the_script_with_a_clear_error(script, match):
    _fails_quickly(script, {"big": 10}, match)


@pytest.mark.parametrize("script", [
    "try:\n    while big:\n        pass\nexcept Exception:\n    pass\nok = 1",
    "try:\n    while big:\n        pass\nexcept:\n    ok = 1",
    "def f():\n    try:\n        while big:\n            pass\n    finally:\n        return 1\nok = f()",
    "try:\n    x = 'x' * 10 ** big\nexcept:\n    ok = 1",
])
def test_a_script_cannot_swallow_its_overrun(script):
    _fails_quickly(script, {"big": 10}, "CPU time|memory")


@pytest.mark.parametrize("expression", [
    "len('x' * 10 ** big) > 0",
    "sum(range(10 ** big)) > 0",
    "10 ** 10 ** big > 0",
    "f'{1:>{10 ** big}}'",
])
def test_expressions_have_the_same_limits(expression):
    with pytest.raises((LimitExceeded, SandboxError)):
        evaluate(expression, {"big": 10})


def test_round_to_a_huge_negative_place_is_zero_at_once():
    started = time.monotonic()
    assert evaluate("round(5, -10 ** 9) + round(2.5) + round(1.25, 1)", {}) == 0 + 2 + 1.2
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("source, match", [
    ("f'{x:>1000000000}'", "width or precision 1000000000"),
    ("'%1000000000d' % x", "width or precision 1000000000"),
    ("'%*d' % (10 ** 9, x)", "'\\*' widths"),
    ("b'%1000000000d' % x", "width or precision 1000000000"),
])
def test_huge_format_widths_are_refused(source, match):
    with pytest.raises(SandboxError, match=match):
        evaluate(source, {"x": 1})


def test_output_larger_than_the_limit_is_refused():
    _fails_quickly("note = 'y' * 70000", {}, "writes is 68 KB or more; at most 64 KB")
    _fails_quickly("rows = [{'n': i, 'text': 'y' * 100} for i in range(1000)]", {}, "at most 64 KB")
    with pytest.raises(LimitExceeded, match="the expression's value"):
        evaluate("['y' * 1000] * 100", {})


def test_shared_parts_count_once_per_reference_in_the_output():
    # 50 references to one 2 KB text: 100 KB of JSON though only 2 KB of memory
    _fails_quickly("part = 'y' * 2000\nrows = [part] * 50", {}, "at most 64 KB")


def test_data_already_there_does_not_count_as_output():
    data = {"parties": ["y" * 1000] * 100, "n": 1}  # 100 KB from the start data, above the 64 KB
    execute("n = n + 1\nparties.append('z')", data)
    assert data["n"] == 2 and data["parties"][-1] == "z"


def test_memory_is_a_budget_for_the_whole_script():
    # Each 5 MB piece is allowed; four of them are more than 16 MB.
    script = "a = 'y' * 5000000\nb = 'z' * 5000000\nc = 'y' * 5000000\nd = 'z' * 5000000"
    assert check_script(script) == []
    _fails_quickly(script, {}, "memory")


def test_ordinary_scripts_run_as_before():
    data = {"claims": [300, 1200, 50], "parties": [{"name": "张三"}, {"name": "李四"}]}
    execute(
        "total = sum(claims)\n"
        "big = [c for c in claims if c > 100]\n"
        "names = ', '.join(p['name'] for p in parties)\n"
        "label = f'{total:>8,}' + ' / %05.1f' % 3.25\n"
        "n = 0\n"
        "while n < 1000:\n"
        "    n += 1\n"
        "lookup = dict(zip(['a', 'b'], [1, 2]))\n"
        "lookup.update({'c': 3})\n"
        "rows = []\n"
        "for i in range(2000):\n"
        "    rows.append(i * 2)\n"
        "power = 2 ** 100\n", data)
    assert data["total"] == 1550 and data["big"] == [300, 1200] and data["names"] == "张三, 李四"
    assert data["label"] == "   1,550 / 003.2" and data["n"] == 1000 and data["lookup"] == {"a": 1, "b": 2, "c": 3}
    assert len(data["rows"]) == 2000 and data["power"] == 2 ** 100


def test_limits_are_per_evaluation():
    """An evaluation starts with a fresh budget: many small scripts never add up to an overrun."""
    for _ in range(30):
        data = {}
        execute("x = 'y' * 1000000\ndel x\nn = 0\nwhile n < 20000:\n    n = n + 1", data)
    assert data["n"] == 20000


def test_a_limit_error_is_not_a_case_error_so_callers_add_the_element():
    # casework wraps non-CaseErrors of due-date and candidate-group expressions with the element's id
    assert not issubclass(LimitExceeded, CaseError)
    error = LimitExceeded("脚本运行超时 / too long").at("count", "计数")
    assert error.message == "计数 (count): 脚本运行超时 / too long"


def test_configured_limits_reach_the_sandbox(tmp_path):
    """JIEFEN_SCRIPT_* settings → EngineSettings → the sandbox's limits, in a process of their own."""
    code = ("from webui import create_app\n"
            "rt = create_app().extensions['jiefen.runtime']\n"
            "assert rt.script_engine.environment.limits is rt.script_limits\n"
            "print(rt.script_limits)\n")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JIEFEN_DATABASE_URL")}
    env.update({"DATABASE_URL": f"sqlite:///{tmp_path / 'limits.sqlite3'}", "PYTHONPATH": str(ROOT),
                "JIEFEN_SCRIPT_CPU_SECONDS": "2.5", "JIEFEN_SCRIPT_MEMORY_MB": "32",
                "JIEFEN_SCRIPT_OUTPUT_KB": "256", "JIEFEN_SECRET_KEY": "a-test-only-secret-key-of-some-length"})
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Limits(cpu_seconds=2.5, memory_mb=32, output_kb=256)"


# --------------------------------------------------------------------------------------------------------------
# Limits are a value each script engine carries: two runtimes in one process each enforce their own.

COUNTING_LOOP = "n = 0\nwhile n < limit:\n    n = n + 1"  # ~0.1 s of CPU for 200,000 steps
GROWING_LOOP = "rows = []\nfor i in range(count):\n    rows.append('x' * 1000)\nsize = len(rows)\ndel rows"  # ~40 MB


def _two_runtimes(strict: dict, relaxed: dict):
    return Runtime(EngineSettings(**strict)), Runtime(EngineSettings(**relaxed))


def test_two_runtimes_with_different_cpu_limits_each_enforce_their_own():
    strict, relaxed = _two_runtimes({"script_cpu_seconds": 0.02}, {"script_cpu_seconds": 30.0})
    assert strict.script_limits.cpu_seconds == 0.02 and relaxed.script_limits.cpu_seconds == 30.0
    assert strict.script_engine.environment.limits is strict.script_limits
    for _ in range(2):  # interleaved: building or using one never changes the other
        with pytest.raises(LimitExceeded, match="0.02 s of CPU time"):
            strict.script_engine.environment.execute(COUNTING_LOOP, {"limit": 200_000})
        data = {"limit": 200_000}
        relaxed.script_engine.environment.execute(COUNTING_LOOP, data)
        assert data["n"] == 200_000
    assert scripting.DEFAULT_LIMITS == Limits()  # nothing global moved


def test_two_script_engines_with_different_memory_limits_each_enforce_their_own():
    strict = make_script_engine({}, Limits(memory_mb=16))
    relaxed = make_script_engine({}, Limits(memory_mb=128))
    with pytest.raises(LimitExceeded, match="16 MB"):
        strict.environment.execute(GROWING_LOOP, {"count": 20_000})
    data = {"count": 20_000}
    relaxed.environment.execute(GROWING_LOOP, data)
    assert data["size"] == 20_000
    # an expression too: the strict engine's budget is not the relaxed one's
    with pytest.raises(LimitExceeded):
        strict.environment.evaluate("len('x' * size)", {"size": 20 * 1024 * 1024})
    assert relaxed.environment.evaluate("len('x' * size)", {"size": 20 * 1024 * 1024}) == 20 * 1024 * 1024


def test_deploy_checks_use_the_limits_they_are_given():
    script = "x = 'x' * (32 * 1024 * 1024)"
    assert "too large to compute" in scripting.check_script(script, limits=Limits(memory_mb=16))[0]
    assert scripting.check_script(script, limits=Limits(memory_mb=64)) == []
    # the compile cache keeps the two apart
    assert scripting.check_script(script, limits=Limits(memory_mb=16)) != []
