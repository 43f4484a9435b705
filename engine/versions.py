"""Runnable process versions: the parsed-spec cache behind every case (load_version, active_loaded_version).

Below the services: opening a case, running a command, the access rule and the deployment service all read
versions through here; deploying (services/processes.py) writes them.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from engine import forms, runtime, specs
from engine.fastpath import send
from engine.errors import NotFound
from engine.messages import msg
from engine.models import ActiveVersionModel, ProcessVersionModel


@dataclass
class LoadedVersion:
    """A process version ready to run: spec, called specs, task metadata and form schemas."""

    id: int
    process_id: str
    version: int
    spec: object
    subprocess_specs: dict
    meta: dict
    schemas: dict

    def user_task(self, spec_name: str) -> dict | None:
        return self.meta["user_tasks"].get(spec_name)


# The id of the version new cases of a process start on (built once: every case opening asks; a primary-key read).
_ACTIVE_ID = select(ActiveVersionModel.version_id).where(ActiveVersionModel.process_id == bindparam("process_id"))


def active_loaded_version(session: Session, process_id: str) -> LoadedVersion:
    """The version new cases of a process start on (the newest deployed unless an administrator activated
    another), runnable from the spec cache. Raises NotFound.

    Reads only the version's id: the row's meta (forms, candidates: kilobytes of JSON) is in the cache."""
    rows = send(session.connection(), _ACTIVE_ID, {"process_id": process_id})
    if not rows:
        raise _not_deployed(process_id)
    return load_version(session, rows[0].version_id)


def _not_deployed(process_id: str) -> NotFound:
    return NotFound(msg("process.not_deployed", process_id=process_id), {"process_id": [msg("field.not_deployed")]})


def load_version(session: Session, version_id: int) -> LoadedVersion:
    """A runnable version from the cache, parsing its stored spec on first use. Raises NotFound."""
    cache = runtime.of(session).specs
    loaded = cache.get(version_id)
    if loaded is not None:
        return loaded
    row = session.get(ProcessVersionModel, version_id)
    if row is None:
        raise NotFound(msg("process.version_not_found", version_id=version_id))
    spec, subs = specs.restore_spec(row.spec_json)
    schemas = {name: forms.build_schema(info["form"], name=f"Form_{name}")
               for name, info in row.meta["user_tasks"].items()}
    loaded = LoadedVersion(row.id, row.process_id, row.version, spec, subs, row.meta, schemas)
    cache.put(version_id, loaded)
    return loaded


def version_number(session: Session, version_id: int) -> int | None:
    """The number of a process version (v3): from the spec cache, else one small SELECT (not the row's meta)."""
    loaded = runtime.of(session).specs.get(version_id)
    if loaded is not None:
        return loaded.version
    return session.scalar(select(ProcessVersionModel.version).where(ProcessVersionModel.id == version_id))
