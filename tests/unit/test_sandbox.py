"""The expression and script sandbox: deploy-time checks, run-time refusal, and the SpiffWorkflow bridge."""
from __future__ import annotations

import re
from datetime import date, datetime, timezone
from xml.sax.saxutils import escape

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.util.task import TaskState

from engine.clock import running_at
from engine.errors import SandboxError, TaskFailed
from engine.scripting import (
    JUEL_MESSAGE,
    TIMER_HINT,
    SandboxedEnvironment,
    check_expression,
    check_script,
    check_timer_expression,
    evaluate,
    execute,
    make_script_engine,
)
from engine.scripting import compiler, guards, rules


@pytest.fixture(autouse=True)
def fresh_compile_cache():
    """Each test sees its own compile results (some tests swap out the static checker)."""
    compiler._compile.cache_clear()
    yield
    compiler._compile.cache_clear()


# The known escapes (spiff-study s2b_security) and what the designer must be told about each.
ESCAPE_EXPRESSIONS = [
    pytest.param("__import__('os').system('echo pwned')", "__import__", id="dunder-import"),
    pytest.param("().__class__.__base__.__subclasses__()", "__class__", id="subclasses"),
    pytest.param("[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close']"
                 "[0].__init__.__globals__['system']('echo pwned')", "__class__", id="wrap-close"),
    pytest.param("getattr(x, '__class__')", "getattr", id="getattr"),
    pytest.param("'{0.__class__}'.format(x)", ".format()", id="str-format"),
    pytest.param("'{0.__class__}'.format_map({'0': x})", ".format_map()", id="format-map"),
    pytest.param("str.format('{0.__class__}', x)", ".format()", id="str-class-format"),
    pytest.param("type(x)", "'type'", id="type"),
    pytest.param("(lambda: 0).__globals__", "__globals__", id="lambda-globals"),
    pytest.param("(lambda: 0).__closure__", "__closure__", id="lambda-closure"),
    pytest.param("(x for x in []).gi_frame", "gi_frame", id="generator-frame"),
    pytest.param("(x for x in []).gi_code", "gi_code", id="generator-code"),
    pytest.param("open('/etc/passwd').read()", "'open'", id="open"),
    pytest.param("__builtins__", "__builtins__", id="builtins"),
    pytest.param("__builtins__['eval']('1')", "__builtins__", id="builtins-eval"),
    pytest.param("eval('1 + 1')", "'eval'", id="eval"),
    pytest.param("int.mro()", "mro", id="mro"),
    pytest.param("f'{x.__class__}'", "__class__", id="fstring-dunder"),
]


# --------------------------------------------------------------------------------------------------------------
# Deploy time: check_expression / check_script

@pytest.mark.parametrize("source, named", ESCAPE_EXPRESSIONS)
def test_check_expression_rejects_known_escape(source, named):
    problems = check_expression(source)
    assert problems, source
    assert any(named in p and "not allowed" in p for p in problems), problems


@pytest.mark.parametrize("source, named", ESCAPE_EXPRESSIONS)
def test_check_script_rejects_known_escape_in_assignment(source, named):
    problems = check_script(f"ok = 1\nresult = {source}\n")
    assert any(p.startswith("line 2: ") and named in p for p in problems), problems


@pytest.mark.parametrize("name", [
    "eval", "exec", "compile", "open", "getattr", "setattr", "delattr", "globals", "locals", "vars", "type",
    "object", "input", "breakpoint", "help", "memoryview", "super", "classmethod", "staticmethod", "property",
    "hasattr", "dir", "print",
])
def test_check_expression_rejects_forbidden_name(name):
    problems = check_expression(f"{name}(amount)")
    assert problems == [problems[0]] and f"'{name}' is not allowed" in problems[0]


def test_check_expression_rejects_underscore_names_but_allows_single_underscore():
    assert "names starting with '_' are reserved" in check_expression("_secret + 1")[0]
    assert check_expression("[1 for _ in parties]") == []


@pytest.mark.parametrize("script, line, named", [
    ("import os\nos.system('echo pwned')", 1, "import os"),
    ("x = 1\nfrom os import system", 2, "from os import system"),
    ("def f():\n    import subprocess\n    return 1", 2, "import subprocess"),
])
def test_check_script_rejects_imports_with_line_number(script, line, named):
    problems = check_script(script)
    assert problems == [f"line {line}: imports are not allowed ('{named}'); expressions and scripts can use "
                        "only task data and the engine's helper functions"]


