"""The intake screen is one engine command: a registration the process rejects leaves no case behind."""
from sqlalchemy import func, select

from engine.models import CaseModel
from engine.services import processes
from engine.services.users import SYSTEM
from tests.api.test_ui_tasks import post
from tests.conftest import FIXTURES
from tests.support.web import ui_login


def test_intake_whose_registration_fails_opens_no_case(client, session, directory):
    processes.deploy(session, {"intake_check.bpmn": (FIXTURES / "engine" / "intake_check.bpmn").read_bytes()}, SYSTEM)
    session.commit()
    ui_login(client, "clerk", expect=302)
    response = post(client, "/cases/new/intake_check", {"party_name": "张三", "parties": "0"},
                    page="/cases/new/intake_check")
    assert response.status_code == 422
    assert session.scalar(select(func.count()).select_from(CaseModel)) == 0
    again = post(client, "/cases/new/intake_check", {"party_name": "张三", "parties": "2"},
                 page="/cases/new/intake_check")
    assert again.status_code == 302
    assert session.scalar(select(func.count()).select_from(CaseModel)) == 1
