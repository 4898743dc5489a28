"""The access matrix: every endpoint, driven by every kind of caller, allowed or refused as the rules say.

The callers: anonymous, the admin service token, and eight users of two
organizations, each holding one shape of grant:

- ``platform_admin``: platform_admin on the platform;
- ``org_admin_a``: organization_admin on organization A;
- ``instructor_owner``: instructor on A (which lets them create courses there,
  nothing more) and the owner of course CA1, which they created through the API;
- ``instructor_granted``: instructor on course CA1 only, not its owner;
- ``instructor_other``: instructor on course CA2, another course of A;
- ``ta``: teaching_assistant on CA1;
- ``learner``: no role, a member of A;
- ``user_b``: organization_admin on organization B (and a member of it only).

The expectations are written out per caller in the tables below, from the
rules in ``elearning_core.auth.model`` and the use cases, not from what the
code answers: 2xx when allowed; 401 for the anonymous (and for a service
account on the routes that need a user's own account); 403 for a signed-in
caller without the permission; 404 where the API hides that a thing exists
(a draft course, an organization one is not part of). Every refused write is
also checked to have changed nothing: the row counts of every table it could
write (the outbox included), course versions and statuses, user statuses and
changes, and open sessions are compared before and after.

A write that is allowed runs on a resource of its own, so that it never
changes what another cell sees: a throwaway account, or a copy of the course
with the same organization, owner and course grants (one copy per caller and
course, which that caller's allowed writes go through in order; a fresh one to
delete). Refused writes run on the real thing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from itertools import count
from typing import Any, Final

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import text

from elearning_adapters.settings import Settings
from elearning_core.course.commands import CourseRef, CourseSpec, LessonSpec, SectionSpec
from elearning_core.identity.commands import CreateOrganization, CreateUser, RoleGrantSpec
from elearning_core.shared.ports import SYSTEM
from tests.e2e.http_helpers import (
    ADMIN,
    BACKENDS,
    COURSES,
    Api,
    Checks,
    Json,
    assert_problem,
    backend_settings,
    random_id,
    serve,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

PASSWORD = "a long passphrase for tests"
NEW_PASSWORD = "another long passphrase for tests"
ADMIN_USERS = "/api/v1/admin/users"
ORGANIZATIONS = "/api/v1/organizations"
ME = "/api/v1/users/me"
PERMISSIONS = "/api/v1/me/permissions"
AUTH = "/api/v1/auth"

# The columns of every table, in this order.
ACTORS: Final = (
    "anonymous",
    "admin_token",
    "platform_admin",
    "org_admin_a",
    "instructor_owner",
    "instructor_granted",
    "instructor_other",
    "ta",
    "learner",
    "user_b",
)
USERS: Final = ACTORS[2:]
OK: Final = 0
"""In a table: allowed, answered with the row's own success status (200, 201, 204...)."""

PROBLEM_TYPES = {401: "unauthenticated", 403: "permission-denied", 404: "not-found", 422: "validation-failed"}


