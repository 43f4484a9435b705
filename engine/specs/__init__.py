"""Load, validate and prepare BPMN process definitions (specs) for the engine.

A *spec* is a process definition; a *case* is one run of it. This package turns the bytes of a deployment
(one or more Camunda 7 BPMN files) into ready-to-run SpiffWorkflow specs plus the facts the rest of the
engine needs (user tasks with roles, forms and due dates, timers and their legal basis), or rejects the
deployment with *every* problem found, each phrased for a process designer (element id, line, message).

Decisions (see also the report to the lead):

- XML is parsed with lxml without entity resolution, DTD loading or network access, and any DOCTYPE is
  rejected before parsing: no BPMN modeler writes one, and entity declarations are how XXE and
  "billion laughs" attacks work.
- Camunda 8 (`zeebe:`) files are rejected with a pointer to the Camunda Platform 7 export.
- Executability follows Camunda 7 for new deployments: only a `bpmn:process` with `isExecutable="true"`
  is deployed; `isExecutable="false"` *and a missing attribute* mean "documentation only" and are skipped.
  A file in which nothing is executable is rejected, naming its processes (Camunda 7 would silently deploy
  nothing, which only surprises people later).
- Expressions are Python, checked by `engine.scripting`. JUEL (`${...}`) conditions, loop and timer bodies and
  the task attributes jiefen evaluates are translated into Python when loaded, for a safe subset (juel.py);
  any other JUEL is rejected wherever it appears, with the construct named (documentation and Python script
  bodies excepted). Camunda 7 features the engine would silently ignore
  (Java/external service implementations, connectors, listeners, input/output and call-activity variable
  mappings, data stores, link and compensation events) are rejected, not skipped.
- Business rule tasks evaluate DMN decision tables deployed beforehand (dmn.py checks and translates them,
  decision_task.py runs them); the newest version of the named decision is embedded in the spec.
  A plain bpmn:serviceTask without implementation is accepted and does nothing, like a bpmn:task.
- Call activities must resolve, within the deployment or among already deployed files, to executable
  processes; recursive calls (a process calling itself, directly or not) are rejected because an unguarded
  one never reaches a wait state and would hang the worker. Unresolved bpmn:import locations are problems.
- SpiffWorkflow 3.2.0 work-arounds live in CamundaSpecParser (parser.py) / spec_serializer_config()
  (serialization.py): receive/send task messages, multi-instance markers on non-user tasks, message throws
  without a payload expression, and plain service tasks are all built so that the spec serializes and runs.
- The specs handed back are the ones restored from their own serialization, so a case started right after
  the deployment runs on exactly what later loads from the database.

Modules: xmldoc (safe loading, namespaces), values (attribute values), checks + user_task_checks (designer
checks), parser (CamundaSpecParser), spiff_errors (SpiffWorkflow exceptions as Problems), serialization
(spec JSON), facts (ProcessDefinition and what is derived from a spec); this module runs parse_files.
"""
from __future__ import annotations

import copy
import hashlib
import logging
import posixpath
from pathlib import Path
from typing import Iterable

from lxml import etree
from SpiffWorkflow.camunda.specs.user_task import UserTask

from engine import scripting
from engine.errors import Problem, ProcessDefinitionError
from engine.specs import dmn, juel
from engine.specs.checks import _check_duplicate_ids, _Checker
from engine.specs.decision_task import DecisionTask
from engine.specs.facts import (FormField, ProcessDefinition, UserTaskInfo, _first_user_tasks, _jiefen_properties,
                                _process_name, _start_form, _timer_docs, _user_task_info, data_labels,
                                outcome_class_id, roles_named)
from engine.specs.parser import CamundaSpecParser
from engine.specs.serialization import _round_trip, restore_spec, serialize_spec, spec_serializer_config
from engine.specs.spiff_errors import _spiff_problem
from engine.specs.values import _has_juel, _split_list
from engine.specs.xmldoc import _b, _c, _Doc, _load_doc

