"""Found by the schemathesis run on PostgreSQL: a NUL character in a text the database compares (a username, a
filter, a process id, a unit code, a task id) was a 500 (`PostgreSQL text fields cannot contain NUL`); now it is
a 422 naming the field, on both databases."""
import pytest

CALLS = {
    "username": ("post", "/api/v1/auth/token", {"json": {"username": "clerk\x00", "password": "password1"}}),
    "q": ("get", "/api/v1/tasks", {"query_string": {"q": "33\x00"}}),
    "process_id": ("get", "/api/v1/tasks", {"query_string": {"process_id": "small\x00"}}),
    "category": ("get", "/api/v1/tasks", {"query_string": {"category": "\x00"}}),
    "org_unit": ("post", "/api/v1/cases", {"json": {"process_id": "small_mediation", "org_unit": "330106000\x00"}}),
    "task_id": ("get", "/api/v1/tasks/a%00b", {}),
}


@pytest.mark.parametrize("field", sorted(CALLS))
def test_nul_in_a_text_is_a_422_naming_the_field(client, login, field):
    method, path, kwargs = CALLS[field]
    response = getattr(client, method)(path, headers=login("clerk"), **kwargs)
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["error"] == "validation" and field in body["details"], body


def test_start_with_a_nul_in_the_process_id_is_a_422(client, login):
    response = client.post("/api/v1/cases", json={"process_id": "small_mediation\x00"}, headers=login("clerk"))
    assert response.status_code == 422 and "process_id" in response.get_json()["details"]


def test_malformed_task_ids_are_422_and_unknown_ones_404(client, login):
    clerk = login("clerk")
    for response in (client.get("/api/v1/tasks/a%20b", headers=clerk),
                     client.post("/api/v1/tasks/x.y/claim", headers=clerk),
                     client.post("/api/v1/tasks/" + "a" * 41 + "/unclaim", headers=clerk)):
        assert response.status_code == 422 and "task_id" in response.get_json()["details"], response.request.path
    assert client.post("/api/v1/tasks/sv-99999/complete", json={"data": {}}, headers=clerk).status_code == 404