def test_check_script_reports_every_problem_with_its_line():
    problems = check_script("total = 1\ny = eval('2')\nz = x.__dict__\nclass A:\n    pass\n")
    assert [p.split(":")[0] for p in problems] == ["line 2", "line 3", "line 4"]
    assert "class definitions are not allowed" in problems[2]


def test_check_script_reports_syntax_error_with_line():
    assert check_script("x = 1\ny = (2\n") == ["line 2: syntax error: '(' was never closed"]


def test_check_expression_reports_syntax_error():
    assert check_expression("amount >") == ["syntax error: invalid syntax"]


def test_check_expression_rejects_empty():
    assert check_expression("   ") == ["the expression is empty"]


@pytest.mark.parametrize("source", ["${amount > 100}", "#{approved}", "  ${a == 'b' && c}  "])
def test_check_expression_rejects_juel(source):
    assert check_expression(source) == [JUEL_MESSAGE]


def test_check_script_rejects_juel_inside_a_line():
    assert check_script("x = 1\ny = ${amount}") == [f"line 2: {JUEL_MESSAGE}"]


def test_check_expression_allows_dollar_brace_inside_a_string():
    assert check_expression("note == 'costs ${x}'") == []


def test_check_script_explains_item_augmented_assignment():
    problems = check_script("counts['a'] += 1")
    assert problems == ["line 1: 'counts['a'] += ...' is not allowed; write counts['a'] = counts['a'] + ..."]


def test_check_expression_reports_syntax_warning_instead_of_warning():
    # pytest turns warnings into errors, so this also proves nothing leaks out as a warning.
    assert check_expression("kind is 'labor'") == ['"is" with a literal. Did you mean "=="?']


def test_check_expression_passes_restricted_python_refusals_through():
    # Not in our own rules, but RestrictedPython refuses it; the designer still hears about it.
    assert check_script("try:\n    x = 1\nexcept* ValueError:\n    pass") == [
        "line 1: TryStar statements are not allowed."]


@pytest.mark.parametrize("source", [
    "amount > 100000 and dispute_type in ('labor', 'family') and len(parties) >= 2",
    "party['name'] == 'A' and parties[0]['role'] != 'x'",
    "sorted(parties, key=lambda p: p['age'])[0]['name']",
    "f\"{amount} yuan\"",
    "'%s-%d' % (kind, 3)",
    "legal_days(30)",
    "amount if amount > 0 else -amount",
    "(n := len(parties)) > 1",
    "# a comment only after\namount",
])
def test_check_expression_accepts_ordinary_conditions(source):
    assert check_expression(source) == []


def test_check_script_accepts_ordinary_script():
    script = (
        "total = 0\n"
        "for p in parties:\n"
        "    total = total + p['claim']\n"
        "def fee(x):\n"
        "    return round(x * 0.01, 2)\n"
        "charge = fee(total)\n"
        "flags = {'big': total > 1000}\n"
        "counter += 1\n"
        "try:\n"
        "    ratio = total / count\n"
        "except ZeroDivisionError:\n"
        "    ratio = None\n"
    )
    assert check_script(script) == []


def test_check_script_accepts_indented_block_from_xml():
    assert check_script("\n    x = 1\n    y = x + 1\n") == []


# --------------------------------------------------------------------------------------------------------------
# Deploy time: timers

@pytest.mark.parametrize("source, kind", [
    ("P30D", "timeDuration"),
    ("PT4H", "timeDuration"),
    ("2026-01-01T00:00:00", "timeDate"),
    ("2026-01-01", "timeDate"),
    ("R3/PT1H", "timeCycle"),
    ("  P1Y2M  ", "timeDuration"),
    ("30", "timeDuration"),
])
def test_check_timer_expression_rejects_bare_literal(source, kind):
    assert check_timer_expression(source, kind) == [TIMER_HINT]
    assert TIMER_HINT == ('timer value must be a quoted string such as "P30D" or an expression such as '
                          'legal_days(30)')


