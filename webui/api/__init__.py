"""REST JSON API under /api/v1 (flask-smorest documents it at /api/v1/openapi.json)."""
