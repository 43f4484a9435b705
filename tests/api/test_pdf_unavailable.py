"""A PDF asked of a server without WeasyPrint or Pango: 503 with a message saying so (not 400, not 500), and
nothing stored."""
from __future__ import annotations

import builtins

import pytest

from engine.models import DocumentModel
from tests.support.cases import registered
from tests.support.web import ui_login


@pytest.fixture
def no_weasyprint(monkeypatch):
    real_import = builtins.__import__

    def refuse(name, *args, **kwargs):
        if name == "weasyprint" or name.startswith("weasyprint."):
            raise OSError("cannot load library 'libpango-1.0-0'")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", refuse)


def test_a_dossier_without_the_pdf_engine_is_503_saying_why(app, session, actor, login, no_weasyprint):
    case = registered(session, actor("clerk"))
    response = app.test_client().get(f"/api/v1/cases/{case.id}/dossier.pdf", headers=login("auditor"))
    assert response.status_code == 503
    body = response.get_json()
    assert body["error"] == "unavailable" and "PDF" in body["message"] and "libpango" in body["message"]
    browser = app.test_client()
    ui_login(browser, "auditor", expect=302)
    html = browser.get(f"/audit/cases/{case.id}/dossier.pdf")
    assert html.status_code == 503 and "PDF" in html.get_data(as_text=True)


def test_a_document_without_the_pdf_engine_is_503_and_nothing_is_stored(app, session, actor, login,
                                                                         no_weasyprint):
    case = registered(session, actor("clerk"))
    before = case.event_seq
    response = app.test_client().post(f"/api/v1/cases/{case.id}/documents", json={"kind": "receipt"},
                                      headers=login("clerk"))
    assert response.status_code == 503 and "PDF" in response.get_json()["message"]
    session.expire_all()
    assert session.query(DocumentModel).filter_by(case_id=case.id).count() == 0
    assert session.get(type(case), case.id).event_seq == before