log = logging.getLogger(__name__)

__all__ = [
    "FormField", "UserTaskInfo", "ProcessDefinition", "CamundaSpecParser",
    "parse_files", "load_directory", "serialize_spec", "restore_spec", "spec_serializer_config", "roles_named",
    "data_labels", "outcome_class_id", "load_decision_tables",
]


def load_directory(path: str | Path) -> dict[str, bytes]:
    """All *.bpmn and *.bpmn20.xml files of a directory (not recursive), by file name."""
    folder = Path(path)
    out: dict[str, bytes] = {}
    for item in sorted(folder.iterdir()):
        if item.is_file() and (item.name.endswith(".bpmn") or item.name.endswith(".bpmn20.xml")):
            out[item.name] = item.read_bytes()
    return out


def load_decision_tables(path: str | Path) -> dict[str, dict]:
    """The translated tables of the DMN files of a directory, by decision id (what parse_files' `decisions`
    takes when a folder of BPMN and DMN files is checked together). Raises ProcessDefinitionError."""
    files = {item.name: item.read_bytes() for item in sorted(Path(path).iterdir())
             if item.is_file() and dmn.is_dmn_name(item.name)}
    return {d.decision_id: d.table for d in dmn.parse_decisions(files)} if files else {}


def _is_executable(proc: etree._Element) -> bool:
    # Exactly "true", as SpiffWorkflow's parser reads it (xsd:boolean's "1" is not executable in Camunda either).
    return proc.get("isExecutable") == "true"


def _executable_note(proc: etree._Element) -> str:
    value = proc.get("isExecutable")
    return "no isExecutable attribute" if value is None else f'isExecutable="{value}"'


def _resolve_import(location: str, importer: str, names: Iterable[str]) -> bool:
    names = list(names)
    wanted = posixpath.normpath(posixpath.join(posixpath.dirname(importer), location.replace("\\", "/")))
    if wanted in names:
        return True
    base = posixpath.basename(wanted)
    return any(posixpath.basename(n) == base for n in names)


