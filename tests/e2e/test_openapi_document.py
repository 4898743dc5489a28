"""Static checks over the OpenAPI document the app serves, and over the self-hosted docs page.

Each check walks every operation, so a route added later is held to the same promises: security
declared, every operation and parameter described, every request body with an example that fits its
schema, every error answer a problem document, tagged unions with a discriminator, OPTIONS listing
exactly the documented methods. Failures list every offending operation at once.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from tests.e2e.http_helpers import ADMIN, PROBLEM_JSON, Api, serve, settings_for

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
PROBLEM_REF = "#/components/schemas/ProblemDetails"

Operation = tuple[str, str, dict[str, Any]]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with serve(settings_for(f"sqlite+aiosqlite:///{tmp_path / 'elearning.db'}", tmp_path)) as api:
        yield api


@pytest.fixture
async def document(api: Api) -> dict[str, Any]:
    response = await api.client.get("/schema/openapi.json")
    assert response.status_code == 200, response.text
    return json.loads(response.content)


def operations(document: dict[str, Any]) -> Iterator[Operation]:
    for path, item in document["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield path, method, item[method]


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def concrete(path: str, operation: dict[str, Any] | None = None) -> str:
    """``path`` with each parameter filled in: 1 for integers, a random UUID otherwise."""
    types = {p["name"]: p["schema"].get("type") for p in (operation or {}).get("parameters", []) if p["in"] == "path"}
    return re.sub(r"\{([^}]+)\}", lambda m: "1" if types.get(m.group(1)) == "integer" else str(uuid.uuid4()), path)


def report(problems: list[str]) -> None:
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(sorted(problems))


# -- security ---------------------------------------------------------------------------------------------


async def test_the_security_schemes_are_bearer_and_the_session_cookie(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert (schemes["sessionCookie"]["type"], schemes["sessionCookie"]["in"]) == ("apiKey", "cookie")
    assert schemes["sessionCookie"]["name"] == "elearning_access"
    assert (schemes["csrfToken"]["in"], schemes["csrfToken"]["name"]) == ("header", "X-CSRF-Token")


async def test_every_operation_declares_its_security(document: dict[str, Any]) -> None:
    problems = []
    for path, method, operation in operations(document):
        security = operation.get("security")
        if security is None:
            problems.append(f"{method.upper()} {path}: no security")
        elif security and {"bearerAuth": []} not in security:
            problems.append(f"{method.upper()} {path}: credentials accepted but no bearer scheme: {security}")
        elif security and {} not in security and "401" not in operation["responses"]:
            problems.append(f"{method.upper()} {path}: needs credentials but documents no 401")
    report(problems)
    by_operation = {(p, m): op["security"] for p, m, op in operations(document)}
    assert by_operation[("/api/v1/auth/login", "post")] == []
    assert {} in by_operation[("/api/v1/courses", "get")]  # public, a token optional
    assert {"sessionCookie": [], "csrfToken": []} in by_operation[("/api/v1/courses", "post")]
    assert {"sessionCookie": []} in by_operation[("/api/v1/users/me", "get")]


async def test_an_operation_that_needs_credentials_refuses_anonymous_callers(
    api: Api, document: dict[str, Any]
) -> None:
    # The document and the guard agree: no credentials, 401 (never 404 or 200) wherever security is required.
    problems = []
    for path, method, operation in operations(document):
        if method not in ("get", "head") or not operation["security"] or {} in operation["security"]:
            continue
        response = await api.client.request(method.upper(), concrete(path, operation))
        if response.status_code != 401:
            problems.append(f"{method.upper()} {path}: anonymous got {response.status_code}")
    report(problems)


# -- descriptions and examples ------------------------------------------------------------------------------


async def test_every_operation_and_parameter_is_described(document: dict[str, Any]) -> None:
    problems = []
    for path, method, operation in operations(document):
        if not operation.get("summary") or not operation.get("description"):
            problems.append(f"{method.upper()} {path}: no summary or description")
        for parameter in operation.get("parameters", []):
            if not parameter.get("description"):
                problems.append(f"{method.upper()} {path}: parameter {parameter['in']} {parameter['name']}")
    report(problems)


async def test_every_request_body_has_an_example_that_fits_its_schema(document: dict[str, Any]) -> None:
    problems = []
    for path, method, operation in operations(document):
        for media_type, entry in operation.get("requestBody", {}).get("content", {}).items():
            name = f"{method.upper()} {path} ({media_type})"
            if "example" not in entry:
                problems.append(f"{name}: no example")
                continue
            if media_type != "application/json":
                continue
            # The components ride along in the root, so the body schema's $refs resolve.
            schema = {**entry["schema"], "components": document["components"]}
            errors = list(jsonschema_rs.Draft202012Validator(schema).iter_errors(entry["example"]))
            problems += [f"{name}: example invalid at {e.instance_path}: {e.message}" for e in errors]
    report(problems)


# -- responses --------------------------------------------------------------------------------------------------


async def test_every_error_answer_is_a_problem_document(document: dict[str, Any]) -> None:
    problems = []
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            if status[0] not in "45":
                continue
            content = response.get("content", {})
            # A form-posting route for browsers may answer a page too (text/html), never another shape.
            others = {t for t in content if t != PROBLEM_JSON and not t.startswith("text/html")}
            if PROBLEM_JSON not in content or others or content[PROBLEM_JSON]["schema"] != {"$ref": PROBLEM_REF}:
                problems.append(f"{method.upper()} {path} {status}: {sorted(content)}")
    report(problems)
    assert {"type", "title", "status", "detail"} <= set(document["components"]["schemas"]["ProblemDetails"]["required"])


async def test_response_schemas_carry_no_generated_examples(document: dict[str, Any]) -> None:
    """Litestar fills a ``ResponseSpec``'s examples with random values unless told not to: the document would
    then differ from one process to the next (a client generator or a cached copy would see a new document)."""
    generated = [name for name, schema in document["components"]["schemas"].items() if "examples" in schema]
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            for media_type, content in response.get("content", {}).items():
                if "examples" in content:
                    generated.append(f"{method.upper()} {path} {status} {media_type}")
    report(generated)


async def test_shared_error_answers_are_documented_where_they_can_happen(document: dict[str, Any]) -> None:
    problems = []
    for path, method, operation in operations(document):
        responses = operation["responses"]
        json_body = "application/json" in operation.get("requestBody", {}).get("content", {})
        expected = {"400", "413", "415", "422"} if json_body else set()
        if operation.get("parameters"):
            expected.add("422")
        if missing := expected - responses.keys():
            problems.append(f"{method.upper()} {path}: missing {sorted(missing)}")
    report(problems)


async def test_the_statuses_routes_really_give_are_documented(document: dict[str, Any]) -> None:
    def statuses(path: str, method: str) -> set[str]:
        return set(document["paths"][path][method]["responses"])

    login = document["paths"]["/api/v1/auth/login"]["post"]["responses"]
    assert "201" not in login
    assert login["200"]["content"]["application/json"]["schema"]["oneOf"]
    assert "200" in statuses("/api/v1/auth/refresh", "post")
    assert {"200", "201", "415"} <= statuses("/api/v1/videos/{video_id}/captions/{language}", "put")
    assert "302" in statuses("/api/v1/auth/oidc/{provider}/authorize", "get")
    assert "503" in statuses("/ready", "get")
    assert {"412", "413", "415", "423", "460"} <= statuses("/api/v1/uploads/{upload_id}", "patch")
    assert {"200", "201"} <= statuses("/api/v1/courses/{course_id}/enrollments", "post")
    assert {"200", "201"} <= statuses("/api/v1/quizzes/{quiz_id}/attempts", "post")
    assert "content" not in document["paths"]["/api/v1/uploads/{upload_id}"]["head"]["responses"]["200"]


async def test_every_operation_documents_the_rate_limit_and_overload_answers(document: dict[str, Any]) -> None:
    """429 (rate limit) and 503 (admission control) on every operation the overload layers can refuse."""
    never_refused = {"/health", "/ready", "/metrics"}
    problems = []
    checked = 0
    for path, method, operation in operations(document):
        if path in never_refused:
            assert "429" not in operation["responses"], f"{method.upper()} {path} is never rate limited"
            continue
        checked += 1
        for status, headers in (("429", {"Retry-After", "RateLimit", "RateLimit-Policy"}), ("503", {"Retry-After"})):
            response = operation["responses"].get(status)
            if response is None:
                problems.append(f"{method.upper()} {path}: no {status}")
                continue
            if response.get("content", {}).get(PROBLEM_JSON, {}).get("schema", {}).get("$ref") != PROBLEM_REF:
                problems.append(f"{method.upper()} {path}: {status} is not a problem document")
            if missing := headers - set(response.get("headers", {})):
                problems.append(f"{method.upper()} {path}: {status} lacks {sorted(missing)}")
        retry_after = operation["responses"].get("429", {}).get("headers", {}).get("Retry-After", {})
        if not retry_after.get("required"):
            problems.append(f"{method.upper()} {path}: Retry-After of 429 not required")
    report(problems)
    assert checked > 50


# -- request schemas -----------------------------------------------------------------------------------------


async def test_request_models_refuse_unknown_fields_as_the_document_says(api: Api, document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    problems = []
    for path, method, operation in operations(document):
        schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
        if "$ref" in schema and resolve(document, schema).get("additionalProperties") is not False:
            problems.append(f"{method.upper()} {path}: {schema['$ref']} allows unknown fields")
    report(problems)
    # ...and the server refuses them.
    response = await api.client.post("/api/v1/courses", json={"title": "T", "colour": "red"}, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["colour"]
    assert schemas["CreateCourse"]["additionalProperties"] is False


async def test_tagged_unions_have_discriminators_and_require_their_tag(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    problems = []
    for name, schema in schemas.items():
        for node in _nodes(schema):
            members = node.get("oneOf", [])
            refs = [m["$ref"] for m in members if "$ref" in m]
            if len(refs) < 2:
                continue
            discriminator = node.get("discriminator")
            if discriminator is None:
                problems.append(f"{name}: oneOf {refs} without a discriminator")
                continue
            tag = discriminator["propertyName"]
            for ref in refs:
                if tag not in resolve(document, {"$ref": ref}).get("required", []):
                    problems.append(f"{name}: {ref} does not require its tag {tag}")
    report(problems)
    body = schemas["QuestionInput"]["properties"]["body"]
    assert body["discriminator"]["propertyName"] == "kind"
    assert schemas["QuizSettings"]["properties"]["slots"]["items"]["discriminator"]["propertyName"] == "type"
    assert "kind" in schemas["SingleChoice"]["required"]


def _nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _nodes(value)


# -- OPTIONS -----------------------------------------------------------------------------------------------------


async def test_options_lists_every_documented_method_of_each_path(api: Api, document: dict[str, Any]) -> None:
    problems = []
    for path, item in document["paths"].items():
        documented = {m.upper() for m in HTTP_METHODS if m in item} | {"OPTIONS"}
        operation = next(item[m] for m in HTTP_METHODS if m in item)
        response = await api.client.options(concrete(path, operation))
        allowed = {m.strip() for m in response.headers.get("allow", "").split(",") if m.strip()}
        if allowed != documented:
            problems.append(f"{path}: Allow {sorted(allowed)}, documented {sorted(documented)}")
    report(problems)


# -- validation errors name JSON paths ---------------------------------------------------------------------------


async def test_validation_errors_name_fields_by_their_json_path(api: Api) -> None:
    course = (await api.client.post("/api/v1/courses", json={"title": "T"}, headers=ADMIN)).json()
    quiz = {"title": "Q", "slots": [{"type": "fixed", "question_id": "nope"}, {"question_id": str(uuid.uuid4())}]}
    response = await api.client.post(f"/api/v1/courses/{course['id']}/quizzes", json=quiz, headers=ADMIN)
    assert response.status_code == 422, response.text
    assert {e["field"] for e in response.json()["errors"]} == {"slots.0.question_id", "slots.1.type"}
    question = {"prompt": "P", "body": {"kind": "single_choice", "options": [{"id": "a", "text": ""}], "correct": "a"}}
    response = await api.client.post(f"/api/v1/courses/{course['id']}/questions", json=question, headers=ADMIN)
    assert response.status_code == 422, response.text
    fields = {e["field"] for e in response.json()["errors"]}
    assert "body.options.0.text" in fields, fields
    assert not any("single_choice" in f or "Input" in f for f in fields), fields


async def test_bodies_are_validated_strictly_as_json(api: Api) -> None:
    # The schema says integer: false is not 0, "1" is not 1.
    course = (await api.client.post("/api/v1/courses", json={"title": "T"}, headers=ADMIN)).json()
    for position in (False, "1"):
        response = await api.client.post(
            f"/api/v1/courses/{course['id']}/sections", json={"title": "S", "position": position}, headers=ADMIN
        )
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == ["position"]


# -- the docs page, offline ----------------------------------------------------------------------------------------


async def test_the_docs_page_and_every_asset_it_loads_come_from_this_server(api: Api) -> None:
    page = await api.client.get("/schema")
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "E-learning platform API" in page.text
    assert "SwaggerUIBundle" in page.text
    foreign = re.findall(r"https?://[^\s\"'<>)]+", page.text)
    assert not foreign, f"the page loads from elsewhere: {foreign}"
    assets = re.findall(r"(?:src|href)=[\"']([^\"']+)[\"']", page.text)
    assert len(assets) >= 3, assets
    for asset in assets:
        assert asset.startswith("/schema/"), asset
        response = await api.client.get(asset)
        assert response.status_code == 200, f"{asset}: {response.status_code}"
        assert "max-age" in response.headers.get("cache-control", ""), asset
    # Anonymous callers read the docs (the guard lets them), and the old CDN page is gone.
    assert (await api.client.get("/schema/scalar")).status_code == 404


async def test_the_docs_page_loads_the_document_by_url_rather_than_inlining_it(api: Api) -> None:
    page = await api.client.get("/schema")
    assert page.status_code == 200, page.text
    assert len(page.content) < 10 * 1024, f"the page is {len(page.content)} bytes: is the document inlined again?"
    assert '"paths"' not in page.text
    urls = re.findall(r"\burl:\s*\"([^\"]+)\"", page.text)
    assert urls == ["/schema/openapi.json"], urls
    document = await api.client.get(urls[0])
    assert document.status_code == 200, document.text
    assert document.headers["content-type"].startswith("application/")
    body = json.loads(document.content)
    assert body["openapi"].startswith("3.1")
    assert body["info"]["title"] in page.text
    assert "/api/v1/courses" in body["paths"]