@pytest.fixture(scope="module", params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # Every test signs its users in again, and a few rows ask for mails: no throttle may get in the way.
    return backend_settings(
        request,
        tmp_path_factory.mktemp("access"),
        login_limit_per_account=10_000,
        login_limit_per_ip=100_000,
        reset_limit_per_account=10_000,
        reset_limit_per_ip=100_000,
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(settings: Settings) -> AsyncIterator[Api]:
    async with serve(settings) as app:
        yield app


@pytest_asyncio.fixture(loop_scope="module")
async def world(running: Api) -> World:
    return await build_world(await running.reset())


# -- the world the matrix runs in ---------------------------------------------------------


@dataclass(frozen=True)
class CourseTarget:
    """A course as the requests need it: ids of its sections, and of the first section's lessons."""

    id: str
    slug: str
    status: str
    sections: list[str]
    lessons: list[str]

    @property
    def url(self) -> str:
        return f"{COURSES}/{self.id}"

    @property
    def section(self) -> str:
        return f"{self.url}/sections/{self.sections[0]}"

    @property
    def lesson(self) -> str:
        return f"{self.section}/lessons/{self.lessons[0]}"


@dataclass
class World:
    api: Api
    org_a: str
    org_b: str
    ids: dict[str, str]
    """User id of each user actor, plus ``bystander`` (a member of A with no role)."""
    tokens: dict[str, str]
    courses: dict[str, CourseTarget]
    """CA1 (draft, A, owned by instructor_owner), CA2 (draft, A), CB (draft, B), CP (published, A)."""
    serial: count[int] = field(default_factory=count)
    spare_sessions: list[str] = field(default_factory=list)
    """Refresh tokens of the spare account's sessions, for the rows that refresh and end one."""
    copies: dict[tuple[str, str], str] = field(default_factory=dict)
    """The course each (course key, actor) pair's allowed writes go to."""

    def headers(self, actor: str) -> dict[str, str]:
        if actor == "anonymous":
            return {}
        if actor == "admin_token":
            return ADMIN
        return {"Authorization": f"Bearer {self.tokens[actor]}"}

    def next(self) -> int:
        return next(self.serial)

    async def request(self, actor: str, method: str, url: str, body: Json | None = None) -> httpx.Response:
        return await self.api.client.request(method, url, json=body, headers=self.headers(actor))

    # -- resources made for one cell ------------------------------------------------------

    async def fresh_user(
        self, *, member_of: str | None = None, grant: RoleGrantSpec | None = None, suspended: bool = False
    ) -> str:
        """A throwaway account (no password: nobody signs in as it), set up through the services."""
        identity = self.api.platform.identity
        n = self.next()
        user = await identity.create_user(SYSTEM, CreateUser(email=f"spare{n}@example.com", display_name=f"Spare {n}"))
        if member_of is not None:
            await identity.add_member(SYSTEM, uuid.UUID(member_of), user.id)
        if grant is not None:
            await identity.grant_role(SYSTEM, user.id, grant)
        if suspended:
            await identity.set_status(SYSTEM, user.id, suspended=True)
        return str(user.id)

    async def working_copy(self, key: str, actor: str, *, published: bool) -> CourseTarget:
        """The copy of course ``key`` that ``actor``'s allowed writes go to, as it is now."""
        course_id = self.copies.get((key, actor))
        if course_id is None:
            course_id = self.copies[(key, actor)] = (await self.course_like(key)).id
        target = await target_of(self.api, uuid.UUID(course_id))
        if published and target.status != "published":
            # Publishing is a cell of its own; if it failed, unpublishing is still checked.
            await self.api.platform.courses.publish(SYSTEM, CourseRef(course_id=uuid.UUID(course_id)))
        return target

    async def course_like(self, key: str) -> CourseTarget:
        """A new course placed like ``key``: same organization, owner and course grants, same outline shape."""
        n = self.next()
        spec = COURSE_SHAPES[key]
        course_id = await seed_course(
            self.api,
            f"{key.lower()}-copy-{n}",
            organization_id=getattr(self, spec["organization"]),
            owner_id=self.ids.get(spec["owner"] or ""),
        )
        for actor, role in spec["grants"]:
            await self.api.platform.identity.grant_role(
                SYSTEM, uuid.UUID(self.ids[actor]), RoleGrantSpec(role=role, scope="course", scope_id=course_id)
            )
        return await target_of(self.api, course_id)

    # -- the state a refused request must leave as it found it ------------------------------

    async def state(self) -> tuple[Any, ...]:
        """Row counts of every table a request could write, and what an in-place change moves.

        An update leaves counts alone but moves a course's version or a user's ``updated_at``
        (or status); and every change the services make records an outbox event besides.
        """
        async with self.api.platform.database.read() as conn:
            return tuple((await conn.execute(STATE)).one())


STATE = text(
    "SELECT "
    + ", ".join(
        f"({query})"
        for query in (
            *(
                f"SELECT count(*) FROM {table}"
                for table in (
                    "courses",
                    "course_sections",
                    "course_lessons",
                    "outbox",
                    "users",
                    "user_grants",
                    "organizations",
                    "organization_members",
                )
            ),
            "SELECT coalesce(sum(version), 0) FROM courses",
            "SELECT count(*) FROM courses WHERE status = 'draft'",
            "SELECT count(*) FROM users WHERE status = 'active'",
            "SELECT max(updated_at) FROM users",
            "SELECT count(*) FROM login_sessions WHERE revoked_at IS NULL",
        )
    )
)


# Where each fixed course lives and who holds a role on it, for ``build_world`` and ``World.course_like``.
COURSE_SHAPES: dict[str, dict[str, Any]] = {
    "CA1": {
        "organization": "org_a",
        "owner": "instructor_owner",
        "grants": [("instructor_granted", "instructor"), ("ta", "teaching_assistant")],
    },
    "CA2": {"organization": "org_a", "owner": None, "grants": [("instructor_other", "instructor")]},
    "CB": {"organization": "org_b", "owner": None, "grants": []},
}


async def seed_course(
    api: Api, slug: str, *, organization_id: str, owner_id: str | None = None, published: bool = False
) -> uuid.UUID:
    """A course with sections "Basics" (three lessons) and "More" (one), in one transaction."""
    spec = CourseSpec(
        slug=slug,
        title=slug.replace("-", " ").title(),
        organization_id=uuid.UUID(organization_id),
        owner_id=uuid.UUID(owner_id) if owner_id else None,
        status="published" if published else "draft",
        sections=[
            SectionSpec(title="Basics", lessons=[LessonSpec(title=t) for t in ("Variables", "Loops", "Functions")]),
            SectionSpec(title="More", lessons=[LessonSpec(title="Classes")]),
        ],
    )
    (course,) = await api.platform.courses.import_courses(SYSTEM, [spec])
    return course.id


async def target_of(api: Api, course_id: uuid.UUID) -> CourseTarget:
    outline = await api.platform.courses.get_outline(SYSTEM, course_id)
    return CourseTarget(
        id=str(outline.id),
        slug=outline.slug,
        status=outline.status.value,
        sections=[str(s.id) for s in outline.sections],
        lessons=[str(lesson.id) for lesson in outline.sections[0].lessons],
    )


async def login(api: Api, email: str, password: str = PASSWORD) -> str:
    response = await api.client.post(f"{AUTH}/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def build_world(api: Api) -> World:
    identity = api.platform.identity
    org_a = await identity.create_organization(SYSTEM, CreateOrganization(slug="org-a", name="Organization A"))
    org_b = await identity.create_organization(SYSTEM, CreateOrganization(slug="org-b", name="Organization B"))
    # "spare": the account the auth rows sign in to and out of, so that the actors' sessions stay as they are.
    # Concurrently: each password costs an Argon2 hash (or check), and those run on every core.
    users = await asyncio.gather(
        *(
            identity.create_user(SYSTEM, CreateUser(email=f"{name}@example.com", display_name=name, password=PASSWORD))
            for name in (*USERS, "spare")
        )
    )
    ids = {name: str(user.id) for name, user in zip(USERS, users, strict=False)}
    bystander = await identity.create_user(SYSTEM, CreateUser(email="bystander@example.com", display_name="B"))
    ids["bystander"] = str(bystander.id)
    for name in (*USERS, "bystander"):
        organization = org_b if name == "user_b" else org_a
        if name != "platform_admin":
            await identity.add_member(SYSTEM, organization.id, uuid.UUID(ids[name]))
    broad_grants = {
        "platform_admin": RoleGrantSpec(role="platform_admin"),
        "org_admin_a": RoleGrantSpec(role="organization_admin", scope="organization", scope_id=org_a.id),
        "instructor_owner": RoleGrantSpec(role="instructor", scope="organization", scope_id=org_a.id),
        "user_b": RoleGrantSpec(role="organization_admin", scope="organization", scope_id=org_b.id),
    }
    for name, spec in broad_grants.items():
        await identity.grant_role(SYSTEM, uuid.UUID(ids[name]), spec)
    tokens = dict(zip(USERS, await asyncio.gather(*(login(api, f"{name}@example.com") for name in USERS)), strict=True))

    # CA1: created and outlined through the API by the instructor of A, who thereby owns it.
    owner = {"Authorization": f"Bearer {tokens['instructor_owner']}"}
    response = await api.client.post(
        COURSES, json={"title": "Course A1", "slug": "course-a1", "organization_id": str(org_a.id)}, headers=owner
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert (created["owner_id"], created["organization_id"]) == (ids["instructor_owner"], str(org_a.id))
    ca1 = created["id"]
    for title, lessons in (("Basics", ("Variables", "Loops", "Functions")), ("More", ("Classes",))):
        response = await api.client.post(f"{COURSES}/{ca1}/sections", json={"title": title}, headers=owner)
        assert response.status_code == 201, response.text
        for lesson in lessons:
            url = f"{COURSES}/{ca1}/sections/{response.json()['id']}/lessons"
            added = await api.client.post(url, json={"title": lesson}, headers=owner)
            assert added.status_code == 201, added.text

    world = World(api=api, org_a=str(org_a.id), org_b=str(org_b.id), ids=ids, tokens=tokens, courses={})
    world.courses["CA1"] = await target_of(api, uuid.UUID(ca1))
    for key in ("CA2", "CB"):
        organization = getattr(world, COURSE_SHAPES[key]["organization"])
        world.courses[key] = await target_of(
            api, await seed_course(api, f"course-{key.lower()}", organization_id=organization)
        )
    world.courses["CP"] = await target_of(
        api, await seed_course(api, "course-cp", organization_id=world.org_a, published=True)
    )
    for key, shape in COURSE_SHAPES.items():
        for actor, role in shape["grants"]:
            spec = RoleGrantSpec(role=role, scope="course", scope_id=uuid.UUID(world.courses[key].id))
            await identity.grant_role(SYSTEM, uuid.UUID(ids[actor]), spec)
    return world


# -- the tables ---------------------------------------------------------------------------------

Expect = tuple[int, ...]


def expect(*statuses: int) -> Expect:
    assert len(statuses) == len(ACTORS), f"a row needs one status per actor, not {len(statuses)}"
    return statuses


EDIT, PUBLISH, DELETE, VIEW = "course.edit", "course.publish", "course.delete", "course.view_unpublished"

# What each caller may do on each course. Course rights come from a platform grant, the course's
# organization's organization_admin, a grant on the course itself, or owning it; an instructor of the
# organization (instructor_owner on CA2) gets none of them. The instructor role holds course.delete
# (ROLE_PERMISSIONS), so instructor_granted may delete CA1. A draft is hidden (404) from whoever lacks
# course.view_unpublished, the anonymous included: reads are public.
# Columns in ACTORS order: anonymous, admin_token, platform_admin, org_admin_a, instructor_owner,
# instructor_granted, instructor_other, ta, learner, user_b.
COURSE_RIGHTS: dict[tuple[str, str], Expect] = {
    ("CA1", EDIT): expect(401, OK, OK, OK, OK, OK, 403, 403, 403, 403),
    ("CA1", PUBLISH): expect(401, OK, OK, OK, OK, OK, 403, 403, 403, 403),
    ("CA1", DELETE): expect(401, OK, OK, OK, OK, OK, 403, 403, 403, 403),
    ("CA1", VIEW): expect(404, OK, OK, OK, OK, OK, 404, OK, 404, 404),
    ("CA2", EDIT): expect(401, OK, OK, OK, 403, 403, OK, 403, 403, 403),
    ("CA2", PUBLISH): expect(401, OK, OK, OK, 403, 403, OK, 403, 403, 403),
    ("CA2", DELETE): expect(401, OK, OK, OK, 403, 403, OK, 403, 403, 403),
    ("CA2", VIEW): expect(404, OK, OK, OK, 404, 404, OK, 404, 404, 404),
    ("CB", EDIT): expect(401, OK, OK, 403, 403, 403, 403, 403, 403, OK),
    ("CB", PUBLISH): expect(401, OK, OK, 403, 403, 403, 403, 403, 403, OK),
    ("CB", DELETE): expect(401, OK, OK, 403, 403, 403, 403, 403, 403, OK),
    ("CB", VIEW): expect(404, OK, OK, 404, 404, 404, 404, 404, 404, OK),
    ("CP", VIEW): expect(OK, OK, OK, OK, OK, OK, OK, OK, OK, OK),
}


@dataclass(frozen=True)
class CourseWrite:
    name: str
    method: str
    path: Callable[[CourseTarget], str]
    body: Callable[[CourseTarget], Json | None]
    ok: int
    permission: str
    published: bool = False
    """Whether the course must be published for the write to succeed."""


# In an order that keeps each write possible when one caller's writes follow each other on one course
# (see ``World.working_copy``): the outline keeps a lesson to publish with, unpublishing follows publishing.
COURSE_WRITES = [
    CourseWrite("update", "PATCH", lambda c: c.url, lambda c: {"title": "Changed title"}, 200, EDIT),
    CourseWrite("add section", "POST", lambda c: f"{c.url}/sections", lambda c: {"title": "New"}, 201, EDIT),
    CourseWrite(
        "reorder sections",
        "PUT",
        lambda c: f"{c.url}/sections/order",
        lambda c: {"section_ids": c.sections[::-1]},
        200,
        EDIT,
    ),
    CourseWrite("rename section", "PATCH", lambda c: c.section, lambda c: {"title": "Renamed"}, 200, EDIT),
    CourseWrite(
        "set section requirements",
        "PUT",
        lambda c: f"{c.section}/requirements",
        lambda c: {"requirements": []},
        200,
        EDIT,
    ),
    CourseWrite("remove section", "DELETE", lambda c: f"{c.url}/sections/{c.sections[1]}", lambda c: None, 204, EDIT),
    CourseWrite("add lesson", "POST", lambda c: f"{c.section}/lessons", lambda c: {"title": "New"}, 201, EDIT),
    CourseWrite(
        "reorder lessons",
        "PUT",
        lambda c: f"{c.section}/lessons/order",
        lambda c: {"lesson_ids": c.lessons[::-1]},
        200,
        EDIT,
    ),
    CourseWrite("rename lesson", "PATCH", lambda c: c.lesson, lambda c: {"title": "Renamed"}, 200, EDIT),
    CourseWrite(
        "set lesson requirements",
        "PUT",
        lambda c: f"{c.lesson}/requirements",
        lambda c: {"requirements": []},
        200,
        EDIT,
    ),
    CourseWrite("remove lesson", "DELETE", lambda c: c.lesson, lambda c: None, 204, EDIT),
    CourseWrite("publish", "POST", lambda c: f"{c.url}/publish", lambda c: None, 200, PUBLISH),
    CourseWrite("unpublish", "POST", lambda c: f"{c.url}/unpublish", lambda c: None, 200, PUBLISH, published=True),
    CourseWrite("archive", "POST", lambda c: f"{c.url}/archive", lambda c: None, 200, PUBLISH),
    CourseWrite("delete", "DELETE", lambda c: c.url, lambda c: None, 204, DELETE),
]


@dataclass
class Cell:
    world: World
    actor: str
    target: Any = None
    """What the row's setup made for this cell (a user id, a course), if anything."""

    @property
    def me(self) -> str:
        """The caller's own user id; a throwaway account's stands in for anonymous and the admin token."""
        return self.world.ids[self.actor] if self.actor in self.world.ids else str(self.target)


Setup = Callable[[World, str, bool], Awaitable[Any]]
"""Makes what a cell acts on, given the world, the actor and whether the cell is expected to be allowed."""
Check = Callable[[Cell, httpx.Response], None]


@dataclass(frozen=True)
class Row:
    name: str
    method: str
    path: Callable[[Cell], str]
    expected: Expect
    ok: int = 200
    body: Callable[[Cell], Json | None] = lambda cell: None
    setup: Setup | None = None
    check: Check | None = None


def _user(
    *, member_of: str | None = None, grant: Callable[[World], RoleGrantSpec] | None = None, suspended: bool = False
) -> Setup:
    """A setup making a throwaway account, a member of ``member_of`` ("org_a", "org_b"), holding ``grant``."""

    async def make(world: World, actor: str, allowed: bool) -> str:
        return await world.fresh_user(
            member_of=getattr(world, member_of) if member_of else None,
            grant=grant(world) if grant else None,
            suspended=suspended,
        )

    return make


async def _self_or_fresh(world: World, actor: str, allowed: bool) -> str | None:
    return None if actor in world.ids else await world.fresh_user()


async def _spare_session(world: World, actor: str, allowed: bool) -> str:
    """A refresh token of the spare account: one the login and refresh rows handed out, else a new sign-in."""
    if world.spare_sessions:
        return world.spare_sessions.pop()
    tokens = await world.api.platform.auth.login("spare@example.com", PASSWORD, client_ip="setup")
    return tokens.refresh_token


def _keep_refresh_token(cell: Cell, response: httpx.Response) -> None:
    """A session handed out by a cell, kept for the next row that needs one (each sign-in costs a hash)."""
    cell.world.spare_sessions.append(response.json()["refresh_token"])


def _course_grant(key: str, role: str = "instructor") -> Callable[[World], RoleGrantSpec]:
    return lambda w: RoleGrantSpec(role=role, scope="course", scope_id=uuid.UUID(w.courses[key].id))


def _org_grant(org: str, role: str) -> Callable[[World], RoleGrantSpec]:
    return lambda w: RoleGrantSpec(role=role, scope="organization", scope_id=uuid.UUID(getattr(w, org)))


def _grant_body(spec: Callable[[World], RoleGrantSpec]) -> Callable[[Cell], Json]:
    return lambda cell: spec(cell.world).model_dump(mode="json")


def _revoke_query(spec: Callable[[World], RoleGrantSpec]) -> Callable[[World], str]:
    def query(world: World) -> str:
        grant = spec(world)
        return f"?role={grant.role}&scope={grant.scope}" + (f"&scope_id={grant.scope_id}" if grant.scope_id else "")

    return query


def _platform_grant(role: str = "platform_admin") -> Callable[[World], RoleGrantSpec]:
    return lambda w: RoleGrantSpec(role=role)


# -- checks of what an allowed answer says ---------------------------------------------------


def _is_me(cell: Cell, response: httpx.Response) -> None:
    assert response.json()["id"] == cell.world.ids[cell.actor]


def _catalog_shows_only_published(cell: Cell, response: httpx.Response) -> None:
    slugs = {item["slug"] for item in response.json()["items"]}
    assert cell.world.courses["CP"].slug in slugs, slugs
    assert not slugs & {cell.world.courses[k].slug for k in ("CA1", "CA2", "CB")}, slugs


def _created_for(org: str | None) -> Check:
    def check(cell: Cell, response: httpx.Response) -> None:
        body = response.json()
        assert body["organization_id"] == (getattr(cell.world, org) if org else None)
        # A user's course is theirs; the service account's has no owner.
        assert body["owner_id"] == cell.world.ids.get(cell.actor)
        assert body["status"] == "draft"

    return check


def _owned_by_learner(cell: Cell, response: httpx.Response) -> None:
    assert response.json()["owner_id"] == cell.world.ids["learner"]


def _organizations_visible(cell: Cell, response: httpx.Response) -> None:
    seen = {item["id"] for item in response.json()["items"]}
    w = cell.world
    if cell.actor in ("admin_token", "platform_admin"):
        assert {w.org_a, w.org_b} <= seen
    else:
        assert seen == {w.org_b if cell.actor == "user_b" else w.org_a}, seen


def _members_of(org: str) -> Check:
    def check(cell: Cell, response: httpx.Response) -> None:
        w = cell.world
        seen = {item["id"] for item in response.json()["items"]}
        inside, outside = (w.ids["learner"], w.ids["user_b"]) if org == "org_a" else (w.ids["user_b"], w.ids["learner"])
        assert inside in seen, seen
        assert outside not in seen, seen

    return check


def _permissions_match(key: str) -> Check:
    """``/me/permissions`` says exactly what the course routes enforce (COURSE_RIGHTS), each with a reason."""

    def check(cell: Cell, response: httpx.Response) -> None:
        body = response.json()
        assert body["resource"] == f"course {cell.world.courses[key].id}", body["resource"]
        decisions = {p["permission"]: p for p in body["permissions"]}
        for permission in (EDIT, PUBLISH, DELETE, VIEW):
            allowed = COURSE_RIGHTS[(key, permission)][ACTORS.index(cell.actor)] == OK
            assert decisions[permission]["allowed"] is allowed, decisions[permission]
            assert decisions[permission]["reason"], decisions[permission]

    return check


def _manages_users_of_a(cell: Cell, response: httpx.Response) -> None:
    decisions = {p["permission"]: p["allowed"] for p in response.json()["permissions"]}
    assert decisions["user.manage"] is (cell.actor in ("admin_token", "platform_admin", "org_admin_a"))
    assert decisions["organization.manage"] is (cell.actor in ("admin_token", "platform_admin"))


def _spare_login() -> Callable[[Cell], Json]:
    return lambda cell: {"email": "spare@example.com", "password": PASSWORD}


# Every route of app.py but /metrics and /schema, and the course routes (COURSE_WRITES and the reads below).
# Accounts are platform-wide: reading, suspending or deleting someone else's needs user.manage on the
# platform, which an organization admin does not hold; listing the members of an organization and
# managing its membership and roles needs it on that organization. A grant needs role.grant on the
# grant's own scope, so nobody hands out more than they hold.
#
# The statuses of each ``expect(...)`` are in ACTORS order: anonymous, admin_token, platform_admin,
# org_admin_a, instructor_owner, instructor_granted, instructor_other, ta, learner, user_b.
ROWS: list[Row] = [
    # -- public: allowed for everyone, whoever they are --------------------------------------------
    Row("health", "GET", lambda c: "/health", expect(OK, OK, OK, OK, OK, OK, OK, OK, OK, OK)),
    Row("ready", "GET", lambda c: "/ready", expect(OK, OK, OK, OK, OK, OK, OK, OK, OK, OK)),
    Row("jwks", "GET", lambda c: "/.well-known/jwks.json", expect(OK, OK, OK, OK, OK, OK, OK, OK, OK, OK)),
    Row(
        "openid configuration",
        "GET",
        lambda c: "/.well-known/openid-configuration",
        expect(OK, OK, OK, OK, OK, OK, OK, OK, OK, OK),
    ),
    Row("auth providers", "GET", lambda c: f"{AUTH}/providers", expect(OK, OK, OK, OK, OK, OK, OK, OK, OK, OK)),
    Row(
        "register",
        "POST",
        lambda c: f"{AUTH}/register",
        expect(OK, OK, OK, OK, OK, OK, OK, OK, OK, OK),
        ok=202,
        body=lambda c: {"email": f"new-{c.actor}@example.com", "password": PASSWORD, "display_name": c.actor},
    ),
    Row(
        "login",
        "POST",
        lambda c: f"{AUTH}/login",
        expect(OK, OK, OK, OK, OK, OK, OK, OK, OK, OK),
        body=_spare_login(),
        check=_keep_refresh_token,
    ),
    Row(
        "refresh",
        "POST",
        lambda c: f"{AUTH}/refresh",
        expect(OK, OK, OK, OK, OK, OK, OK, OK, OK, OK),
        body=lambda c: {"refresh_token": c.target},
        setup=_spare_session,
        check=_keep_refresh_token,
    ),
    Row(
        "password reset request",
        "POST",
        lambda c: f"{AUTH}/password-reset",
        expect(OK, OK, OK, OK, OK, OK, OK, OK, OK, OK),
        ok=202,
        body=lambda c: {"email": "spare@example.com"},
    ),
    # Refused for the bad token, or the unknown provider, never for who asks.
    Row(
        "confirm an email by its link, with a bad token",
        "GET",
        lambda c: f"{AUTH}/verify-email?token=not-a-token",
        expect(422, 422, 422, 422, 422, 422, 422, 422, 422, 422),
    ),
    Row(
        "external sign-in with an unknown provider",
        "GET",
        lambda c: f"{AUTH}/oidc/nowhere/authorize",
        expect(404, 404, 404, 404, 404, 404, 404, 404, 404, 404),
    ),
    Row(
        "verify email with a bad token",
        "POST",
        lambda c: f"{AUTH}/verify-email",
        expect(422, 422, 422, 422, 422, 422, 422, 422, 422, 422),
        body=lambda c: {"token": "not-a-token"},
    ),
    Row(
        "confirm password reset with a bad token",
        "POST",
        lambda c: f"{AUTH}/password-reset/confirm",
        expect(422, 422, 422, 422, 422, 422, 422, 422, 422, 422),
        body=lambda c: {"token": "not-a-token", "new_password": NEW_PASSWORD},
    ),
    # -- signed in: one's own session and account (a service account has none: 401) ------------------
    Row(
        "logout (another session, named by its refresh token)",
        "POST",
        lambda c: f"{AUTH}/logout",
        expect(401, OK, OK, OK, OK, OK, OK, OK, OK, OK),
        ok=204,
        body=lambda c: {"refresh_token": c.target},
        setup=_spare_session,
    ),
    Row(
        "resend verification mail",
        "POST",
        lambda c: f"{AUTH}/verify-email/resend",
        expect(401, 401, OK, OK, OK, OK, OK, OK, OK, OK),
        ok=202,
    ),
    Row("my account", "GET", lambda c: ME, expect(401, 401, OK, OK, OK, OK, OK, OK, OK, OK), check=_is_me),
    Row(
        "update my profile",
        "PATCH",
        lambda c: ME,
        expect(401, 401, OK, OK, OK, OK, OK, OK, OK, OK),
        body=lambda c: {"bio": f"I am {c.actor}"},
        check=_is_me,
    ),
    # -- the catalog ---------------------------------------------------------------------------------
    Row(
        "list courses",
        "GET",
        lambda c: COURSES,
        expect(OK, OK, OK, OK, OK, OK, OK, OK, OK, OK),
        check=_catalog_shows_only_published,
    ),
    Row(
        "create a platform course",
        "POST",
        lambda c: COURSES,
        expect(401, OK, OK, 403, 403, 403, 403, 403, 403, 403),
        ok=201,
        body=lambda c: {"title": f"Platform course by {c.actor}"},
        check=_created_for(None),
    ),
    Row(
        "create a course in A",
        "POST",
        lambda c: COURSES,
        expect(401, OK, OK, OK, OK, 403, 403, 403, 403, 403),
        ok=201,
        body=lambda c: {"title": f"A course by {c.actor}", "organization_id": c.world.org_a},
        check=_created_for("org_a"),
    ),
    # Its owner holds an implicit instructor grant on a course: naming someone else as owner grants a
    # role, and needs role.grant there, which an instructor (and the learner named) lacks.
    Row(
        "create a course in A owned by the learner",
        "POST",
        lambda c: COURSES,
        expect(401, OK, OK, OK, 403, 403, 403, 403, 403, 403),
        ok=201,
        body=lambda c: {
            "title": f"For the learner by {c.actor}",
            "organization_id": c.world.org_a,
            "owner_id": c.world.ids["learner"],
        },
        check=_owned_by_learner,
    ),
    Row(
        "create a course in B",
        "POST",
        lambda c: COURSES,
        expect(401, OK, OK, 403, 403, 403, 403, 403, 403, OK),
        ok=201,
        body=lambda c: {"title": f"B course by {c.actor}", "organization_id": c.world.org_b},
        check=_created_for("org_b"),
    ),
    # -- what may I do here, and why: the anonymous are told to sign in --------------------------------
    Row("my permissions", "GET", lambda c: PERMISSIONS, expect(401, OK, OK, OK, OK, OK, OK, OK, OK, OK)),
    *(
        Row(
            f"my permissions on {key}",
            "GET",
            lambda c, key=key: f"{PERMISSIONS}?resource=course:{c.world.courses[key].id}",  # type: ignore[misc]
            expect(401, OK, OK, OK, OK, OK, OK, OK, OK, OK),
            check=_permissions_match(key),
        )
        for key in ("CA1", "CA2", "CB")
    ),
    Row(
        "my permissions on organization A",
        "GET",
        lambda c: f"{PERMISSIONS}?resource=organization:{c.world.org_a}",
        expect(401, OK, OK, OK, OK, OK, OK, OK, OK, OK),
        check=_manages_users_of_a,
    ),
    Row(
        "my permissions on an unknown course",
        "GET",
        lambda c: f"{PERMISSIONS}?resource=course:{random_id()}",
        expect(401, 404, 404, 404, 404, 404, 404, 404, 404, 404),
    ),
    # -- accounts ------------------------------------------------------------------------------------
    Row("list accounts", "GET", lambda c: ADMIN_USERS, expect(401, OK, OK, 403, 403, 403, 403, 403, 403, 403)),
    Row(
        "list the members of A",
        "GET",
        lambda c: f"{ADMIN_USERS}?organization_id={c.world.org_a}&limit=100",
        expect(401, OK, OK, OK, 403, 403, 403, 403, 403, 403),
        check=_members_of("org_a"),
    ),
    Row(
        "list the members of B",
        "GET",
        lambda c: f"{ADMIN_USERS}?organization_id={c.world.org_b}&limit=100",
        expect(401, OK, OK, 403, 403, 403, 403, 403, 403, OK),
        check=_members_of("org_b"),
    ),
    Row(
        "create an account",
        "POST",
        lambda c: ADMIN_USERS,
        expect(401, OK, OK, 403, 403, 403, 403, 403, 403, 403),
        ok=201,
        body=lambda c: {"email": f"made-by-{c.actor}@example.com", "display_name": "Made"},
    ),
    Row(
        "read another account (a member of A)",
        "GET",
        lambda c: f"{ADMIN_USERS}/{c.world.ids['bystander']}",
        expect(401, OK, OK, 403, 403, 403, 403, 403, 403, 403),
    ),
    Row(
        "read an unknown account (no enumeration without user.manage)",
        "GET",
        lambda c: f"{ADMIN_USERS}/{random_id()}",
        expect(401, 404, 404, 403, 403, 403, 403, 403, 403, 403),
    ),
    Row(
        "read one's own account by id",
        "GET",
        lambda c: f"{ADMIN_USERS}/{c.me}",
        expect(401, OK, OK, OK, OK, OK, OK, OK, OK, OK),
        setup=_self_or_fresh,
    ),
    Row(
        "suspend an account",
        "POST",
        lambda c: f"{ADMIN_USERS}/{c.target}/suspend",
        expect(401, OK, OK, 403, 403, 403, 403, 403, 403, 403),
        body=lambda c: {"reason": f"by {c.actor}"},
        setup=_user(member_of="org_a"),
    ),
    Row(
        "reactivate an account",
        "POST",
        lambda c: f"{ADMIN_USERS}/{c.target}/reactivate",
        expect(401, OK, OK, 403, 403, 403, 403, 403, 403, 403),
        setup=_user(member_of="org_a", suspended=True),
    ),
    Row(
        "delete an account",
        "DELETE",
        lambda c: f"{ADMIN_USERS}/{c.target}",
        expect(401, OK, OK, 403, 403, 403, 403, 403, 403, 403),
        ok=204,
        setup=_user(member_of="org_a"),
    ),
    # -- role grants -----------------------------------------------------------------------------------
    Row(
        "grant instructor on CA1",
        "POST",
        lambda c: f"{ADMIN_USERS}/{c.target}/roles",
        expect(401, OK, OK, OK, 403, 403, 403, 403, 403, 403),
        ok=201,
        body=_grant_body(_course_grant("CA1")),
        setup=_user(),
    ),
    Row(
        "grant instructor on CB",
        "POST",
        lambda c: f"{ADMIN_USERS}/{c.target}/roles",
        expect(401, OK, OK, 403, 403, 403, 403, 403, 403, OK),
        ok=201,
        body=_grant_body(_course_grant("CB")),
        setup=_user(),
    ),
    Row(
        "grant instructor on organization A",
        "POST",
        lambda c: f"{ADMIN_USERS}/{c.target}/roles",
        expect(401, OK, OK, OK, 403, 403, 403, 403, 403, 403),
        ok=201,
        body=_grant_body(_org_grant("org_a", "instructor")),
        setup=_user(),
    ),
    Row(
        "grant organization_admin on A",
        "POST",
        lambda c: f"{ADMIN_USERS}/{c.target}/roles",
        expect(401, OK, OK, OK, 403, 403, 403, 403, 403, 403),
        ok=201,
        body=_grant_body(_org_grant("org_a", "organization_admin")),
        setup=_user(),
    ),
    Row(
        "grant organization_admin on B",
        "POST",
        lambda c: f"{ADMIN_USERS}/{c.target}/roles",
        expect(401, OK, OK, 403, 403, 403, 403, 403, 403, OK),
        ok=201,
        body=_grant_body(_org_grant("org_b", "organization_admin")),
        setup=_user(),
    ),
    Row(
        "grant platform_admin",
        "POST",
        lambda c: f"{ADMIN_USERS}/{c.target}/roles",
        expect(401, OK, OK, 403, 403, 403, 403, 403, 403, 403),
        ok=201,
        body=_grant_body(_platform_grant()),
        setup=_user(),
    ),
    # Escalation: oneself, to the top (a platform admin already holds it: 200, nothing changes).
    Row(
        "grant oneself platform_admin",
        "POST",
        lambda c: f"{ADMIN_USERS}/{c.me}/roles",
        expect(401, 201, 200, 403, 403, 403, 403, 403, 403, 403),
        body=_grant_body(_platform_grant()),
        setup=_self_or_fresh,
    ),
    # Escalation: oneself, to admin of one's own organization (its admin already is one: 200).
    Row(
        "grant oneself organization_admin on A",
        "POST",
        lambda c: f"{ADMIN_USERS}/{c.me}/roles",
        expect(401, 201, 201, 200, 403, 403, 403, 403, 403, 403),
        body=_grant_body(_org_grant("org_a", "organization_admin")),
        setup=_self_or_fresh,
    ),
    Row(
        "revoke instructor on CA1",
        "DELETE",
        lambda c: f"{ADMIN_USERS}/{c.target}/roles{_revoke_query(_course_grant('CA1'))(c.world)}",
        expect(401, OK, OK, OK, 403, 403, 403, 403, 403, 403),
        ok=204,
        setup=_user(grant=_course_grant("CA1")),
    ),
    Row(
        "revoke organization_admin on B",
        "DELETE",
        lambda c: f"{ADMIN_USERS}/{c.target}/roles{_revoke_query(_org_grant('org_b', 'organization_admin'))(c.world)}",
        expect(401, OK, OK, 403, 403, 403, 403, 403, 403, OK),
        ok=204,
        setup=_user(grant=_org_grant("org_b", "organization_admin")),
    ),
    Row(
        "revoke platform_admin",
        "DELETE",
        lambda c: f"{ADMIN_USERS}/{c.target}/roles{_revoke_query(_platform_grant())(c.world)}",
        expect(401, OK, OK, 403, 403, 403, 403, 403, 403, 403),
        ok=204,
        setup=_user(grant=_platform_grant()),
    ),
    # -- organizations ---------------------------------------------------------------------------------
    Row(
        "list organizations",
        "GET",
        lambda c: ORGANIZATIONS,
        expect(401, OK, OK, OK, OK, OK, OK, OK, OK, OK),
        check=_organizations_visible,
    ),
    Row(
        "create an organization",
        "POST",
        lambda c: ORGANIZATIONS,
        expect(401, OK, OK, 403, 403, 403, 403, 403, 403, 403),
        ok=201,
        body=lambda c: {"slug": f"org-by-{c.actor.replace('_', '-')}", "name": f"Made by {c.actor}"},
    ),
    Row(
        "read organization A",
        "GET",
        lambda c: f"{ORGANIZATIONS}/{c.world.org_a}",
        expect(401, OK, OK, OK, OK, OK, OK, OK, OK, 404),
    ),
    Row(
        "read organization B",
        "GET",
        lambda c: f"{ORGANIZATIONS}/{c.world.org_b}",
        expect(401, OK, OK, 404, 404, 404, 404, 404, 404, OK),
    ),
    Row(
        "add a member to A",
        "PUT",
        lambda c: f"{ORGANIZATIONS}/{c.world.org_a}/members/{c.target}",
        expect(401, OK, OK, OK, 403, 403, 403, 403, 403, 403),
        ok=201,
        setup=_user(),
    ),
    Row(
        "add a member to B",
        "PUT",
        lambda c: f"{ORGANIZATIONS}/{c.world.org_b}/members/{c.target}",
        expect(401, OK, OK, 403, 403, 403, 403, 403, 403, OK),
        ok=201,
        setup=_user(),
    ),
    Row(
        "remove a member from A",
        "DELETE",
        lambda c: f"{ORGANIZATIONS}/{c.world.org_a}/members/{c.target}",
        expect(401, OK, OK, OK, 403, 403, 403, 403, 403, 403),
        ok=204,
        setup=_user(member_of="org_a"),
    ),
    Row(
        "remove a member from B",
        "DELETE",
        lambda c: f"{ORGANIZATIONS}/{c.world.org_b}/members/{c.target}",
        expect(401, OK, OK, 403, 403, 403, 403, 403, 403, OK),
        ok=204,
        setup=_user(member_of="org_b"),
    ),
]


def _course_rows() -> list[Row]:
    """The course reads and every course write, on CA1, CA2 and CB, with COURSE_RIGHTS as expectations."""
    rows: list[Row] = []
    for key in ("CA1", "CA2", "CB", "CP"):

        def same_course(cell: Cell, response: httpx.Response, k: str = key) -> None:
            assert response.json()["id"] == cell.world.courses[k].id

        expected = COURSE_RIGHTS[(key, VIEW)]
        rows += [
            Row(f"{key}: get by id", "GET", lambda c, k=key: c.world.courses[k].url, expected, check=same_course),
            Row(
                f"{key}: get by slug",
                "GET",
                lambda c, k=key: f"{COURSES}/by-slug/{c.world.courses[k].slug}",
                expected,
                check=same_course,
            ),
        ]
    for key in ("CA1", "CA2", "CB"):
        for write in COURSE_WRITES:

            async def target(world: World, actor: str, allowed: bool, k: str = key, w: CourseWrite = write) -> Any:
                # Refused: on the course itself, which must come out of it unchanged. Allowed: on the
                # caller's own copy of it, as it stands after the caller's earlier writes (the writes are
                # in an order that keeps each one possible); deleting, on a fresh draft.
                if not allowed:
                    return world.courses[k]
                if w.permission == DELETE:
                    return await world.course_like(k)
                return await world.working_copy(k, actor, published=w.published)

            rows.append(
                Row(
                    f"{key}: {write.name}",
                    write.method,
                    lambda c, w=write: w.path(c.target),
                    COURSE_RIGHTS[(key, write.permission)],
                    ok=write.ok,
                    body=lambda c, w=write: w.body(c.target),
                    setup=target,
                )
            )
    return rows


def expected_for(actor: str, expected: Expect) -> int:
    return expected[ACTORS.index(actor)]


COURSE_ROWS = _course_rows()


# -- running the tables ------------------------------------------------------------------------------


def allowed(status: int) -> bool:
    return status == OK or 200 <= status < 300


async def run_rows(world: World, rows: list[Row], checks: Checks) -> None:
    """Every cell of ``rows``; the state is read around each refused write, and must not move."""
    known: tuple[Any, ...] | None = None  # the state as last read, while nothing could change it
    for row in rows:
        shared: list[Any] = []  # the refused cells of a row share one target: they change nothing
        for actor in ACTORS:
            status = expected_for(actor, row.expected)
            with checks.case(f"{row.name} [{actor}]"):
                target = None
                if row.setup is not None:
                    if allowed(status) or not shared:
                        target = await row.setup(world, actor, allowed(status))
                        known = None
                        if not allowed(status):
                            shared.append(target)
                    else:
                        target = shared[0]
                cell = Cell(world, actor, target)
                refused_write = row.method != "GET" and not allowed(status)
                before = known
                if refused_write and before is None:
                    before = await world.state()
                known = None  # until this cell has passed
                response = await world.request(actor, row.method, row.path(cell), row.body(cell))
                if allowed(status):
                    wanted = row.ok if status == OK else status
                    assert response.status_code == wanted, (
                        f"expected {wanted}, got {response.status_code}: {response.text}"
                    )
                    if row.check is not None:
                        row.check(cell, response)
                    continue
                problem = assert_problem(response, status)
                assert problem["type"] == f"urn:elearning:problem:{PROBLEM_TYPES[status]}", problem
                if status == 401:
                    assert response.headers["www-authenticate"].startswith("Bearer")
                if refused_write:
                    after = await world.state()
                    assert after == before, "a refused request changed the database"
                    before = after
                known = before


async def test_access_matrix(world: World) -> None:
    checks = Checks()
    await run_rows(world, [*ROWS, *COURSE_ROWS], checks)
    await self_service_last(world, checks)
    checks.verify()


async def self_service_last(world: World, checks: Checks) -> None:
    """Changing one's password and deleting one's account: each user for themselves, nobody else.

    Last, since both end the caller's sessions, which is checked too. The actors run side by side
    (every step checks or sets a password: an Argon2 hash each).
    """

    async def one(actor: str) -> None:
        user = actor in world.ids
        with checks.case(f"change my password [{actor}]"):
            body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
            response = await world.request(actor, "POST", f"{ME}/password", body)
            if not user:
                assert_problem(response, 401)
            else:
                assert response.status_code == 204, response.text
                assert_problem(await world.request(actor, "GET", ME), 401)  # every session ended, this one too
                world.tokens[actor] = await login(world.api, f"{actor}@example.com", NEW_PASSWORD)
        with checks.case(f"delete my account [{actor}]"):
            response = await world.request(actor, "DELETE", ME, {"password": NEW_PASSWORD} if user else None)
            if not user:
                assert_problem(response, 401)
                return
            assert response.status_code == 204, response.text
            assert_problem(await world.request(actor, "GET", ME), 401)
            response = await world.api.client.post(
                f"{AUTH}/login", json={"email": f"{actor}@example.com", "password": NEW_PASSWORD}
            )
            assert_problem(response, 401)

    await asyncio.gather(*(one(actor) for actor in ACTORS))


# -- /me/permissions explains the decisions ---------------------------------------------------------


async def permissions(world: World, actor: str, resource: str) -> dict[str, Json]:
    response = await world.request(actor, "GET", f"{PERMISSIONS}?resource={resource}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["subject"] == f"user:{world.ids[actor]}"
    return {p["permission"]: p for p in body["permissions"]}


async def test_permissions_explain_each_decision(world: World) -> None:
    ca1 = world.courses["CA1"].id
    course = f"course:{ca1}"

    owner = await permissions(world, "instructor_owner", course)
    assert owner["course.edit"]["allowed"] is True
    assert "owner" in owner["course.edit"]["reason"]
    assert ca1 in owner["course.edit"]["reason"]
    # The instructor grant on A lets its holder create courses there, and does nothing else on CA1.
    assert owner["course.create"]["allowed"] is True
    assert world.org_a in owner["course.create"]["reason"]
    assert owner["role.grant"]["allowed"] is False

    granted = await permissions(world, "instructor_granted", course)
    assert granted["course.delete"]["allowed"] is True
    assert granted["course.delete"]["reason"] == f"instructor on course {ca1} grants course.delete"

    ta = await permissions(world, "ta", course)
    assert (ta["course.view_unpublished"]["allowed"], ta["course.edit"]["allowed"]) == (True, False)
    assert ta["course.edit"]["reason"] == f"no role grants course.edit on course {ca1}"

    learner = await permissions(world, "learner", course)
    assert not any(p["allowed"] for p in learner.values()), learner
    assert (
        learner["course.edit"]["reason"] == f"no role grants course.edit on course {ca1}: the principal holds no role"
    )

    other = await permissions(world, "user_b", course)
    assert not any(p["allowed"] for p in other.values()), other

    org_admin = await permissions(world, "org_admin_a", f"organization:{world.org_a}")
    assert org_admin["user.manage"]["allowed"] is True
    assert org_admin["user.manage"]["reason"] == f"organization_admin on organization {world.org_a} grants user.manage"
    assert org_admin["organization.manage"]["allowed"] is False
    on_b = await permissions(world, "org_admin_a", f"organization:{world.org_b}")
    assert on_b["user.manage"]["allowed"] is False

    # Without a resource: the platform, where an organization admin holds nothing.
    response = await world.request("org_admin_a", "GET", PERMISSIONS)
    assert response.status_code == 200, response.text
    assert response.json()["resource"] == "the platform"
    assert not any(p["allowed"] for p in response.json()["permissions"])

    checks = Checks()
    for resource in (
        "course:not-a-uuid",
        "course",
        "course:",
        "organization",
        "galaxy:" + random_id(),
        "x" * 101,
    ):
        with checks.case(f"bad resource {resource!r}"):
            response = await world.request("learner", "GET", f"{PERMISSIONS}?resource={resource}")
            assert_problem(response, 422, field="resource")
    for resource in (f"course:{random_id()}", f"organization:{random_id()}"):
        with checks.case(f"unknown resource {resource}"):
            problem = assert_problem(await world.request("learner", "GET", f"{PERMISSIONS}?resource={resource}"), 404)
            assert problem["type"] == "urn:elearning:problem:not-found"
    with checks.case("anonymous"):
        # Asked of nobody, on a draft: 401 like an unknown id, so existence does not leak.
        for resource in (course, f"course:{random_id()}", "course:not-a-uuid"):
            assert_problem(await world.request("anonymous", "GET", f"{PERMISSIONS}?resource={resource}"), 401)
    checks.verify()


# -- grants and suspensions take effect on the next request ------------------------------------------


async def test_grants_and_suspensions_take_effect_at_once(world: World) -> None:
    ca1 = world.courses["CA1"]
    edit = {"title": "Edited again"}
    response = await world.request("instructor_granted", "PATCH", ca1.url, edit)
    assert response.status_code == 200, response.text

    # Revoked by an administrator: the same access token may no longer edit, nor see the draft.
    query = f"role=instructor&scope=course&scope_id={ca1.id}"
    revoked = await world.request(
        "platform_admin", "DELETE", f"{ADMIN_USERS}/{world.ids['instructor_granted']}/roles?{query}"
    )
    assert revoked.status_code == 204, revoked.text
    before = await world.state()
    assert_problem(await world.request("instructor_granted", "PATCH", ca1.url, edit), 403)
    assert_problem(await world.request("instructor_granted", "GET", ca1.url), 404)
    assert await world.state() == before
    # Revoking what is no longer held is a 404, and changes nothing.
    again = await world.request(
        "platform_admin", "DELETE", f"{ADMIN_USERS}/{world.ids['instructor_granted']}/roles?{query}"
    )
    assert_problem(again, 404)

    # Granted by the organization's admin: the learner's token edits CA1 on its next request.
    assert_problem(await world.request("learner", "PATCH", ca1.url, edit), 403)
    body = {"role": "instructor", "scope": "course", "scope_id": ca1.id}
    granted = await world.request("org_admin_a", "POST", f"{ADMIN_USERS}/{world.ids['learner']}/roles", body)
    assert granted.status_code == 201, granted.text
    assert {"role": "instructor", "scope": "course", "scope_id": ca1.id} in granted.json()["grants"]
    response = await world.request("learner", "PATCH", ca1.url, {"title": "Edited by the learner"})
    assert response.status_code == 200, response.text
    # ...and nowhere else: CA2 stays out of reach.
    assert_problem(await world.request("learner", "PATCH", world.courses["CA2"].url, edit), 403)

    # Suspended: the owner's token stops working at once, for reads of their own account too.
    owner = world.ids["instructor_owner"]
    suspended = await world.request("org_admin_a", "POST", f"{ADMIN_USERS}/{owner}/suspend")
    assert_problem(suspended, 403)  # accounts are platform-wide: not an organization admin's to suspend
    suspended = await world.request("platform_admin", "POST", f"{ADMIN_USERS}/{owner}/suspend", {"reason": "test"})
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["status"] == "suspended"
    for method, url, payload in (("GET", ME, None), ("PATCH", ca1.url, edit), ("GET", ca1.url, None)):
        assert_problem(await world.request("instructor_owner", method, url, payload), 401)
    login_attempt = {"email": "instructor_owner@example.com", "password": PASSWORD}
    assert_problem(await world.api.client.post(f"{AUTH}/login", json=login_attempt), 401)

    # Reactivated: the old sessions stay ended; a new sign-in edits the course the user owns again.
    reactivated = await world.request("platform_admin", "POST", f"{ADMIN_USERS}/{owner}/reactivate")
    assert reactivated.status_code == 200, reactivated.text
    assert_problem(await world.request("instructor_owner", "GET", ME), 401)
    world.tokens["instructor_owner"] = await login(world.api, "instructor_owner@example.com")
    response = await world.request("instructor_owner", "PATCH", ca1.url, {"title": "Owner is back"})
    assert response.status_code == 200, response.text