def parse_files(files: dict[str, bytes], available: dict[str, bytes] | None = None,
                limits: scripting.Limits = scripting.DEFAULT_LIMITS,
                decisions: dict[str, dict] | None = None) -> list[ProcessDefinition]:
    """Validate a deployment and prepare one ProcessDefinition per executable process in `files`.

    `available` holds other, already deployed files; they are used to resolve call activities and imports
    (and are not validated again). `limits`: the script limits the cases will run under (the runtime's).
    `decisions`: decision id → the translated table (dmn.py) of its newest deployed version, which a business
    rule task naming it embeds.
    Raises ProcessDefinitionError listing every problem found.
    """
    if not files:
        raise ProcessDefinitionError("Nothing to deploy", [Problem("The deployment contains no BPMN file.")])
    docs = {name: _translated(_load_doc(name, data)) for name, data in files.items()}
    others: dict[str, _Doc] = {}
    for name, data in sorted((available or {}).items()):  # sorted: a deterministic pick among duplicates
        if name in files:
            continue  # the new version of a file replaces the deployed one
        other = _translated(_load_doc(name, data))
        if other.fatal:
            log.debug("ignoring unusable available file %s", name)
        else:
            others[name] = other

    # Top-level processes by id: the deployment first, then what is deployed already.
    index: dict[str, tuple[_Doc, etree._Element]] = {}
    for doc in docs.values():
        if doc.fatal:
            continue
        for proc in doc.processes:
            pid = proc.get("id")
            if not pid:
                doc.problem("A process has no id.", proc)
            elif pid in index:
                first_doc, first_el = index[pid]
                doc.problem(f"The process id '{pid}' is defined more than once in this deployment (also in "
                            f"{first_doc.name}, line {first_el.sourceline}).", proc, element_id=pid)
            else:
                index[pid] = (doc, proc)
    for other in others.values():
        for proc in other.processes:
            pid = proc.get("id")
            if pid and pid not in index:
                index[pid] = (other, proc)
            elif pid and index[pid][0].name in others:
                log.debug("process %s is defined in deployed files %s and %s; using the first",
                          pid, index[pid][0].name, other.name)

    # Designer-level checks of every executable process.
    executable: list[tuple[_Doc, etree._Element]] = []
    for doc in docs.values():
        if doc.fatal:
            continue
        _check_duplicate_ids(doc)
        procs = doc.processes
        runnable = [p for p in procs if _is_executable(p)]
        if not procs:
            assert doc.root is not None
            doc.problem("The file contains no process, so there is nothing to deploy (a collaboration needs at least "
                        "one pool with a process).", line=doc.root.sourceline)
        elif not runnable:
            listed = ", ".join(f"'{p.get('id')}' ({_executable_note(p)})" for p in procs)
            doc.problem(f"No process in this file is executable, so there is nothing to deploy: {listed}. Like "
                        "Camunda 7, the engine deploys only processes marked executable: tick 'Executable' on the "
                        "process (pool) in the modeler.", procs[0], element_id=procs[0].get("id"))
        if runnable:
            for imp in doc.root.iter(_b("import")):
                location = (imp.get("location") or "").strip()
                if location and not _resolve_import(location, doc.name, [*files, *others]):
                    doc.problem(f"This file imports '{location}', which is neither in this deployment nor deployed "
                                "before; add that file to the deployment or remove the import.", imp,
                                element_id=imp.get("id"))
        for proc in runnable:
            _Checker(doc, proc, limits, decisions).run()
            executable.append((doc, proc))

    # Call activities must resolve (transitively) to executable processes we can load.
    needed_others: dict[str, _Doc] = {}
    unresolved: set[str] = set()  # process ids of `files` whose call tree cannot be built
    call_ok: dict[str, bool] = {}  # process id -> its call tree resolves (memo)

    def resolve_calls(doc: _Doc, proc: etree._Element, chain: tuple[str, ...]) -> bool:
        pid = proc.get("id")
        if pid in call_ok:
            return call_ok[pid]
        ok = True
        for call in proc.iter(_b("callActivity")):
            called = (call.get("calledElement") or "").strip()
            if not called or _has_juel(called):
                ok = False  # already reported
                continue
            target = index.get(called)
            if target is None:
                doc.problem(f"The call activity calls process '{called}', which is neither in this deployment nor "
                            "deployed before.", call)
                ok = False
                continue
            target_doc, target_proc = target
            if not _is_executable(target_proc):
                doc.problem(f"The call activity calls process '{called}' ({target_doc.name}), which is not "
                            "executable (isExecutable is not true).", call)
                ok = False
                continue
            if called in chain:
                # Each call runs inside the same engine step: an unconditional self-call never reaches a wait
                # state and would hang the worker, so recursion is refused outright.
                loop = " → ".join([*chain[chain.index(called):], called])
                doc.problem(f"The call activity calls process '{called}', which is already running higher up in "
                            f"this call chain ({loop}); recursive calls are not supported.", call)
                ok = False
                continue
            if target_doc.name in others:
                needed_others[target_doc.name] = target_doc
            if not resolve_calls(target_doc, target_proc, (*chain, called)):
                ok = False
        call_ok[pid] = ok
        return ok

    for doc, proc in executable:
        if not resolve_calls(doc, proc, (proc.get("id"),)):
            unresolved.add(proc.get("id"))

    problems = [p for doc in docs.values() for p in doc.problems]
    problems += [p for doc in needed_others.values() for p in doc.problems]
    definitions: list[ProcessDefinition] = []
    if executable:
        definitions, spiff_problems = _build(docs, needed_others, index, executable, unresolved, decisions or {})
        known = {(p.file, p.element_id) for p in problems}
        # SpiffWorkflow stops at the first problem per process; ours are more specific, so keep ours.
        problems += [p for p in spiff_problems if (p.file, p.element_id) not in known or p.element_id is None]

    problems = _dedupe(problems)
    if problems:
        names = ", ".join(sorted(files))
        first = problems[0]
        where = f"{first.file}" + (f" line {first.line}" if first.line else "")
        raise ProcessDefinitionError(
            f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {names} (first: {where}: {first.message})",
            problems)
    log.debug("parsed %d process definition(s) from %s", len(definitions), sorted(files))
    return definitions