@pytest.mark.parametrize("source, kind", [
    ('"P30D"', "timeDuration"),
    ("'PT4H'", "timeDuration"),
    ('"P1DT12H"', "timeDuration"),
    ('"P0.5D"', "timeDuration"),
    ('"2026-01-01T09:00:00+08:00"', "timeDate"),
    ('"2026-01-01T09:00:00"', "timeDate"),
    ('"2026-01-01"', "timeDate"),
    ('"R3/PT1H"', "timeCycle"),
    ('"R/P1D"', "timeCycle"),
    ('"R2/2026-01-01T09:00:00+08:00/P1D"', "timeCycle"),
    ("legal_days(30)", "timeDate"),
    ("workdays(due_from, 5)", "timeDate"),
    ("'P%dD' % days", "timeDuration"),
])
def test_check_timer_expression_accepts_quoted_literal_or_expression(source, kind):
    assert check_timer_expression(source, kind) == []


@pytest.mark.parametrize("source, kind, expected_start", [
    ('"30 days"', "timeDuration", '"30 days" is not an ISO 8601 duration'),
    ('"P"', "timeDuration", '"P" is not an ISO 8601 duration'),
    ('"PT"', "timeDuration", '"PT" is not an ISO 8601 duration'),
    ('"30D"', "timeDuration", '"30D" is not an ISO 8601 duration'),
    ('"P1W2D"', "timeDuration", '"P1W2D" is not an ISO 8601 duration'),  # SpiffWorkflow refuses weeks + days
    ('"P30D"', "timeDate", '"P30D" is not an ISO 8601 date or date-time'),
    ('"2026-13-01"', "timeDate", '"2026-13-01" is not an ISO 8601 date or date-time'),
    ('"tomorrow"', "timeDate", '"tomorrow" is not an ISO 8601 date or date-time'),
    ('"PT1H"', "timeCycle", '"PT1H" is not an ISO 8601 repeating interval'),
    ('"R3/soon"', "timeCycle", '"R3/soon" is not an ISO 8601 repeating interval'),
])
def test_check_timer_expression_validates_quoted_literal(source, kind, expected_start):
    problems = check_timer_expression(source, kind)
    assert len(problems) == 1 and problems[0].startswith(expected_start), problems


def test_check_timer_expression_rejects_escape_and_juel():
    problems = check_timer_expression("__import__('os').system('echo pwned') and 'PT1H'", "timeDuration")
    assert problems == ["the name '__import__' is not allowed: names starting with '_' are reserved"]
    assert check_timer_expression("${dueDate}", "timeDate") == [JUEL_MESSAGE]


def test_check_timer_expression_adds_hint_to_syntax_error():
    assert check_timer_expression("legal_days(30", "timeDate") == ["syntax error: '(' was never closed", TIMER_HINT]


def test_check_timer_expression_rejects_unknown_kind():
    with pytest.raises(ValueError, match="unknown timer kind"):
        check_timer_expression('"P1D"', "timeout")


# --------------------------------------------------------------------------------------------------------------
# Run time: evaluate / execute

@pytest.mark.parametrize("source, named", ESCAPE_EXPRESSIONS)
def test_evaluate_refuses_known_escape(source, named):
    with pytest.raises(SandboxError) as caught:
        evaluate(source, {"x": 1})
    assert named in caught.value.message and "not allowed" in caught.value.message
    assert caught.value.message.startswith("expression not allowed: ")


@pytest.mark.parametrize("source, named", ESCAPE_EXPRESSIONS)
def test_execute_refuses_known_escape_and_changes_nothing(source, named):
    data = {"x": 1, "sentinel": ["clean"]}
    with pytest.raises(SandboxError) as caught:
        execute(f"sentinel.append('pwned')\nresult = {source}", data)
    assert named in caught.value.message
    assert caught.value.details["line"] == 2
    assert data == {"x": 1, "sentinel": ["clean"]}


def test_evaluate_refuses_os_system_without_side_effect(tmp_path):
    marker = tmp_path / "pwned.txt"
    with pytest.raises(SandboxError, match="__import__"):
        evaluate(f"__import__('os').system('touch {marker}') == 0", {})
    assert not marker.exists()


