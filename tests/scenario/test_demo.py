"""The demo center: loads the three real processes, users and cases; idempotent; demo password gated."""
import pytest
from sqlalchemy import func, select

from engine.demo import DEMO_PASSWORD, DEMO_USERS, load_demo
from engine.errors import AuthenticationFailed
from engine.models import CaseModel, TaskModel, UserModel
from engine.services import users
from tests.conftest import ROOT


def test_demo_loads_a_living_center_once(session, rt):
    summary = load_demo(session, str(ROOT / "processes"), cases_per_process=4)
    assert summary.startswith("demo loaded")
    by_process = dict(session.execute(select(CaseModel.process_id, func.count()).group_by(CaseModel.process_id)).all())
    assert set(by_process) == {"dispute", "petition_revisit", "judicial_confirmation"}
    assert session.scalar(select(func.count()).select_from(TaskModel).where(TaskModel.warning_level > 0)) > 0
    assert session.scalar(select(func.count()).select_from(UserModel)) == len(DEMO_USERS)
    again = load_demo(session, str(ROOT / "processes"), cases_per_process=4)
    assert again.startswith("demo already loaded")
    assert session.scalar(select(func.count()).select_from(CaseModel)) == sum(by_process.values())


def test_demo_password_only_in_demo_mode(session, rt):
    users.init_directory(session, "330106000", "西湖区综治中心", "330106")
    users.create_user(session, "clerk", DEMO_PASSWORD, ["auditor"])
    with pytest.raises(AuthenticationFailed, match="demo"):
        users.authenticate(session, "clerk", DEMO_PASSWORD)
    rt.settings.demo_mode = True
    assert users.authenticate(session, "clerk", DEMO_PASSWORD).username == "clerk"
