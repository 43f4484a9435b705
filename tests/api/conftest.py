import pytest

from tests.support import PASSWORD
from tests.api.openapi_contract import ContractClient


@pytest.fixture
def app(app):
    """Every test here checks each answer of the API against /api/v1/openapi.json (tests/api/openapi_contract.py)."""
    app.test_client_class = ContractClient
    return app


@pytest.fixture
def login(client, directory):
    """login(name) -> headers with a bearer token for that demo user."""
    def _login(name: str, password: str = PASSWORD) -> dict:
        response = client.post("/api/v1/auth/token", json={"username": name, "password": password})
        assert response.status_code == 200, response.get_json()
        return {"Authorization": f"Bearer {response.get_json()['token']}"}
    return _login