def test_execute_refuses_import_without_side_effect(tmp_path):
    marker = tmp_path / "pwned.txt"
    data: dict = {}
    with pytest.raises(SandboxError, match=r"line 1: imports are not allowed \('import os'\)"):
        execute(f"import os\nos.system('touch {marker}')\nx = 1", data)
    assert not marker.exists() and data == {}


def test_execute_refuses_open():
    with pytest.raises(SandboxError, match="'open' is not allowed"):
        execute("secret = open('/etc/passwd').read()", {})


@pytest.mark.parametrize("source", [
    "__import__('os').system('touch {marker}')",
    "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close']"
    "[0].__init__.__globals__['system']('touch {marker}')",
    "getattr(getattr(x, '__class__'), '__base__')",
    "'{{0.__class__}}'.format(x)",
    "str.format('{{0.__class__}}', x)",
    "type(x).__subclasses__()",
    "(lambda: 0).__globals__",
    "(x for x in []).gi_frame.f_back.f_globals",
    "open('{marker}', 'w').write('pwned')",
    "__builtins__['open']('{marker}', 'w')",
    "int.mro()[1].__subclasses__()",
])
def test_sandbox_holds_even_without_the_static_rules(monkeypatch, tmp_path, source):
    """Defence in depth: with our AST rules switched off, RestrictedPython and the guards still refuse."""
    monkeypatch.setattr(rules._RuleChecker, "_add", lambda self, node, message: None)
    marker = tmp_path / "pwned.txt"
    expression = source.format(marker=marker)
    assert check_expression("type(x)") == []  # the static rules really are off
    with pytest.raises((SandboxError, NameError, AttributeError)):
        evaluate(expression, {"x": 1})
    assert not marker.exists()


def test_guarded_getattr_refuses_format_dunders_and_frames():
    generator = (x for x in [])
    with pytest.raises(SandboxError, match="format"):
        guards._guarded_getattr("{0.__class__}", "format")
    with pytest.raises(SandboxError, match="format_map"):
        guards._guarded_getattr("{0.__class__}", "format_map")
    with pytest.raises(SandboxError, match="reserved"):
        guards._guarded_getattr((), "__class__")
    with pytest.raises(SandboxError, match="gi_frame"):
        guards._guarded_getattr(generator, "gi_frame")
    assert guards._guarded_getattr("a,b", "split")(",") == ["a", "b"]


def test_guarded_getattr_raises_on_missing_attribute_instead_of_returning_none():
    with pytest.raises(AttributeError, match="'dict' value has no attribute 'nmae'"):
        evaluate("party.nmae", {"party": {"name": "A"}})


def test_guarded_write_allows_only_task_data_containers():
    assert guards._guarded_write(d := {}) is d
    assert guards._guarded_write(items := []) is items
    with pytest.raises(SandboxError, match="a function cannot be changed"):
        execute("def f():\n    return 1\nf.x = 2", {})


