"""Driving the workflow through the API in tests."""

BASE = "/api/annotation"


def post(api, path: str, data: dict | None = None):
    return api.post(f"{BASE}{path}", data or {}, format="json")


def detail(api, sample_id: int) -> dict:
    response = api.get(f"{BASE}/annotations/{sample_id}/")
    assert response.status_code == 200, response.content
    return response.json()


def act(api, sample_id: int, verb: str, **data):
    """POST /annotations/{id}/{verb}/ based on the current version unless one is given."""
    if "version" not in data and verb not in ("claim", "renew-lease"):
        data["version"] = detail(api, sample_id)["version"]
    return post(api, f"/annotations/{sample_id}/{verb}/", data)


def claim_next(api, stage: str, **filters):
    return post(api, f"/queue/{stage}/claim-next/", filters)
