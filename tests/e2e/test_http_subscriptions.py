"""The subscription routes as a client sees them, with the fake gateway: saved payment methods (a declined
card named), subscribing with an Idempotency-Key (replayed, charged once), a payment that needs
authentication completed by confirm-payment, cancel/resume, a plan change's proration, an organization's
seats, 404 for strangers and 409s that name their rule; the ledger balanced after."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from elearning_adapters.payments.fake import DECLINED, REQUIRES_ACTION, SUCCEEDS, FakePaymentGateway, card_token
from elearning_adapters.settings import Settings
from elearning_core.identity.commands import CreateOrganization, RoleGrantSpec
from elearning_core.shared.ports import SYSTEM
from elearning_core.subscription.commands import PlanSpec
from tests.e2e.assessment_helpers import Person, person
from tests.e2e.http_helpers import BACKENDS, Api, assert_problem, backend_settings, open_read_pool, serve

pytestmark = pytest.mark.asyncio(loop_scope="module")

SUBS = "/api/v1/subscriptions"
METHODS = "/api/v1/me/payment-methods"


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return backend_settings(request, tmp_path_factory.mktemp("subscriptions"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        await open_read_pool(app)
        specs = [
            PlanSpec.model_validate(
                {
                    "code": code,
                    "name": code.title(),
                    "interval": "month",
                    "prices": [{"currency": "EUR", "amount": amount}],
                    "tax_inclusive": True,
                    "includes": {"all_courses": True},
                    "status": "active",
                }
            )
            for code, amount in (("solo", 1000), ("plus", 3000))
        ]
        await app.platform.plans.import_plans(SYSTEM, specs)
        yield app
        await app.platform.database.dispose()


def gateway(api: Api) -> FakePaymentGateway:
    found = api.platform.container.payment.gateway()
    assert isinstance(found, FakePaymentGateway)
    return found


async def with_card(api: Api, number: str = SUCCEEDS) -> Person:
    who = await person(api)
    saved = await api.client.post(METHODS, json={"token": card_token(number)}, headers=who.headers)
    assert saved.status_code == 201, saved.text
    return who


def body(plan: str = "solo", **extra: object) -> dict[str, object]:
    return {"plan_code": plan, "currency": "EUR", "billing_name": "Ada", "billing_country": "FR", **extra}


async def test_payment_methods_are_saved_listed_and_a_declined_card_is_named(api: Api) -> None:
    who = await person(api)
    declined = await api.client.post(METHODS, json={"token": card_token(DECLINED)}, headers=who.headers)
    problem = assert_problem(declined, 409)
    assert problem["type"].endswith(":payment-declined")
    assert "card_declined" in problem["detail"]
    first = (await api.client.post(METHODS, json={"token": card_token(SUCCEEDS)}, headers=who.headers)).json()
    listed = await api.client.get(METHODS, headers=who.headers)
    assert listed.json() == {"methods": [first]}
    assert first["last4"] == "4242"
    assert first["is_default"] is True
    assert_problem(await api.client.post(METHODS, json={"token": ""}, headers=who.headers), 422, field="token")
    assert_problem(await api.client.delete(f"{METHODS}/pm_nobody", headers=who.headers), 404)
    assert (await api.client.delete(f"{METHODS}/{first['id']}", headers=who.headers)).status_code == 204


async def test_subscribing_with_an_idempotency_key_replays_and_charges_once(api: Api) -> None:
    who = await with_card(api)
    charges = gateway(api).charges
    headers = {**who.headers, "Idempotency-Key": f"sub-{uuid.uuid4()}"}
    first = await api.client.post(SUBS, json=body(), headers=headers)
    assert first.status_code == 201, first.text
    again = await api.client.post(SUBS, json=body(), headers=headers)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert gateway(api).charges == charges + 1
    sub = first.json()
    assert (sub["status"], sub["amount"], sub["payment_action_required"]) == ("active", 1000, False)
    assert sub["paid_through"] == sub["current_period_end"]
    mine = await api.client.get(SUBS, headers=who.headers)
    assert [s["id"] for s in mine.json()["items"]] == [sub["id"]]
    stranger = await person(api)
    assert_problem(await api.client.get(f"{SUBS}/{sub['id']}", headers=stranger.headers), 404)
    assert_problem(await api.client.post(f"{SUBS}/{sub['id']}/cancel", headers=stranger.headers), 404)


async def test_cancel_resume_and_a_plan_change_with_its_proration(api: Api) -> None:
    who = await with_card(api)
    sub = (await api.client.post(SUBS, json=body(), headers=who.headers)).json()
    url = f"{SUBS}/{sub['id']}"
    canceled = await api.client.post(f"{url}/cancel", json={"at_period_end": True}, headers=who.headers)
    assert canceled.status_code == 200
    assert canceled.json()["cancel_at_period_end"] is True
    resumed = await api.client.post(f"{url}/resume", headers=who.headers)
    assert resumed.status_code == 200
    assert resumed.json()["cancel_at_period_end"] is False
    refused = assert_problem(await api.client.post(f"{url}/resume", headers=who.headers), 409)
    assert refused["type"].endswith(":not-pending-cancel")
    change = await api.client.post(f"{url}/change-plan", json={"plan_code": "plus"}, headers=who.headers)
    assert change.status_code == 200, change.text
    proration = change.json()["proration"]
    # At once (the same instant as subscribing, give or take the request): nearly all of both prices.
    assert 990 <= proration["credit"] <= 1000
    assert 2970 <= proration["charge"] <= 3000
    assert proration["charged_now"] == proration["charge"] - proration["credit"]
    assert change.json()["subscription"]["plan_code"] == "plus"
    now = await api.client.post(f"{url}/cancel", json={"at_period_end": False}, headers=who.headers)
    assert now.json()["status"] == "canceled"
    ended = assert_problem(await api.client.post(f"{url}/resume", headers=who.headers), 409)
    assert ended["type"].endswith(":subscription-ended")


async def test_a_payment_needing_authentication_is_completed_by_confirm_payment(api: Api) -> None:
    who = await with_card(api, REQUIRES_ACTION)
    sub = (await api.client.post(SUBS, json=body(), headers=who.headers)).json()
    assert (sub["status"], sub["payment_action_required"]) == ("incomplete", True)
    url = f"{SUBS}/{sub['id']}/confirm-payment"
    waiting = assert_problem(await api.client.post(url, headers=who.headers), 409)
    assert waiting["type"].endswith(":payment-action-required")
    async with api.platform.container.adapters.unit_of_work() as uow:
        stored = await uow.subscriptions.get(uuid.UUID(sub["id"]))
    assert stored is not None
    assert stored.pending_payment_id is not None
    gateway(api).authenticate(stored.pending_payment_id)
    done = await api.client.post(url, headers=who.headers)
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["payment_action_required"]) == ("active", False)


async def test_an_organization_admin_assigns_and_revokes_seats(api: Api) -> None:
    org = await api.platform.identity.create_organization(
        SYSTEM, CreateOrganization(slug=f"org-{uuid.uuid4().hex[:8]}", name="Org")
    )
    admin = await person(api)
    await api.platform.identity.grant_role(
        SYSTEM, uuid.UUID(admin.id), RoleGrantSpec(role="organization_admin", scope="organization", scope_id=org.id)
    )
    admin = await person_token(api, admin)
    await api.client.post(METHODS, json={"token": card_token(SUCCEEDS)}, headers=admin.headers)
    member, outsider = await person(api), await person(api)
    await api.platform.identity.add_member(SYSTEM, org.id, uuid.UUID(member.id))
    created = await api.client.post(SUBS, json=body(organization_id=str(org.id), seats=1), headers=admin.headers)
    assert created.status_code == 201, created.text
    sub = created.json()
    assert (sub["organization_id"], sub["seats"]) == (str(org.id), 1)
    seats = f"{SUBS}/{sub['id']}/seats"
    not_member = assert_problem(await api.client.post(seats, json={"user_id": outsider.id}, headers=admin.headers), 409)
    assert not_member["type"].endswith(":not-a-member")
    assigned = await api.client.post(seats, json={"user_id": member.id}, headers=admin.headers)
    assert assigned.status_code == 201
    assert assigned.json() == {"subscription_id": sub["id"], "user_id": member.id, "seats_taken": 1}
    assert (await api.client.get(seats, headers=admin.headers)).json() == {
        "items": [{"user_id": member.id}],
        "next_cursor": None,
    }
    await api.platform.identity.add_member(SYSTEM, org.id, uuid.UUID(outsider.id))
    full = assert_problem(await api.client.post(seats, json={"user_id": outsider.id}, headers=admin.headers), 409)
    assert full["type"].endswith(":no-seat-left")
    # One more seat, bought now: prorated and charged at once, then the outsider can have it.
    more = await api.client.post(f"{SUBS}/{sub['id']}/change-plan", json={"seats": 2}, headers=admin.headers)
    assert more.status_code == 200, more.text
    assert more.json()["subscription"]["seats"] == 2
    assert more.json()["proration"]["charged_now"] > 0
    assert (await api.client.post(seats, json={"user_id": outsider.id}, headers=admin.headers)).status_code == 201
    fewer = await api.client.post(f"{SUBS}/{sub['id']}/change-plan", json={"seats": 1}, headers=admin.headers)
    assert assert_problem(fewer, 409)["type"].endswith(":seats-in-use")
    nothing = await api.client.post(f"{SUBS}/{sub['id']}/change-plan", json={}, headers=admin.headers)
    assert "give plan_code, seats or both" in str(assert_problem(nothing, 422, field="body")["errors"])
    assert (await api.client.delete(f"{seats}/{outsider.id}", headers=admin.headers)).status_code == 204
    listed = await api.client.get(SUBS, params={"organization_id": str(org.id)}, headers=admin.headers)
    assert [s["id"] for s in listed.json()["items"]] == [sub["id"]]
    assert_problem(await api.client.get(SUBS, params={"organization_id": str(org.id)}, headers=member.headers), 404)
    assert (await api.client.delete(f"{seats}/{member.id}", headers=admin.headers)).status_code == 204
    assert (await api.client.get(seats, headers=admin.headers)).json()["items"] == []
    assert_problem(await api.client.delete(f"{seats}/{member.id}", headers=admin.headers), 404)


async def test_the_ledger_balances_and_each_paid_period_is_invoiced(api: Api) -> None:
    who = await with_card(api)
    await api.client.post(SUBS, json=body(), headers=who.headers)
    events = api.platform.events
    if events is not None:
        await events.drain()
    invoices = await api.client.get("/api/v1/me/invoices", headers=who.headers)
    assert invoices.status_code == 200
    assert len(invoices.json()["items"]) == 1
    balances = await api.platform.billing.balances(SYSTEM)
    assert sum(b.amount for b in balances) == 0


async def person_token(api: Api, who: Person) -> Person:
    """A fresh token: the role granted after the first was issued is read at authentication anyway."""
    token = api.platform.container.identity.tokens().issue_access(who.id)
    return Person(who.id, who.email, {"Authorization": f"Bearer {token}"})
