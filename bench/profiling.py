"""`--profile`: pyinstrument over jiefen lifecycles (the `bench` extra installs it); hot spots into the results.

Writes bench/.work/profile-lifecycle-<database>.html (the full call tree) and .txt, and puts the top functions
by own time and the time spent per layer (SQLite/PostgreSQL driver, SQLAlchemy, SpiffWorkflow, serializer,
sandbox, forms, jiefen) into results["profile"].
"""
from __future__ import annotations

from collections import defaultdict

from bench.common import WORK, Target, actor, log, rnd

LAYERS = (  # first match wins; matched against the frame's file path
    ("sqlite3 / fsync", ("sqlite3",)),
    ("psycopg / PostgreSQL", ("psycopg",)),
    ("SQLAlchemy", ("sqlalchemy",)),
    ("RestrictedPython sandbox", ("RestrictedPython", "engine/scripting/")),
    ("SpiffWorkflow serializer", ("SpiffWorkflow/bpmn/serializer", "SpiffWorkflow/camunda/serializer",
                                  "engine/serializer.py")),
    ("SpiffWorkflow engine", ("SpiffWorkflow",)),
    ("marshmallow forms", ("marshmallow", "engine/forms.py")),
    ("json", ("json/",)),
    ("jiefen engine", ("engine/",)),
    ("bench harness", ("bench/",)),
)


def _layer(path: str) -> str:
    for name, needles in LAYERS:
        if any(n in path for n in needles):
            return name
    return "other (stdlib, hashlib, uuid, …)"


def _layer_of(frame, parent_path: str) -> str:
    path = frame.file_path or ""
    if path and not path.startswith("<"):
        return _layer(path)
    # a C function (sqlite3's commit, psycopg's wait, json's scanner…): the layer of its caller, except that the
    # database driver's own calls from SQLAlchemy's engine are the database's time
    if any(n in parent_path for n in ("sqlalchemy/engine", "sqlalchemy/dialects", "psycopg", "sqlite3")):
        return "database driver (C) and server"
    return _layer(parent_path)


def _walk(frame, own: dict, layers: dict, parent_path: str = "") -> None:
    """Own time per function: the frame's time less its real children's (pyinstrument 5 books a function's
    own time on synthetic '[self]' children, older versions leave it implicit; both come out the same)."""
    real = [c for c in frame.children if not c.is_synthetic]
    self_time = frame.time - sum(c.time for c in real)
    path = frame.file_path or ""
    if self_time > 0:
        key = (frame.function, f"{_short(path)}:{frame.line_no}")
        own[key] += self_time
        layers[_layer_of(frame, parent_path)] += self_time
    for child in real:
        _walk(child, own, layers, path if path and not path.startswith("<") else parent_path)


def _short(path: str) -> str:
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def run(target: Target, cfg, results: dict) -> None:
    try:
        from pyinstrument import Profiler
    except ImportError:
        log("profile skipped: pyinstrument is not installed (pip install -e '.[bench]')")
        results["profile"] = {"skipped": "pyinstrument not installed"}
        return
    from bench.common import Session

    from bench.lifecycle import jiefen_lifecycle_once, prepare_jiefen

    out = {}
    targets = [Target("sqlite")] + ([target] if target.dialect == "postgresql" else [])
    for t in targets:
        engine, _url = prepare_jiefen(t, "profile")
        with Session(engine) as s:
            clerk, mediator = actor(s, "clerk"), actor(s, "mediator1")
        for _ in range(10):
            jiefen_lifecycle_once(engine, clerk, mediator)
        profiler = Profiler(interval=0.0005)
        profiler.start()
        for _ in range(cfg.profile_lifecycles):
            jiefen_lifecycle_once(engine, clerk, mediator)
        session = profiler.stop()
        engine.dispose()
        html = WORK / f"profile-lifecycle-{t.dialect}.html"
        txt = WORK / f"profile-lifecycle-{t.dialect}.txt"
        html.write_text(profiler.output_html(), encoding="utf-8")
        txt.write_text(profiler.output_text(unicode=True, color=False, show_all=False), encoding="utf-8")
        own: dict = defaultdict(float)
        layers: dict = defaultdict(float)
        root = session.root_frame()
        _walk(root, own, layers)
        total = root.time or 1.0
        top = sorted(own.items(), key=lambda kv: kv[1], reverse=True)[:15]
        out[t.dialect] = {
            "lifecycles": cfg.profile_lifecycles, "seconds": rnd(total),
            "layers_pct": {k: rnd(100 * v / total, 1) for k, v in sorted(layers.items(), key=lambda kv: -kv[1])},
            "top_own_time": [{"function": f, "where": w, "pct": rnd(100 * v / total, 1)} for (f, w), v in top],
            "html": str(html.relative_to(WORK.parent.parent)), "text": str(txt.relative_to(WORK.parent.parent)),
        }
        log(f"profile ({t.dialect}): {html}")
    results["profile"] = out
