"""The one place that decides what BPMN expressions and scripts may do: deploy-time checks and the run-time sandbox.

SpiffWorkflow 3.2 runs conditions, timer values and script tasks with plain ``eval``/``exec`` over the task data,
which is escapable (see DESIGN.md, "SpiffWorkflow 3.2 facts"). This module replaces that with two layers:

1. A static rule check on the parsed source (``check_expression``, ``check_script``, ``check_timer_expression``)
   whose messages are written for a process designer. The same check runs again before anything is compiled at
   run time, so a process that slipped past deployment still cannot run a forbidden construct.
2. RestrictedPython compilation with our own guards and a short list of builtins, so that even a construct the
   static check missed meets a guard (attribute access, writes, in-place operators) or a missing name.

Task data is JSON-ish (dict, list, str, numbers, bool, None); datetimes are stored as ISO strings.

Limits (issue 15, M1). RestrictedPython guards what code may *reach*, not what it may *cost*: ``while True: pass``,
``10**10**10`` or ``list(range(3*10**7))`` would spin or allocate inside the command's transaction (holding SQLite's
write lock). A worker process per evaluation would bound everything but costs milliseconds per condition on the hot
path, and ``resource`` limits are per process, not per thread of a web server. So the budget is enforced in-process,
by the code RestrictedPython already makes every script call, plus a few hooks of our own (``_BudgetedPolicy``,
a subclass of its RestrictingNodeTransformer):

* **CPU time** (``time.thread_time``, so other threads' work is not counted): every loop iteration (``_getiter_``
  meters ``for`` loops and comprehensions; ``while`` bodies, function bodies, lambdas and ``except`` blocks start
  with ``_tick_()``) counts a step, and every 64th step looks at the clock (see ``_Budget``: the monotonic clock,
  and the thread's CPU clock, a system call, only once wall time has passed the limit).
* **Memory**: the operators that can build a huge object in one bytecode (``+ * ** << %`` and their augmented
  forms) go through ``_binop_``, which computes the result's size *before* computing it; integers are capped at
  ``MAX_INT_BITS``. The builtins and methods that materialise (list, tuple, dict, set, sorted, sum/min/max over an
  iterable, str.join, ljust/center/zfill, replace, split, list.append/extend, dict.update...) charge their estimated
  size, and comprehensions charge each item. One evaluation may add at most the configured memory (an estimate of
  the bytes it adds, not the process's RSS, so a concurrent request never fails another and replay is repeatable).
* **Output**: the task data a script writes (and an expression's value) is measured before it is stored.

Exceeding a limit raises an internal BaseException (so ``except Exception`` in a script cannot swallow it; bare
``except:`` blocks re-raise it at their first ``_tick_()``), which leaves the sandbox as ``LimitExceeded``; the
command fails and its transaction rolls back. Constant cases (``10**10**10``, ``'x' * 10**10``, ``while True``
without ``break``/``return``/``raise``) are refused statically, at deploy. What stays out of reach: a single C-level
operation on data already within the memory budget (sorting it, comparing or hashing deeply shared structures)
runs to its end before the next check.

Determinism (issue 15, L6): replay must store what the first run stored, in any process. Sets built in the
sandbox (literals, comprehensions, ``set()``/``frozenset()`` and the results of their operators) iterate in a
stable sorted order, and functions print as ``<function name>`` instead of their memory address.

Limits travel with the engine, never through module-global state: ``make_script_engine(helpers, limits)`` builds a
script engine that enforces its own ``Limits`` (the Runtime passes ``Runtime.script_limits``), and ``evaluate``,
``execute`` and the deploy checks take ``limits=`` (``DEFAULT_LIMITS`` when not given). Two runtimes in one
process with different limits each enforce their own.

The package, one idea per module (no module imports another that imports it back):

* ``limits``     -- Limits, LimitExceeded, the per-evaluation budget and its size estimates;
* ``values``     -- stable sets and text, the budgeted stand-ins for builtins, datetime/date on the engine clock;
* ``operators``  -- ``_binop_``, ``_inplacevar_`` and ``_format_``: operators that can build a huge value;
* ``methods``    -- budgeted str/list/dict/set methods;
* ``names``      -- forbidden names and attributes, the sandbox's builtins;
* ``guards``     -- the run-time guards RestrictedPython's code calls, and the reserved globals;
* ``rules``      -- the static rules (``_RuleChecker``) and deploy-time limit checks (``_LimitChecker``);
* ``compiler``   -- check-and-compile once per source (``_compile``), ``check_expression``, ``check_script``;
* ``timers``     -- ``check_timer_expression``;
* ``evaluation`` -- ``evaluate``, ``execute`` and the conversion to task data;
* ``spiff``      -- SpiffWorkflow's environment and script engine, ``make_script_engine``.
"""
from __future__ import annotations

from engine.scripting.compiler import Mode, check_expression, check_script
from engine.scripting.evaluation import Helpers, evaluate, execute
from engine.scripting.limits import DEFAULT_LIMITS, MAX_FORMAT_WIDTH, MAX_INT_BITS, LimitExceeded, Limits
from engine.scripting.names import BUILTIN_NAMES, FORBIDDEN_ATTRIBUTES, FORBIDDEN_NAMES
from engine.scripting.rules import JUEL_MESSAGE
from engine.scripting.spiff import SandboxedEnvironment, SandboxedScriptEngine, describe_error, make_script_engine
from engine.scripting.timers import TIMER_HINT, TIMER_KINDS, check_timer_expression
from engine.scripting.values import SandboxDate, SandboxDatetime, StableFrozenSet, StableSet

__all__ = [
    "BUILTIN_NAMES", "DEFAULT_LIMITS", "FORBIDDEN_ATTRIBUTES", "FORBIDDEN_NAMES", "JUEL_MESSAGE", "MAX_FORMAT_WIDTH",
    "MAX_INT_BITS", "TIMER_HINT", "TIMER_KINDS", "Helpers", "LimitExceeded", "Limits", "Mode", "SandboxDate",
    "SandboxDatetime", "SandboxedEnvironment", "SandboxedScriptEngine", "StableFrozenSet", "StableSet",
    "check_expression", "check_script", "check_timer_expression", "describe_error", "evaluate", "execute",
    "make_script_engine",
]
