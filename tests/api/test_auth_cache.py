"""The caller looked up once per request: an earlier optional look-up that found nobody still means 401 later."""


def test_a_write_without_credentials_is_401_after_the_idempotency_hook_looked(client):
    # The Idempotency-Key hook asks for the caller optionally before the view; the view must still refuse.
    for path in ("/api/v1/processes", "/api/v1/cases", "/api/v1/tasks/abc/claim"):
        response = client.post(path, json={}, headers={"Idempotency-Key": "k1"})
        assert response.status_code == 401, (path, response.get_json())
        assert response.get_json()["error"] == "unauthorized"