def test_evaluate_arithmetic_and_comparisons():
    names = {"amount": 200000, "rate": 0.05, "count": 3}
    assert evaluate("amount * rate + count", names) == 10003.0
    assert evaluate("amount // 7 % 5", names) == (200000 // 7) % 5
    assert evaluate("amount > 100000 and count <= 3 and not rate == 0", names) is True
    assert evaluate("amount < 100000 or count != 3", names) is False


def test_evaluate_reads_dicts_and_lists_from_task_data():
    names = {"party": {"name": "张三", "roles": ["applicant"]}, "parties": [{"name": "A"}, {"name": "B"}]}
    assert evaluate("party['name']", names) == "张三"
    assert evaluate("party.get('missing', 'none')", names) == "none"
    assert evaluate("parties[1]['name'] + parties[0]['name']", names) == "BA"
    assert evaluate("[p['name'] for p in parties if p['name'] != 'A']", names) == ["B"]
    assert evaluate("len(parties) >= 2 and 'applicant' in party['roles']", names) is True


def test_evaluate_membership():
    assert evaluate("dispute_type in ['labor', 'family']", {"dispute_type": "family"}) is True
    assert evaluate("dispute_type in ('labor', 'family')", {"dispute_type": "land"}) is False
    assert evaluate("'x' not in {'a': 1}", {}) is True


def test_evaluate_builtins_and_lambdas():
    names = {"claims": [3, 1, 2]}
    assert evaluate("sorted(claims, key=lambda c: -c)", names) == [3, 2, 1]
    assert evaluate("(min(claims), max(claims), sum(claims), abs(-2), round(2.567, 2))", names) == (1, 3, 6, 2, 2.57)
    assert evaluate("any(c > 2 for c in claims) and all(c > 0 for c in claims)", names) is True
    assert evaluate("dict(zip(['a', 'b'], [1, 2]))", names) == {"a": 1, "b": 2}
    assert evaluate("list(enumerate(range(2)))", names) == [(0, 0), (1, 1)]
    assert evaluate("isinstance(claims, list) and int('3') + float('0.5')", names) == 3.5


def test_evaluate_calls_helpers_passed_as_names():
    assert evaluate("double(amount) > 300", {"amount": 200, "double": lambda x: x * 2}) is True


def test_evaluate_datetime_reads_engine_clock():
    moment = datetime(2026, 3, 2, 1, 30, tzinfo=timezone.utc)
    with running_at(moment):
        assert evaluate("datetime.now().isoformat()", {}) == "2026-03-02T09:30:00+08:00"
        assert evaluate("date.today()", {}) == date(2026, 3, 2)
        assert evaluate("datetime.fromisoformat(due) < datetime.now()", {"due": "2026-03-01T00:00:00+08:00"})
        assert evaluate("isinstance(datetime.now(), datetime)", {}) is True
        assert evaluate("(datetime(2026, 1, 1) + timedelta(days=2)).day", {}) == 3


def test_evaluate_surfaces_ordinary_errors_unchanged():
    with pytest.raises(NameError, match="amout"):
        evaluate("amout > 1", {"amount": 1})
    with pytest.raises(ZeroDivisionError):
        evaluate("1 / zero", {"zero": 0})


def test_execute_assignments_land_in_task_data():
    data = {"amount": 100, "parties": [{"name": "A"}]}
    execute("total = amount * 2\nnames = [p['name'] for p in parties]\nok = True", data)
    assert data == {"amount": 100, "parties": [{"name": "A"}], "total": 200, "names": ["A"], "ok": True}


def test_execute_keeps_script_functions_and_helpers_out_of_task_data():
    data = {"amount": 100}
    execute("def fee(x):\n    return x // 10\ncharge = fee(amount) + double(1)\nf = len", data,
            helpers={"double": lambda x: x * 2})
    assert data == {"amount": 100, "charge": 12}


def test_execute_allows_changes_to_task_data_containers_and_inplace_operators():
    data = {"items": [1], "info": {"n": 1}, "count": 1, "label": "a"}
    execute("items.append(2)\ninfo['n'] = info['n'] + 1\ncount += 4\nlabel += 'b'\nitems += [3]\n"
            "del info['n']\nfor k, v in [('x', 1)]:\n    info[k] = v\na, (b, c) = 1, (2, 3)", data)
    # Loop variables are script variables too, as with plain exec.
    assert data == {"items": [1, 2, 3], "info": {"x": 1}, "count": 5, "label": "ab", "a": 1, "b": 2, "c": 3,
                    "k": "x", "v": 1}


def test_execute_del_removes_variable_from_task_data():
    data = {"temp": 1, "keep": 2}
    execute("del temp", data)
    assert data == {"keep": 2}


def test_execute_applies_nothing_when_the_script_fails_midway():
    data = {"amount": 1}
    with pytest.raises(ZeroDivisionError):
        execute("first = 1\nsecond = amount / 0", data)
    assert data == {"amount": 1}


def test_execute_stores_dates_as_iso_text_and_tuples_as_lists():
    moment = datetime(2026, 3, 2, 1, 30, tzinfo=timezone.utc)
    data: dict = {}
    with running_at(moment):
        execute("due = datetime.now() + timedelta(days=1)\nday = date.today()\npair = (1, [due])", data)
    assert data == {"due": "2026-03-03T09:30:00+08:00", "day": "2026-03-02",
                    "pair": [1, ["2026-03-03T09:30:00+08:00"]]}


@pytest.mark.parametrize("script, complaint", [
    ("s = {1, 2}", "holds a set"),
    ("r = range(3)", "holds a range"),
    ("d = {1: 'a'}", "dict key 1 that is not text"),
    ("loop = []\nloop.append(loop)", "contains itself"),
    ("g = timedelta(days=1)", "holds a timedelta"),
])
def test_execute_refuses_values_task_data_cannot_store(script, complaint):
    data: dict = {}
    with pytest.raises(TaskFailed, match=complaint):
        execute(script, data)
    assert data == {}


def test_execute_leaves_private_keys_alone():
    data = {"_engine": {"v": 1}, "x": 1}
    execute("y = x", data)
    assert data == {"_engine": {"v": 1}, "x": 1, "y": 1}


def test_task_data_cannot_replace_the_guards():
    # Were the data keys to win over the guards, calling them would raise TypeError ('str'/'NoneType' not callable).
    data = {"_getattr_": "not a guard", "_write_": None, "x": "s"}
    assert evaluate("x.upper()", data) == "S"
    execute("items = [0]\nitems[0] = 1", data)
    assert data["items"] == [1] and data["_getattr_"] == "not a guard"


def test_compiled_code_is_cached_per_source(monkeypatch):
    calls = []
    real = compiler.compile_restricted_eval

    def counting(source, *args, **kwargs):
        calls.append(source)
        return real(source, *args, **kwargs)

    monkeypatch.setattr(compiler, "compile_restricted_eval", counting)
    for amount in (1, 2, 3):
        assert evaluate("amount + 1", {"amount": amount}) == amount + 1
    assert calls == ["amount + 1"]
    assert compiler._compile("amount + 1", "eval") is compiler._compile("amount + 1", "eval")
    assert compiler._compile.cache_info().maxsize == 4096


def test_refused_source_is_cached_too(monkeypatch):
    checks = []
    real_init = rules._RuleChecker.__init__

    def counting_init(self):
        checks.append(self)
        real_init(self)

    monkeypatch.setattr(rules._RuleChecker, "__init__", counting_init)
    for _ in range(3):
        with pytest.raises(SandboxError):
            evaluate("type(x)", {"x": 1})
    assert len(checks) == 1


# --------------------------------------------------------------------------------------------------------------
# SandboxedEnvironment

def test_environment_refuses_task_data_that_hides_a_used_helper():
    env = SandboxedEnvironment({"legal_days": lambda n: n})
    with pytest.raises(SandboxError, match="'legal_days' hide the helper"):
        env.evaluate("legal_days(3)", {"legal_days": 5})
    with pytest.raises(SandboxError, match="'legal_days' hide the helper"):
        env.execute("due = legal_days(3)", {"legal_days": 5})
    assert env.evaluate("x + 1", {"x": 1, "legal_days": 5}) == 2


def test_environment_refuses_script_assigning_a_helper_name():
    env = SandboxedEnvironment({"workdays": lambda n: n})
    data: dict = {}
    with pytest.raises(SandboxError, match="assigns to 'workdays'"):
        env.execute("workdays = 3", data)
    assert data == {}


def test_environment_keeps_helpers_and_data_objects_out_of_task_data():
    env = SandboxedEnvironment({"workdays": lambda n: n + 1})
    data = {"n": 1}
    assert env.execute("m = workdays(n) + shared", data, external_context={"shared": 10}) is True
    assert data == {"n": 1, "m": 12}


def test_environment_evaluate_returns_dates_as_iso_text():
    env = SandboxedEnvironment({})
    assert env.evaluate("datetime(2026, 1, 2, 9, 0)", {}) == "2026-01-02T09:00:00"
    assert env.evaluate("date(2026, 1, 2)", {}) == "2026-01-02"


@pytest.mark.parametrize("helpers, complaint", [
    ({"_x": len}, "not a usable Python name"),
    ({"for": len}, "not a usable Python name"),
    ({"len": len}, "clashes with a sandbox builtin"),
    ({"open": len}, "clashes with a sandbox builtin"),
    ({"rate": 3}, "not callable"),
])
def test_environment_rejects_bad_helpers(helpers, complaint):
    with pytest.raises(ValueError, match=complaint):
        SandboxedEnvironment(helpers)


def test_make_script_engine_returns_a_python_script_engine_with_the_sandbox():
    engine = make_script_engine({"double": lambda x: x * 2})
    assert isinstance(engine, PythonScriptEngine)
    assert isinstance(engine.environment, SandboxedEnvironment)
    assert engine.environment.helpers["double"](2) == 4


# --------------------------------------------------------------------------------------------------------------
# Through a real BpmnWorkflow

def _bpmn(script: str, condition: str, timer: str | None = None) -> str:
    """start -> script task -> [timer] -> exclusive gateway -> e_cond (if condition) / e_default."""
    timer_xml = ""
    after_script = "gw"
    if timer is not None:
        timer_xml = (
            '<bpmn:intermediateCatchEvent id="wait"><bpmn:incoming>f2</bpmn:incoming>'
            '<bpmn:outgoing>f2b</bpmn:outgoing><bpmn:timerEventDefinition>'
            f'<bpmn:timeDuration>{escape(timer)}</bpmn:timeDuration></bpmn:timerEventDefinition>'
            '</bpmn:intermediateCatchEvent>'
            '<bpmn:sequenceFlow id="f2b" sourceRef="wait" targetRef="gw" />'
        )
        after_script = "wait"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="setup" scriptFormat="python"><bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing><bpmn:script>{escape(script)}</bpmn:script></bpmn:scriptTask>
    {timer_xml}
    <bpmn:exclusiveGateway id="gw" default="f_default"><bpmn:incoming>{"f2b" if timer else "f2"}</bpmn:incoming>
      <bpmn:outgoing>f_cond</bpmn:outgoing><bpmn:outgoing>f_default</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:endEvent id="e_cond"><bpmn:incoming>f_cond</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="e_default"><bpmn:incoming>f_default</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="setup" />
    <bpmn:sequenceFlow id="f2" sourceRef="setup" targetRef="{after_script}" />
    <bpmn:sequenceFlow id="f_cond" sourceRef="gw" targetRef="e_cond">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression"
        xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">{escape(condition)}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_default" sourceRef="gw" targetRef="e_default" />
  </bpmn:process>
</bpmn:definitions>"""


def _workflow(script: str, condition: str, helpers: dict | None = None, timer: str | None = None) -> BpmnWorkflow:
    parser = CamundaParser()
    parser.add_bpmn_str(_bpmn(script, condition, timer).encode())
    return BpmnWorkflow(parser.get_spec("p"), script_engine=make_script_engine(helpers or {}))


def _ended_at(workflow: BpmnWorkflow) -> list[str]:
    return [t.task_spec.name for t in workflow.get_tasks(state=TaskState.COMPLETED)
            if t.task_spec.name.startswith("e_")]


def _task(workflow: BpmnWorkflow, name: str):
    return next(t for t in workflow.get_tasks() if t.task_spec.name == name)


def test_workflow_runs_benign_condition_script_and_helpers():
    workflow = _workflow(
        "amount = 200000\ndispute_type = 'labor'\nparties = ['a', 'b']\n"
        "def share(x):\n    return x // len(parties)\nper_party = share(amount)\ndoubled = double(amount)",
        "amount > 100000 and dispute_type in ('labor', 'family') and len(parties) >= 2 and double(1) == 2",
        helpers={"double": lambda x: x * 2},
    )
    workflow.do_engine_steps()
    assert workflow.is_completed() and _ended_at(workflow) == ["e_cond"]
    data = _task(workflow, "e_cond").data
    assert data == {"amount": 200000, "dispute_type": "labor", "parties": ["a", "b"], "per_party": 100000,
                    "doubled": 400000}


def test_workflow_takes_default_flow_when_condition_is_false():
    workflow = _workflow("amount = 5", "amount > 100")
    workflow.do_engine_steps()
    assert _ended_at(workflow) == ["e_default"]


def test_workflow_gateway_condition_escape_fails_the_task_and_never_runs(tmp_path):
    marker = tmp_path / "pwned.txt"
    workflow = _workflow("amount = 1", f"__import__('os').system('touch {marker}') == 0")
    with pytest.raises(WorkflowTaskException) as caught:
        workflow.do_engine_steps()
    message = str(caught.value)
    assert "the name '__import__' is not allowed" in message
    assert isinstance(caught.value.__cause__, SandboxError)
    assert not marker.exists()
    assert _ended_at(workflow) == [] and not workflow.is_completed()
    assert _task(workflow, "gw").state == TaskState.ERROR


def test_workflow_subclass_escape_leaves_sentinel_untouched(tmp_path):
    marker = tmp_path / "pwned.txt"
    condition = (
        "sentinel.append('pwned') or [c for c in ().__class__.__base__.__subclasses__() "
        f"if c.__name__ == '_wrap_close'][0].__init__.__globals__['system']('touch {marker}') == 0"
    )
    workflow = _workflow("sentinel = ['clean']", condition)
    with pytest.raises(WorkflowTaskException, match="attribute '.__class__' is not allowed"):
        workflow.do_engine_steps()
    assert _task(workflow, "gw").data["sentinel"] == ["clean"]
    assert not marker.exists() and _ended_at(workflow) == []


@pytest.mark.parametrize("condition, named", [
    ("getattr(amount, '__class__') is None", "'getattr' is not allowed"),
    ("'{0.__class__}'.format(amount) == ''", "'.format()' is not allowed"),
    ("type(amount) == int", "'type' is not allowed"),
    ("(lambda: 0).__globals__ is None", "'.__globals__' is not allowed"),
    ("(x for x in []).gi_frame is None", "'.gi_frame' is not allowed"),
    ("__builtins__ is None", "'__builtins__' is not allowed"),
    ("open('/etc/passwd').read() != ''", "'open' is not allowed"),
])
def test_workflow_gateway_refuses_escape_with_named_problem(condition, named):
    workflow = _workflow("amount = 1", condition)
    with pytest.raises(WorkflowTaskException, match=re.escape(named)):
        workflow.do_engine_steps()
    assert _ended_at(workflow) == []


def test_workflow_script_import_fails_with_line_and_no_side_effect(tmp_path):
    marker = tmp_path / "pwned.txt"
    workflow = _workflow(f"x = 1\nimport os\nos.system('touch {marker}')", "True")
    with pytest.raises(WorkflowTaskException) as caught:
        workflow.do_engine_steps()
    assert "imports are not allowed ('import os')" in str(caught.value)
    assert caught.value.line_number == 2 and caught.value.error_line == "import os"
    assert not marker.exists()
    assert _task(workflow, "setup").state == TaskState.ERROR
    assert "x" not in _task(workflow, "setup").data


def test_workflow_script_open_fails_with_named_problem():
    workflow = _workflow("secret = open('/etc/passwd').read()", "True")
    with pytest.raises(WorkflowTaskException, match="'open' is not allowed"):
        workflow.do_engine_steps()


def test_workflow_timer_expression_escape_fails(tmp_path):
    marker = tmp_path / "pwned.txt"
    workflow = _workflow("x = 1", "True", timer=f"__import__('os').system('touch {marker}') and 'PT1H' or 'PT1H'")
    with pytest.raises(WorkflowTaskException, match="'__import__' is not allowed"):
        workflow.do_engine_steps()
    assert not marker.exists()


def test_workflow_timer_with_quoted_duration_waits():
    workflow = _workflow("x = 1", "True", timer="'PT1H'")
    workflow.do_engine_steps()
    assert _task(workflow, "wait").state == TaskState.WAITING


def test_workflow_error_message_names_the_runtime_cause():
    # SpiffWorkflow 3.2 alone says only "Error evaluating expression '...'".
    workflow = _workflow("amount = 1\nzero = 0", "amount / zero > 1")
    with pytest.raises(WorkflowTaskException, match="ZeroDivisionError: division by zero"):
        workflow.do_engine_steps()


def test_workflow_script_error_with_non_text_key_is_reported():
    # SpiffWorkflow 3.2 builds the message with `":" + err.args[0]`, a TypeError for KeyError(1).
    workflow = _workflow("d = {}\nx = d[1]", "True")
    with pytest.raises(WorkflowTaskException, match="KeyError: 1") as caught:
        workflow.do_engine_steps()
    assert caught.value.line_number == 2


def test_workflow_script_assigning_a_helper_name_fails_clearly():
    workflow = _workflow("legal_days = 3", "legal_days(1) > 0", helpers={"legal_days": lambda n: n})
    with pytest.raises(WorkflowTaskException, match="assigns to 'legal_days'"):
        workflow.do_engine_steps()