def _translated(doc: _Doc) -> _Doc:
    """JUEL conditions and task attributes translated in the loaded tree (juel.py); what cannot be is kept for
    the designer's check to report with the construct named."""
    if not doc.fatal and doc.root is not None:
        doc.juel_refused = juel.translate_document(doc.root)
    return doc


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple] = set()
    out: list[Problem] = []
    for p in problems:
        key = (p.file, p.element_id, p.line, p.message)
        if key not in seen:
            seen.add(key)
            out.append(p)
    out.sort(key=lambda p: (p.file or "", p.line or 0))
    return out


def _build(docs: dict[str, _Doc], needed_others: dict[str, _Doc], index: dict[str, tuple[_Doc, etree._Element]],
           executable: list[tuple[_Doc, etree._Element]],
           unresolved: set[str], decisions: dict[str, dict]) -> tuple[list[ProcessDefinition], list[Problem]]:
    """Run SpiffWorkflow's parser over the deployment, collecting its problems, and build the definitions."""
    all_docs = {**needed_others, **docs}
    problems: list[Problem] = []
    parser = CamundaSpecParser(decisions)
    file_pids = {pid for pid, (doc, _) in index.items() if doc.name in docs}
    runnable_docs = {doc.name for doc, _ in executable}
    failed: set[str] = set()
    for doc in [*docs.values(), *needed_others.values()]:
        if doc.fatal or doc.tree is None or (doc.name in docs and doc.name not in runnable_docs):
            continue
        superseded = file_pids if doc.name in needed_others else set()
        try:
            parser.add_bpmn_xml(_spiff_tree(doc, superseded), filename=doc.name)
        except Exception as exc:  # noqa: BLE001 - SpiffWorkflow raises many kinds; each becomes a Problem
            failed.update(p.get("id") for p in doc.processes)
            if doc.problems:
                # Our own checks already explain what SpiffWorkflow trips over (DMN, messages...).
                log.debug("SpiffWorkflow could not load %s: %r", doc.name, exc)
            else:
                problems.append(_spiff_problem(exc, all_docs, doc.name))

    def try_spec(pid: str, file_name: str | None) -> None:
        try:
            parser.get_spec(pid)
        except Exception as exc:  # noqa: BLE001
            failed.add(pid)
            problems.append(_spiff_problem(exc, all_docs, file_name))

    for doc, proc in executable:
        if proc.get("id") not in failed:
            try_spec(proc.get("id"), doc.name)
    # Embedded subprocesses get their own parsers while the parents parse; parse each on its own so one
    # broken subprocess does not hide the problems of another.
    done: set[str] = {proc.get("id") for _, proc in executable}
    while True:
        pending = [(pid, pp) for pid, pp in parser.process_parsers.items()
                   if pid not in done and pp.filename in docs and pid not in index]
        if not pending:
            break
        for pid, pp in pending:
            done.add(pid)
            if pp.parent is not None and pp.parent.bpmn_id in failed:
                continue  # its parent failed part-way, so this parser may be half set up
            try_spec(pid, pp.filename)

    event_subprocesses = {el.get("id") for doc in all_docs.values() if doc.root is not None
                          for el in doc.root.iter(_b("subProcess")) if el.get("triggeredByEvent") == "true"}
    definitions: list[ProcessDefinition] = []
    for doc, proc in executable:
        pid = proc.get("id")
        if pid in failed or pid in unresolved:
            continue
        try:
            subs = parser.get_subprocess_specs(pid, require_call_activity_specs=False)
        except Exception as exc:  # noqa: BLE001
            problems.append(_spiff_problem(exc, all_docs, doc.name))
            continue
        if any(sub is None or name in failed for name, sub in subs.items()):
            continue  # reported above
        spec = parser.get_spec(pid)
        restored, problem = _round_trip(spec, subs, pid, all_docs, doc.name)
        if problem is not None:
            problems.append(problem)
            continue
        assert restored is not None
        spec, subs = restored
        all_specs = [spec, *subs.values()]
        user_tasks: dict[str, UserTaskInfo] = {}
        owners: dict[str, str] = {}
        clash = False
        for one in all_specs:
            for ts in one.task_specs.values():
                if not isinstance(ts, UserTask):
                    continue
                if ts.name in owners and owners[ts.name] != one.name:
                    problems.append(Problem(
                        message=f"User task id '{ts.bpmn_id}' is used in process '{owners[ts.name]}' and in "
                                f"'{one.name}', which it calls or contains; user task ids must be unique across "
                                "a process and the processes it calls.",
                        element_id=ts.bpmn_id, line=_line_in(all_docs, one.file, ts.bpmn_id), file=one.file))
                    clash = True
                owners[ts.name] = one.name
                user_tasks[ts.name] = _user_task_info(ts)
        if clash:
            continue
        starters = proc.get(_c("candidateStarterGroups"))
        definitions.append(ProcessDefinition(
            process_id=pid,
            name=_process_name(doc, proc),
            file_name=doc.name,
            xml=doc.data,
            sha256=hashlib.sha256(doc.data).hexdigest(),
            spec=spec,
            subprocess_specs=subs,
            user_tasks=user_tasks,
            start_roles=[g for g in _split_list(starters) if g] if starters and not _has_juel(starters) else [],
            first_user_tasks=_first_user_tasks(spec, subs, event_subprocesses),
            called_processes=[name for name in subs if name in index],
            timer_docs=_timer_docs([proc, *(index[name][1] for name in subs if name in index)]),
            jiefen_properties=_jiefen_properties(doc.root),
            start_form=_start_form(proc),
            decisions=_decisions_used(spec, subs),
        ))
    return definitions, problems


