"""The OpenAPI schema at /api/v1/openapi.json and the browsable docs page."""

import pytest

pytest_plugins = ["tests.loyalty.api_fixtures"]
pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    return response.json()


def test_it_lists_every_endpoint_with_its_method(schema):
    assert schema["openapi"].startswith("3.")
    assert {path: set(ops) for path, ops in schema["paths"].items()} == {
        "/api/v1/members": {"get", "post"},
        "/api/v1/purchases": {"post"},
        "/api/v1/purchases/{external_ref}": {"get"},
        "/api/v1/purchases/{external_ref}/refund": {"post"},
        "/api/v1/confirmation-codes": {"post"},
        "/api/v1/coupons/{code}": {"get"},
        "/api/v1/coupons/{code}/redeem": {"post"},
        "/api/v1/stored-value/top-ups": {"post"},
        "/api/v1/count-cards": {"post"},
        "/api/v1/count-cards/uses": {"post"},
    }


def test_it_documents_bearer_auth_on_every_operation(schema):
    assert schema["components"]["securitySchemes"] == {
        "StoreKeyAuth": {"type": "http", "scheme": "bearer"}
    }
    for ops in schema["paths"].values():
        for op in ops.values():
            assert op["security"] == [{"StoreKeyAuth": []}]


def test_it_documents_the_error_statuses(schema):
    def statuses(path, method):
        return set(schema["paths"][path][method]["responses"])

    assert statuses("/api/v1/members", "get") >= {"200", "400", "404"}
    assert statuses("/api/v1/members", "post") >= {"201", "400", "409"}
    assert statuses("/api/v1/purchases", "post") >= {"200", "201", "400", "404", "409", "422"}
    assert statuses("/api/v1/purchases/{external_ref}/refund", "post") >= {
        "200",
        "400",
        "403",
        "404",
        "422",
    }


def test_it_documents_money_as_decimal_strings(schema):
    components = schema["components"]["schemas"]
    amount = components["PurchaseIn"]["properties"]["amount"]
    assert amount["type"] == "string" and "number" not in str(amount)
    assert amount["example"] == "38.50"
    refund_amount = components["RefundIn"]["properties"]["amount"]
    assert {"type": "null"} in refund_amount["anyOf"]
    assert "number" not in str(refund_amount)
    for field in ["amount", "discount", "cash_paid", "points_value"]:
        assert components["PurchaseOut"]["properties"][field]["type"] == "string"
    assert set(components["PurchaseIn"]["required"]) == {"external_ref", "amount"}


def test_it_describes_the_api_and_its_errors(schema):
    assert schema["info"]["title"] == "Huiyuan POS / mall API"
    assert "422 business rule" in schema["info"]["description"]


def test_the_schema_and_docs_need_no_key(client):
    assert client.get("/api/v1/openapi.json").status_code == 200
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    assert b"/api/v1/openapi.json" in docs.content
