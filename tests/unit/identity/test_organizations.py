"""Organizations' time zone and the update use case, on the fakes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from elearning_core.auth.model import Grant, Role, Scope
from elearning_core.identity.commands import CreateOrganization, UpdateOrganization
from elearning_core.identity.events import OrganizationCreated, OrganizationUpdated
from elearning_core.identity.model import Organization
from elearning_core.shared.errors import NotFound, PermissionDenied, Unauthenticated, ValidationFailed
from elearning_core.shared.ports import ANONYMOUS, SYSTEM
from tests.fakes import IdentityPlatform, an_identity_platform


@pytest.fixture
def platform() -> IdentityPlatform:
    return an_identity_platform()


async def test_an_organization_is_created_in_a_time_zone_and_utc_by_default(platform: IdentityPlatform) -> None:
    paris = await platform.identity.create_organization(
        SYSTEM, CreateOrganization(slug="paris", name="Paris", time_zone="Europe/Paris")
    )
    plain = await platform.identity.create_organization(SYSTEM, CreateOrganization(slug="plain", name="Plain"))
    assert (paris.time_zone, plain.time_zone) == ("Europe/Paris", "UTC")
    assert platform.store.organizations[paris.id].time_zone == "Europe/Paris"
    created = [e for e in platform.store.outbox if isinstance(e, OrganizationCreated)]
    assert [(e.slug, e.time_zone) for e in created] == [("paris", "Europe/Paris"), ("plain", "UTC")]


@pytest.mark.parametrize("zone", ["Mars/Olympus", "europe/paris", "", "UTC+2", "../../etc/passwd"])
async def test_an_unknown_time_zone_is_refused_naming_the_field(platform: IdentityPlatform, zone: str) -> None:
    with pytest.raises(ValidationFailed) as created:
        await platform.identity.create_organization(
            SYSTEM, CreateOrganization(slug="acme", name="Acme", time_zone=zone)
        )
    assert [e.field for e in created.value.errors] == ["time_zone"]
    organization = await platform.add_organization("globex")
    with pytest.raises(ValidationFailed) as updated:
        await platform.identity.update_organization(SYSTEM, organization.id, UpdateOrganization(time_zone=zone))
    assert [e.field for e in updated.value.errors] == ["time_zone"]
    assert platform.store.organizations[organization.id].time_zone == "UTC"


async def test_an_update_changes_what_it_names_and_records_one_event(platform: IdentityPlatform) -> None:
    organization = await platform.add_organization("acme")
    updated = await platform.identity.update_organization(
        SYSTEM, organization.id, UpdateOrganization(time_zone="America/New_York")
    )
    stored = platform.store.organizations[organization.id]
    assert (updated.name, updated.time_zone) == ("Acme", "America/New_York")
    assert (stored.name, stored.time_zone) == ("Acme", "America/New_York")
    await platform.identity.update_organization(SYSTEM, organization.id, UpdateOrganization(name="  Acme   Corp "))
    assert platform.store.organizations[organization.id].name == "Acme Corp"
    events = [e for e in platform.store.outbox if isinstance(e, OrganizationUpdated)]
    assert [(e.fields, e.name, e.time_zone) for e in events] == [
        (["time_zone"], "Acme", "America/New_York"),
        (["name"], "Acme Corp", "America/New_York"),
    ]
    assert all(e.aggregate_id == organization.id for e in events)


async def test_an_update_that_changes_nothing_records_nothing(platform: IdentityPlatform) -> None:
    organization = await platform.add_organization("acme")
    before = len(platform.store.outbox)
    same = await platform.identity.update_organization(
        SYSTEM, organization.id, UpdateOrganization(name="Acme", time_zone="UTC")
    )
    assert (same.name, same.time_zone) == ("Acme", "UTC")
    assert len(platform.store.outbox) == before


async def test_who_may_update_an_organization(platform: IdentityPlatform) -> None:
    acme = await platform.add_organization("acme")
    globex = await platform.add_organization("globex")
    admin = await platform.add_user(grants=[Grant(Role.ORGANIZATION_ADMIN, Scope.organization(acme.id))])
    member = await platform.add_user()
    await platform.add_member(acme.id, member.id)
    outsider = await platform.add_user()
    change = UpdateOrganization(time_zone="Asia/Tokyo")

    await platform.identity.update_organization(platform.principal(admin), acme.id, change)
    assert platform.store.organizations[acme.id].time_zone == "Asia/Tokyo"
    # A member sees the organization but may not change it; who cannot see it learns nothing of it.
    with pytest.raises(PermissionDenied):
        await platform.identity.update_organization(platform.principal(member), acme.id, change)
    for who, organization_id in [(admin, globex.id), (outsider, acme.id), (outsider, uuid.uuid4())]:
        with pytest.raises(NotFound):
            await platform.identity.update_organization(platform.principal(who), organization_id, change)
    with pytest.raises(Unauthenticated):
        await platform.identity.update_organization(ANONYMOUS, acme.id, change)
    assert platform.store.organizations[globex.id].time_zone == "UTC"


def test_the_commands_refuse_unknown_fields_and_overlong_zones() -> None:
    with pytest.raises(ValidationError):
        UpdateOrganization.model_validate({"slug": "other"})
    with pytest.raises(ValidationError):
        CreateOrganization(slug="acme", name="Acme", time_zone="A" * 65)


def test_the_model_checks_the_zone_itself() -> None:
    with pytest.raises(ValidationFailed):
        Organization.create(slug="acme", name="Acme", time_zone="Nowhere/Town", at=datetime(2026, 12, 7, tzinfo=UTC))