def _decisions_used(spec: object, subs: dict) -> dict[str, str]:
    """The decision tables the process embeds (its own and its called processes' business rule tasks): decision
    id → the sha256 of the DMN file of the embedded version."""
    out: dict[str, str] = {}
    for one in [spec, *subs.values()]:
        for task_spec in one.task_specs.values():
            if isinstance(task_spec, DecisionTask):
                out[task_spec.decision_id] = task_spec.dmnEngine.table.get("sha256", "")
    return dict(sorted(out.items()))


def _spiff_tree(doc: _Doc, superseded: set[str]) -> etree._ElementTree:
    """The tree SpiffWorkflow gets: without non-executable processes (Camunda 7 ignores them, SpiffWorkflow would
    still trip over their content), without processes a new deployment replaces, and without data store
    definitions (unsupported; references to them in executable processes are reported by the checks)."""
    assert doc.root is not None and doc.tree is not None
    drop = [p for p in doc.processes if not _is_executable(p) or p.get("id") in superseded]
    stores = doc.root.findall(_b("dataStore"))
    if not drop and not stores:
        return doc.tree
    drop_ids = {id(el) for el in [*drop, *stores]}
    root = etree.Element(doc.root.tag, attrib=dict(doc.root.attrib), nsmap=doc.root.nsmap)
    root.text = doc.root.text
    for child in doc.root:
        if id(child) not in drop_ids:
            root.append(copy.deepcopy(child))
    root.sourceline = doc.root.sourceline
    return etree.ElementTree(root)


def _line_in(docs: dict[str, _Doc], file_name: str | None, element_id: str | None) -> int | None:
    doc = docs.get(file_name or "")
    return doc.line_of(element_id) if doc is not None else None
