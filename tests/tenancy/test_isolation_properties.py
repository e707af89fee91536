"""Tenant isolation as a property: random API sequences never cross an organization's boundary.

A Hypothesis state machine plays the users of three organizations, in all three roles, against
the seed's schema, and keeps a model of the world it expects (organizations, memberships, each
session's active organization, every project and subscription). After every step it checks:

- no response contains data of an organization the actor does not belong to: the JSON text is
  searched for the ids, names, slugs, e-mails and tokens of everything outside the actor's
  organizations (values the actor sent itself do not count: an echo leaks nothing);
- no response is a 5xx;
- status codes are the model's: a role without a permission gets 403 ``FORBIDDEN_ACTION``, another
  organization's row is 404 (never 403, never 200), a write naming another organization is 403
  ``TENANT_MISMATCH``, a reference to a user outside the organization is refused like a reference
  to nothing;
- read results are the model's: list queries (random ``filter``/``or``/``s``/``sort``/``join``/
  ``fields``/paging, ``?org_id=`` naming own and foreign organizations) return exactly the rows of
  the organizations in scope that match, with the same content, and paging totals count only
  those;
- the database agrees with the model (read directly after every step, and the admins' full lists
  through the API when the machine chooses to compare them).

Projects carry labels (a many-to-many relationship: each organization has two labels, linked on
create and update with ``"labels": [{"id": …}]``; a label of another organization, or of the user's
other organization, is refused like a label that does not exist). List queries filter, sort and
join through the join table and along deeper paths (``labels.projects.name``,
``organization.projects.name``), and the join table must match the model after every step.

Projects are also served under two views (docs/crud-options.md): ``admin-projects``, guarded by the
admin role (anyone else gets 403 ``FORBIDDEN_RESOURCE``), and ``archived-projects``, fixed to
``status = archived`` (other rows are 404, its writes store ``archived`` whatever the body says).
Lists, gets, creates, updates and deletes go through them with the same random queries and bodies,
and must keep to the tenant's rows exactly as the entity's own route does.

Besides projects (list with random queries, get, create, bulk create, update, delete) the machine
reads and writes users and organizations, reads subscriptions (written as Stripe's webhooks write
them; every client write is refused alike, so no answer confirms another organization's Stripe
id), reads the audit log (list and export,
admins of the active organization only; nobody writes it), calls Better Auth's organization
endpoints when the app has them, switches the two-organization user's active organization and
changes their role (which must count from the next request).

The world is built once per database and reused by every example; each example starts from the
same state (projects and subscriptions deleted, names, roles and active organizations reset)::

    A: a_admin (admin), a_member (member), a_viewer (viewer), ab_user (viewer)
    B: b_admin (admin), b_member (member), ab_user (member; the machine promotes and demotes them)
    C: c_admin (admin)

``ab_user`` switches its active organization between A and B (through
``/api/auth/organization/set-active`` when the app has it) and to C, where it is not a member (a
session whose membership is gone must grant nothing).

Hypothesis drives synchronous code while the app lives in an event loop, so, as the fuzz tests in
``tests/api/test_errors.py`` do, the app runs inside an ``anyio`` blocking portal and every request
goes through ``portal.call``. Runs are reproducible (``derandomize=True``, no example database).

``TENANTRY_ISOLATION_OPS`` sets the operations per database: by default 5,000 under ``CI=true``
(10,000 in a ``make test`` run over SQLite and PostgreSQL), and 1,000 elsewhere, so that a local run
is quicker. The counts are printed in pytest's terminal summary and written to
``artifacts/isolation-ops.txt`` (see ``conftest.py``).
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import os
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeAlias

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from tenantry.app import Tenantry
from tenantry.auth import Authentication, AuthSettings
from tenantry.context import SYSTEM_CONTEXT
from tenantry.tenancy import Tenancy
from tests.auth.helpers import PASSWORD, runtime
from tests.conftest import IN_CI, SEED_SCHEMA_PATH, ClientFactory
from tests.tenancy.conftest import IsolationRun

# The seed's schema plus labels, linked to projects through a join table (``labels_projects``).
LABELS = """
labels:
  fields:
    - name: string (required)
    - org_id: uuid (references organizations, required)
  many_to_many:
    projects: {to: projects, inverse: labels}
"""
# Projects in the extended form, with a guarded view and a view fixed to archived projects.
ADMIN_VIEW, ARCHIVED_VIEW = "admin-projects", "archived-projects"
VIEWS = f"""
  views:
    - route: {ADMIN_VIEW}
      guard: {{roles: [admin]}}
    - route: {ARCHIVED_VIEW}
      crud:
        params: {{status: archived}}
"""


def with_project_views(seed: str) -> str:
    """The seed's schema with its ``projects`` in the extended form, carrying ``VIEWS``."""
    head, sep, rest = seed.partition("\nprojects:\n")
    assert sep, "the seed's schema has no projects"
    lines = rest.split("\n")
    block = list(itertools.takewhile(lambda line: line.startswith("  - "), lines))
    fields = "\n".join("    " + line.strip() for line in block)
    tail = "\n".join(lines[len(block) :])
    return f"{head}\nprojects:\n  fields:\n{fields}{VIEWS}{tail}"


SCHEMA = with_project_views(SEED_SCHEMA_PATH.read_text()) + LABELS
# Which route a project operation goes through: mostly the entity's own.
routes = st.sampled_from((None, None, None, ADMIN_VIEW, ARCHIVED_VIEW))
LABELS_PER_ORG = 2

OPS_PER_DATABASE = int(os.environ.get("TENANTRY_ISOLATION_OPS", "5000" if IN_CI else "1000"))
# A failing run shrinks its sequence to a minimal one (minutes: every replay resets the world);
# TENANTRY_ISOLATION_SHRINK=0 reports the sequence as found, at once.
PHASES = (Phase.explicit, Phase.generate) + (
    (Phase.shrink,) if os.environ.get("TENANTRY_ISOLATION_SHRINK", "1") != "0" else ()
)
STEPS_PER_EXAMPLE = 50
# About how long a run takes on two busy cores: the longest-first order's hint (tests/conftest.py)
# until tests/durations.json has this test's measured seconds.
EXPECTED_SECONDS = 25 * OPS_PER_DATABASE / 1000
# Hypothesis ends a sequence early once its choices fill most of its buffer (the list queries are
# large), and tries some short ones: sequences average about 40 steps, so plan for fewer.
STEPS_PER_EXAMPLE_ON_AVERAGE = 35
MAX_LIMIT = 100  # Settings.max_limit: a list without ?limit= returns at most this many rows

BASE_URL = "http://testserver"
ORIGIN = {"origin": BASE_URL}
AUTH = AuthSettings(TENANTRY_REQUIRE_EMAIL_VERIFICATION=False, TENANTRY_RATE_LIMIT="off")

# What the issue and the brief require of a member touching a row of its own organization that it
# did not create: the row is readable, so the refusal is a 403 (only other tenants' rows are 404).
OTHERS_ROW_STATUS = 403

ORG_KEYS = ("A", "B", "C")
PEOPLE: tuple[tuple[str, dict[str, str], str], ...] = (
    ("a_admin", {"A": "admin"}, "A"),
    ("a_member", {"A": "member"}, "A"),
    ("a_viewer", {"A": "viewer"}, "A"),
    ("b_admin", {"B": "admin"}, "B"),
    ("b_member", {"B": "member"}, "B"),
    ("ab_user", {"A": "viewer", "B": "member"}, "A"),
    ("c_admin", {"C": "admin"}, "C"),
)
ACTORS = tuple(key for key, _, _ in PEOPLE)
TWO_ORGS = "ab_user"
ADMINS = {"A": "a_admin", "B": "b_admin", "C": "c_admin"}

WORDS = ("alpha", "beta", "gamma", "delta")
STATUSES = ("active", "archived")
PLANS = ("starter", "pro")


def token(kind: str, n: int) -> str:
    """A marker unique in the database: ``z`` and ``k`` are not hex digits, so it never occurs
    inside a UUID, and the closing ``z`` keeps one marker from being a prefix of another."""
    return f"zk{kind}{n:05d}z"


# -- the model ------------------------------------------------------------------------------------


@dataclass
class Org:
    """An organization of the world; ``token`` marks its name, slug and billing e-mail."""

    key: str
    id: str
    name: str
    slug: str
    token: str
    billing_email: str | None = None


@dataclass
class Person:
    """A signed-up user, their session and memberships; ``token`` marks their name and e-mail."""

    key: str
    id: str
    email: str
    name: str
    token: str
    session: str  # the raw session token, sent as ``Authorization: Bearer``
    memberships: dict[str, str]  # organization key -> role
    active: str  # the organization key the session points at (a membership or not)


@dataclass
class Project:
    """A live (or deleted) project as the model knows it; ``token`` marks its name and description."""

    id: str
    org: str
    creator: str  # a person key
    name: str
    description: str | None
    status: str
    token: str
    labels: frozenset[str] = frozenset()  # label keys


@dataclass(frozen=True)
class Label:
    """A label of an organization (made once per database); ``token`` marks its name."""

    key: str
    id: str
    org: str
    name: str
    token: str


@dataclass
class Subscription:
    """An organization's subscription (one at most), as Stripe's webhooks wrote it."""

    id: str
    org: str
    stripe_id: str


@dataclass
class AuditRow:
    """An audit row written at set-up for an organization, marked by ``token``."""

    org: str
    token: str


@dataclass
class World:
    """What is built once per database and shared by every example."""

    orgs: dict[str, Org]
    people: dict[str, Person]
    audit: list[AuditRow]
    has_set_active: bool
    labels: dict[str, Label]
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))


@dataclass
class Tally:
    """What a run did: API operations (steps), HTTP requests, sequences."""

    operations: int = 0
    requests: int = 0
    examples: int = 0


# -- generated requests -----------------------------------------------------------------------------

Ref: TypeAlias = str  # how a value is chosen from the model when the step runs (IsolationMachine.value)


# Which labels a body links: none named, an empty list, the active organization's, another organization's
# (a foreign one, or the two-organization user's other one), or a mix of own and other.
Labels: TypeAlias = Literal["empty", "own", "other", "mixed"] | None
label_choices = st.sampled_from((None, None, "empty", "own", "own", "other", "mixed"))


@dataclass(frozen=True)
class Cond:
    """One ``field||$op||value`` condition, its value chosen from the model at run time."""

    field: str
    op: str
    ref: Ref
    pick: int


@dataclass(frozen=True)
class ProjectQuery:
    """A generated ``GET /api/projects`` query string, resolved against the model when it runs."""

    filters: tuple[Cond, ...]
    ors: tuple[Cond, ...]
    search: tuple[str, tuple[Cond, ...]] | None  # ("$and" | "$or", conditions) sent as ?s=
    org_param: tuple[Ref, int] | None  # the seed's plain ?org_id=…
    fields: tuple[str, ...] | None
    joins: tuple[str, ...]
    sort: tuple[str, str] | None
    limit: int | None
    page: int | None


@dataclass(frozen=True)
class NewProject:
    """A generated project body: which organization and creator it names, and which id."""

    word: str
    org: Literal["absent", "active", "member", "foreign", "random"]
    creator: Literal["absent", "self", "colleague", "outsider", "random"]
    status: str | None  # "bogus" is invalid
    described: bool
    id: Literal["server", "fresh", "existing"]
    pick: int
    labels: Labels = None


@dataclass(frozen=True)
class ProjectChange:
    """A generated PATCH body for a project."""

    word: str | None
    status: str | None
    described: bool | None
    org: Literal["same", "other"] | None
    creator: Literal["same", "self", "colleague", "outsider"] | None
    labels: Labels = None


@dataclass(frozen=True)
class UserQuery:
    """A generated ``GET /api/users`` query."""

    cond: Cond | None
    fields: tuple[str, ...] | None
    joins: tuple[str, ...]


@dataclass(frozen=True)
class OrgQuery:
    """A generated ``GET /api/organizations`` query."""

    cond: Cond | None
    fields: tuple[str, ...] | None
    joins: tuple[str, ...]


picks = st.integers(min_value=0, max_value=10_000)
# The user of two organizations acts more often: most boundary cases are theirs.
actors = st.sampled_from((*ACTORS, TWO_ORGS, TWO_ORGS))
TEXT_OPS = ("eq", "ne", "cont", "starts", "ends", "excl", "in", "notin", "isnull", "notnull", "eqL", "contL", "startsL")
UUID_OPS = ("eq", "ne", "in", "notin", "isnull", "notnull")
TEXT_REFS = ("word", "Word", "token", "literal", "email")
UUID_REFS = ("active_org", "org", "self", "user", "project")
ORG_REFS = ("active_org", "org", "member_org", "random")


def conditions(text_fields: tuple[str, ...], uuid_fields: tuple[str, ...], status: bool) -> st.SearchStrategy[Cond]:
    options = [
        st.builds(Cond, st.sampled_from(text_fields), st.sampled_from(TEXT_OPS), st.sampled_from(TEXT_REFS), picks)
    ]
    if uuid_fields:
        options.append(
            st.builds(Cond, st.sampled_from(uuid_fields), st.sampled_from(UUID_OPS), st.sampled_from(UUID_REFS), picks)
        )
    if status:
        options.append(
            st.builds(Cond, st.just("status"), st.sampled_from(("eq", "ne", "in", "notin")), st.just("status"), picks)
        )
    return st.one_of(options)


project_conds = conditions(
    (
        "name",
        "description",
        "organization.name",
        "organization.slug",
        "user.name",
        "user.email",
        "labels.name",
        "labels.projects.name",
        "organization.projects.name",
    ),
    ("org_id", "created_by", "id"),
    status=True,
)
project_queries = st.builds(
    ProjectQuery,
    filters=st.lists(project_conds, max_size=2).map(tuple),
    ors=st.lists(project_conds, max_size=2).map(tuple),
    search=st.none()
    | st.tuples(st.sampled_from(("$and", "$or")), st.lists(project_conds, min_size=1, max_size=3).map(tuple)),
    org_param=st.none() | st.tuples(st.sampled_from(ORG_REFS), picks),
    fields=st.none()
    | st.lists(
        st.sampled_from(("name", "status", "org_id", "created_by", "description")), min_size=1, max_size=3, unique=True
    ).map(tuple),
    joins=st.lists(
        st.sampled_from(
            ("organization", "user", "organization.users", "organization.projects", "labels", "labels.projects")
        ),
        max_size=2,
        unique=True,
    ).map(tuple),
    sort=st.none()
    | st.tuples(
        st.sampled_from(
            ("name", "status", "created_at", "organization.name", "user.email", "labels.name", "labels.projects.name")
        ),
        st.sampled_from(("ASC", "DESC")),
    ),
    limit=st.none() | st.integers(1, 5),
    page=st.none() | st.integers(1, 3),
)
new_projects = st.builds(
    NewProject,
    word=st.sampled_from(WORDS),
    org=st.sampled_from(("absent", "absent", "active", "member", "foreign", "random")),
    creator=st.sampled_from(("absent", "absent", "self", "colleague", "outsider", "random")),
    status=st.sampled_from((None, "active", "archived", "bogus")),
    described=st.booleans(),
    id=st.sampled_from(("server", "server", "server", "fresh", "existing")),
    pick=picks,
    labels=label_choices,
)
project_changes = st.builds(
    ProjectChange,
    word=st.none() | st.sampled_from(WORDS),
    status=st.sampled_from((None, "active", "archived", "bogus")),
    described=st.none() | st.booleans(),
    org=st.sampled_from((None, None, "same", "other")),
    creator=st.sampled_from((None, None, "same", "self", "colleague", "outsider")),
    labels=label_choices,
)
PROJECT_TARGETS = ("own", "same_org", "member_org", "foreign", "deleted", "missing")
user_queries = st.builds(
    UserQuery,
    cond=st.none()
    | st.builds(
        Cond,
        st.sampled_from(("email", "name", "projects.name", "audit_logs.resource_type", "audit_logs.ip_address")),
        st.sampled_from(("eq", "cont", "starts", "ne")),
        st.sampled_from((*TEXT_REFS, "audit")),
        picks,
    ),
    fields=st.none() | st.lists(st.sampled_from(("email", "name")), min_size=1, unique=True).map(tuple),
    joins=st.lists(st.sampled_from(("projects", "organization", "organization.users")), max_size=2, unique=True).map(
        tuple
    ),
)
org_queries = st.builds(
    OrgQuery,
    cond=st.none()
    | st.builds(
        Cond,
        st.sampled_from(("name", "slug", "projects.name", "audit_logs.resource_type", "audit_logs.ip_address")),
        st.sampled_from(("eq", "cont", "starts", "ne")),
        st.sampled_from((*TEXT_REFS, "audit")),
        picks,
    ),
    fields=st.none() | st.lists(st.sampled_from(("name", "slug", "billing_email")), min_size=1, unique=True).map(tuple),
    joins=st.lists(st.sampled_from(("projects", "subscription", "users", "audit_logs")), max_size=2, unique=True).map(
        tuple
    ),
)

# A boolean condition tree of the model: ("and" | "or", children) or ("cond", field, op, values).
Tree: TypeAlias = tuple[Any, ...]


def three_valued_and(values: Iterable[bool | None]) -> bool | None:
    """SQL's AND over true/false/unknown (None)."""
    out: bool | None = True
    for v in values:
        if v is False:
            return False
        if v is None:
            out = None
    return out


def three_valued_or(values: Iterable[bool | None]) -> bool | None:
    """SQL's OR over true/false/unknown (None)."""
    out: bool | None = False
    for v in values:
        if v is True:
            return True
        if v is None:
            out = None
    return out


def compare(op: str, value: str | None, args: tuple[str, ...]) -> bool | None:
    """SQL's answer for ``value op args`` (None is SQL's NULL: unknown)."""
    if op == "isnull":
        return value is None
    if op == "notnull":
        return value is not None
    if value is None:
        return None
    if op.endswith("L"):
        op, value, args = op[:-1], value.lower(), tuple(a.lower() for a in args)
    arg = args[0]
    return {
        "eq": lambda: value == arg,
        "ne": lambda: value != arg,
        "in": lambda: value in args,
        "notin": lambda: value not in args,
        "cont": lambda: arg in value,
        "excl": lambda: arg not in value,
        "starts": lambda: value.startswith(arg),
        "ends": lambda: value.endswith(arg),
    }[op]()


def pins_tenant(tree: Tree | None) -> bool:
    """Whether the client's conditions name organizations (``org_id = …`` / ``IN``, in every branch)."""
    if tree is None:
        return False
    if tree[0] == "cond":
        return bool(tree[1] == "org_id" and tree[2] in ("eq", "in"))
    if tree[0] == "and":
        return any(pins_tenant(t) for t in tree[1])
    return all(pins_tenant(t) for t in tree[1])


class Api:
    """Calls an ``httpx.AsyncClient`` living in a portal's event loop from synchronous code."""

    def __init__(self, portal: BlockingPortal, client: httpx.AsyncClient) -> None:
        self.portal = portal
        self.client = client
        self.runtime: Tenantry = runtime(client)

    def request(self, method: str, url: str, session: str, params: Any = None, body: Any = None) -> httpx.Response:
        headers = {"authorization": f"Bearer {session}"}
        if url.startswith("/api/auth/"):
            headers.update(ORIGIN)  # Better Auth's endpoints want the browser's Origin on POSTs
        send = functools.partial(self.client.request, method, url, params=params, json=body, headers=headers)
        return self.portal.call(send)

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self.portal.call(fn, *args)


def placeholders(rt: Tenantry, statement: str) -> str:
    """``?`` placeholders as the app's database wants them (``$n`` on PostgreSQL)."""
    if rt.db.dialect_name != "postgresql":
        return statement
    parts = statement.split("?")
    return parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], start=1))


async def sql(rt: Tenantry, statement: str, *params: Any) -> list[Any]:
    """Run SQL on the app's database as the system (``?`` placeholders become ``$n`` on PostgreSQL)."""
    async with rt.db.transaction() as conn:
        return await conn.fetch(placeholders(rt, statement), params)


async def sql_many(rt: Tenantry, *statements: str) -> list[list[Any]]:
    """Run parameterless ``statements`` as the system in one transaction (one snapshot of them all)."""
    async with rt.db.transaction() as conn:
        return [await conn.fetch(statement, ()) for statement in statements]


async def build_world(client: httpx.AsyncClient) -> World:
    """Sign the users up, create the organizations, memberships and active organizations, seed the audit log."""
    rt = runtime(client)
    counter = itertools.count(1)
    people: dict[str, Person] = {}
    for key, memberships, active in PEOPLE:
        tok = token("u", next(counter))
        email = f"{key.replace('_', '.')}.{tok}@example.com"
        name = f"{key} {tok}"
        r = await client.post(
            "/api/auth/sign-up/email", json={"email": email, "password": PASSWORD, "name": name}, headers=ORIGIN
        )
        assert r.status_code == 200, r.text
        body = r.json()
        people[key] = Person(key, str(body["user"]["id"]), email, name, tok, body["token"], dict(memberships), active)
    org_entity = rt.schema.system_entity("organizations")
    assert org_entity is not None and rt.get(Tenancy) is not None
    orgs: dict[str, Org] = {}
    for key in ORG_KEYS:
        tok = token("o", next(counter))
        row = await rt.pipeline.create_row(
            SYSTEM_CONTEXT, org_entity, {"name": f"Org {key} {tok}", "slug": f"org-{key.lower()}-{tok}"}
        )
        orgs[key] = Org(key, str(row["id"]), row["name"], row["slug"], tok)
    store = rt.get(Authentication).ctx.store
    async with rt.db.transaction() as conn:
        for person in people.values():
            for org_key, role in person.memberships.items():
                await rt.get(Tenancy).members.add(conn, orgs[org_key].id, person.id, role)
            await store.set_active_organization(conn, person.session, orgs[person.active].id)
    # One audit row per organization written by the app's own auditor (the API cannot write the
    # log), on top of those every change writes: reading another organization's log would show.
    audit: list[AuditRow] = []
    auditor = getattr(rt, "audit", None)
    if auditor is not None:
        async with rt.db.transaction() as conn:
            for i, key in enumerate(ORG_KEYS, start=1):
                tok = token("a", next(counter))
                await auditor.record(
                    conn,
                    action="create",
                    resource_type="projects",
                    user_id=people[ADMINS[key]].id,
                    org_id=orgs[key].id,
                    resource_id=str(uuid.uuid4()),
                    new={"note": tok},
                    ip=f"10.0.0.{i}",
                    user_agent=f"agent {tok}",
                )
                audit.append(AuditRow(key, tok))
    labels: dict[str, Label] = {}
    label_entity = rt.schema.entities["labels"]
    for key in ORG_KEYS:
        for i in range(LABELS_PER_ORG):
            tok = token("l", next(counter))
            row = await rt.pipeline.create_row(
                SYSTEM_CONTEXT, label_entity, {"name": f"{WORDS[i]} {tok}", "org_id": orgs[key].id}
            )
            labels[f"{key}{i}"] = Label(f"{key}{i}", str(row["id"]), key, row["name"], tok)
    # Better Auth's organization plugin, when the app has it: a 404 (no route) means it does not.
    probe = await client.post(
        "/api/auth/organization/set-active",
        json={"organizationId": orgs["A"].id},
        headers={"authorization": f"Bearer {people[TWO_ORGS].session}"},
    )
    assert probe.status_code < 500, probe.text
    return World(orgs, people, audit, has_set_active=probe.status_code != 404, labels=labels)


async def reset_world(rt: Tenantry, world: World) -> None:
    """Bring the database back to the world's initial state (the start of every example), in one
    transaction: every example pays for it."""
    tenancy = rt.tables.extensions["tenancy"]
    members = tenancy.members.name
    store = rt.get(Authentication).ctx.store
    rename = placeholders(rt, "UPDATE users SET name = ? WHERE id = ?")
    set_role = placeholders(rt, f"UPDATE {members} SET role = ? WHERE user_id = ? AND organization_id = ?")
    async with rt.db.transaction() as conn:
        for statement in ("DELETE FROM subscriptions", "DELETE FROM labels_projects", "DELETE FROM projects"):
            await conn.fetch(statement, ())
        await conn.fetch("UPDATE organizations SET billing_email = NULL", ())
        for person in world.people.values():
            await conn.fetch(rename, (person.name, person.id))
            for org_key, role in person.memberships.items():
                await conn.fetch(set_role, (role, person.id, world.orgs[org_key].id))
        for person in world.people.values():
            await store.set_active_organization(conn, person.session, world.orgs[person.active].id)


class Response:
    """A checked response: status, parsed body, and what was asked (for messages)."""

    def __init__(self, r: httpx.Response, what: str) -> None:
        self.status = r.status_code
        self.text = r.text
        json_reply = r.content and r.headers.get("content-type", "").startswith("application/json")
        self.body: Any = r.json() if json_reply else None
        self.what = what

    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) else None

    def expect(self, status: int, code: str | None = None) -> None:
        assert self.status == status, (
            f"{self.what}: expected {status} {code or ''}, got {self.status} {self.text[:600]}"
        )
        if code is not None:
            assert self.code == code, f"{self.what}: expected code {code}, got {self.text[:600]}"


class IsolationMachine(RuleBasedStateMachine):
    """Random operations by random users; the model says what each of them must see."""

    def __init__(self, api: Api, world: World, tally: Tally) -> None:
        super().__init__()
        self.api = api
        self.world = world
        self.tally = tally
        self.orgs = {k: replace(o) for k, o in world.orgs.items()}
        self.people = {k: replace(p, memberships=dict(p.memberships)) for k, p in world.people.items()}
        self.projects: dict[str, Project] = {}
        self.gone: dict[str, Project] = {}
        self.subscriptions: dict[str, Subscription] = {}
        tally.examples += 1
        api.call(reset_world, api.runtime, world)
        # Every organization starts with rows made through the API by its own users.
        for actor in ("a_admin", "a_member", "b_admin", "b_member", "c_admin"):
            self._create_project(actor, NewProject("alpha", "absent", "absent", None, True, "server", 0, "own"))
        # C's subscription (Stripe's webhooks write them): a row that A's and B's users must never see.
        self._stripe_writes_subscription("C")

    # -- the actors -----------------------------------------------------------------------------

    def principal(self, actor: str) -> tuple[str | None, str | None]:
        """The organization and role the server should see: none when the session's active
        organization is not one of the user's memberships."""
        person = self.people[actor]
        role = person.memberships.get(person.active)
        return (person.active, role) if role else (None, None)

    def visible_people(self, actor: str) -> list[Person]:
        """Users the actor can read: themselves and the members of their active organization."""
        org, _ = self.principal(actor)
        return [p for p in self.people.values() if p.key == actor or (org is not None and org in p.memberships)]

    def person_by_id(self, person_id: str) -> Person | None:
        """The person with this user id."""
        return next((p for p in self.people.values() if p.id == person_id), None)

    def org_by_id(self, org_id: str) -> Org | None:
        """The organization with this id."""
        return next((o for o in self.orgs.values() if o.id == org_id), None)

    # -- requests and the leak check ------------------------------------------------------------

    def send(self, actor: str, method: str, url: str, params: Any = None, body: Any = None) -> Response:
        """Send a request as ``actor``; no 5xx, and nothing of another organization in the reply."""
        r = self.api.request(method, url, self.people[actor].session, params=params, body=body)
        self.tally.requests += 1
        what = f"{actor} {method} {url} params={params!r} body={body!r}"
        assert r.status_code < 500, f"{what} -> {r.status_code} {r.text}"
        self.assert_no_foreign_data(actor, r.text, f"{url} {params!r} {body!r}", what)
        return Response(r, what)

    def foreign_markers(self, actor: str) -> dict[str, str]:
        """Every value that belongs only to organizations the actor is not a member of."""
        mine = set(self.people[actor].memberships)
        out: dict[str, str] = {}
        for o in self.orgs.values():
            if o.key not in mine:
                out[o.id] = f"the id of organization {o.key}"
                out[o.token] = f"the name/slug/billing e-mail of organization {o.key}"
        for p in self.people.values():
            if p.key == actor:
                continue
            out[p.session] = f"the session token of {p.key}"
            if not mine & set(p.memberships):
                out[p.id] = f"the id of user {p.key}"
                out[p.token] = f"the name/e-mail of user {p.key}"
        for pr in itertools.chain(self.projects.values(), self.gone.values()):
            if pr.org not in mine:
                out[pr.id] = f"the id of project {pr.name!r} of organization {pr.org}"
                out[pr.token] = f"the name/description of project {pr.name!r} of organization {pr.org}"
        for label in self.world.labels.values():
            if label.org not in mine:
                out[label.id] = f"the id of label {label.key} of organization {label.org}"
                out[label.token] = f"the name of label {label.key} of organization {label.org}"
        for s in self.subscriptions.values():
            if s.org not in mine:
                out[s.id] = f"the id of organization {s.org}'s subscription"
                out[s.stripe_id] = f"the Stripe id of organization {s.org}'s subscription"
        for a in self.world.audit:
            if a.org not in mine:
                out[a.token] = f"an audit row of organization {a.org}"
        return out

    def assert_no_foreign_data(self, actor: str, text: str, sent: str, what: str) -> None:
        """Fail when ``text`` holds a marker of another organization the actor did not send."""
        for marker, whose in self.foreign_markers(actor).items():
            if marker in text and marker not in sent:
                raise AssertionError(f"LEAK to {actor}: {what} returned {whose} ({marker}): {text[:1000]}")

    # -- values chosen from the model -----------------------------------------------------------

    def value(self, actor: str, ref: Ref, pick: int) -> str:
        """A filter value of kind ``ref``; ``pick`` chooses among the candidates."""
        org, _ = self.principal(actor)
        person = self.people[actor]
        choices: list[str]
        if ref == "word":
            choices = [*WORDS, "org", "notes", "zk"]
        elif ref == "Word":
            choices = [w.capitalize() for w in WORDS] + ["ORG"]
        elif ref == "literal":
            choices = ["%", "_", "*", "?", "[", "a b"]
        elif ref == "token":
            choices = [
                *(p.token for p in itertools.chain(self.projects.values(), self.gone.values())),
                *(o.token for o in self.orgs.values()),
                *(p.token for p in self.people.values()),
            ]
        elif ref == "email":
            choices = [p.email for p in self.people.values()]
        elif ref == "audit":
            choices = ["projects", "create", "10.0.0.", "10.0.0.1", "10.0.0.2", "10.0.0.3", "127.0.0.1"]
        elif ref == "status":
            choices = list(STATUSES)
        elif ref == "active_org":
            choices = [self.orgs[org or person.active].id]
        elif ref == "org":
            choices = [o.id for o in self.orgs.values()]
        elif ref == "member_org":
            choices = [self.orgs[k].id for k in person.memberships]
        elif ref == "self":
            choices = [person.id]
        elif ref == "user":
            choices = [p.id for p in self.people.values()]
        elif ref == "project":
            choices = [p.id for p in itertools.chain(self.projects.values(), self.gone.values())]
        else:
            assert ref == "random", ref
            choices = []
        if not choices:
            return str(uuid.UUID(int=pick + 1))
        return choices[pick % len(choices)]

    def values(self, actor: str, cond: Cond) -> tuple[str, ...]:
        """The value(s) a condition compares with (none for ``isnull``/``notnull``)."""
        if cond.op in ("isnull", "notnull"):
            return ()
        if cond.op in ("in", "notin"):
            count = 1 + cond.pick % 3
            return tuple(dict.fromkeys(self.value(actor, cond.ref, cond.pick // 3**i + i) for i in range(count)))
        return (self.value(actor, cond.ref, cond.pick),)

    @staticmethod
    def filter_param(cond: Cond, values: tuple[str, ...]) -> str:
        """A condition as nestjsx's ``field||$op||value[,value]``."""
        if not values:
            return f"{cond.field}||${cond.op}"
        return f"{cond.field}||${cond.op}||{','.join(values)}"

    @staticmethod
    def search_json(cond: Cond, values: tuple[str, ...]) -> dict[str, Any]:
        """A condition as one member of an ``s`` search object."""
        if not values:
            return {cond.field: {f"${cond.op}": True}}
        if cond.op in ("in", "notin"):
            return {cond.field: {f"${cond.op}": list(values)}}
        return {cond.field: {f"${cond.op}": values[0]}}

    # -- what the model says a project row looks like -----------------------------------------

    def project_field(self, actor: str, pr: Project, name: str) -> list[str | None]:
        """The values a (possibly ``relation.….field``) field has for ``actor``: one for a column,
        one per related row reachable along the path, each row only when the actor may see it
        (the pipeline adds each relation's scope)."""
        org = self.orgs[pr.org]
        creator = self.people[pr.creator]
        plain = {
            "name": pr.name,
            "description": pr.description,
            "status": pr.status,
            "org_id": org.id,
            "created_by": creator.id,
            "id": pr.id,
        }
        if name in plain:
            return [plain[name]]
        active, _ = self.principal(actor)
        rel, _, rest = name.partition(".")
        if rel == "organization":
            if pr.org not in self.people[actor].memberships:
                return []
            if rest == "projects.name":  # the organization's projects, within the project scope (active)
                return [q.name for q in self.projects.values() if q.org == pr.org == active]
            return [{"name": org.name, "slug": org.slug}[rest]]
        if rel == "labels":
            labels = [self.world.labels[k] for k in sorted(pr.labels) if self.world.labels[k].org == active]
            if rest == "name":
                return [label.name for label in labels]
            assert rest == "projects.name", name
            return [
                q.name for label in labels for q in self.projects.values() if label.key in q.labels and q.org == active
            ]
        assert rel == "user", name
        visible = any(p.key == creator.key for p in self.visible_people(actor))
        return [{"name": creator.name, "email": creator.email}[rest]] if visible else []

    def project_matches(self, actor: str, pr: Project, tree: Tree | None) -> bool | None:
        """Whether ``pr`` satisfies the condition tree, in SQL's three-valued logic."""
        if tree is None:
            return True
        if tree[0] == "and":
            return three_valued_and(self.project_matches(actor, pr, t) for t in tree[1])
        if tree[0] == "or":
            return three_valued_or(self.project_matches(actor, pr, t) for t in tree[1])
        _, name, op, args = tree
        values = self.project_field(actor, pr, name)
        if "." in name:  # EXISTS over the related rows: unknown counts as no match
            return any(compare(op, value, args) is True for value in values)
        return compare(op, values[0], args)

    def check_project_row(self, row: dict[str, Any], pr: Project, fields: tuple[str, ...] | None, what: str) -> None:
        """A returned project row equals the model's (only the asked-for fields, the id always)."""
        expected = {
            "id": pr.id,
            "name": pr.name,
            "description": pr.description,
            "status": pr.status,
            "org_id": self.orgs[pr.org].id,
            "created_by": self.people[pr.creator].id,
        }
        for key, value in expected.items():
            if fields is None or key == "id" or key in fields:
                assert row.get(key) == value, f"{what}: {key} is {row.get(key)!r}, the model has {value!r}: {row}"
            else:
                assert key not in row, f"{what}: {key} was not asked for (fields={fields}): {row}"

    # -- projects -------------------------------------------------------------------------------

    def guard_refuses(self, r: Response, view: str | None, role: str | None) -> bool:
        """The admin view's guard answers 403 to anyone but an admin of the active organization
        (before anything else); True when it did."""
        if view == ADMIN_VIEW and role != "admin":
            r.expect(403, "FORBIDDEN_RESOURCE")
            return True
        return False

    def in_view(self, pr: Project | None, view: str | None) -> Project | None:
        """``pr`` when the route's fixed scope holds it (the archived view: archived projects only)."""
        if pr is not None and view == ARCHIVED_VIEW and pr.status != "archived":
            return None
        return pr

    @rule(actor=actors, q=project_queries, view=routes)
    def list_projects(self, actor: str, q: ProjectQuery, view: str | None) -> None:
        """A random list query: exactly the matching rows of the organizations in scope (and of the view)."""
        self.tally.operations += 1
        org, role = self.principal(actor)
        params: list[tuple[str, str]] = []
        resolved: list[Tree] = []
        if q.search is not None:
            items = []
            for c in q.search[1]:
                vals = self.values(actor, c)
                items.append(self.search_json(c, vals))
                resolved.append(("cond", c.field, c.op, vals))
            params.append(("s", json.dumps({q.search[0]: items})))
            tree: Tree | None = ("and" if q.search[0] == "$and" else "or", resolved)
        else:
            f_nodes: list[Tree] = []
            o_nodes: list[Tree] = []
            for c in q.filters:
                vals = self.values(actor, c)
                params.append(("filter", self.filter_param(c, vals)))
                f_nodes.append(("cond", c.field, c.op, vals))
            for c in q.ors:
                vals = self.values(actor, c)
                params.append(("or", self.filter_param(c, vals)))
                o_nodes.append(("cond", c.field, c.op, vals))
            tree = nestjsx_combination(f_nodes, o_nodes)
        if q.org_param is not None:
            org_value = self.value(actor, *q.org_param)
            params.append(("org_id", org_value))
            eq: Tree = ("cond", "org_id", "eq", (org_value,))
            tree = eq if tree is None else ("and", [eq, tree])
        if q.fields is not None:
            params.append(("fields", ",".join(q.fields)))
        params.extend(("join", j) for j in q.joins)
        if q.sort is not None:
            params.append(("sort", f"{q.sort[0]},{q.sort[1]}"))
        if q.limit is not None:
            params.append(("limit", str(q.limit)))
        if q.page is not None:
            params.append(("page", str(q.page)))
        r = self.send(actor, "GET", f"/api/{view or 'projects'}", params=params)
        if self.guard_refuses(r, view, role):
            return
        if role is None:
            r.expect(403, "NO_ACTIVE_ORGANIZATION")
            return
        r.expect(200)
        assert org is not None
        scope = set(self.people[actor].memberships) if pins_tenant(tree) else {org}
        matching = [
            p
            for p in self.projects.values()
            if p.org in scope and self.in_view(p, view) and self.project_matches(actor, p, tree) is True
        ]
        take = q.limit or MAX_LIMIT
        if q.page is not None:
            assert isinstance(r.body, dict), r.what
            rows = r.body["data"]
            skip = take * (q.page - 1)
            assert r.body["total"] == len(matching), f"{r.what}: total {r.body['total']}, the model has {len(matching)}"
            assert r.body["count"] == len(rows)
            assert r.body["page"] == q.page
            expected_len = max(0, min(take, len(matching) - skip))
        else:
            assert isinstance(r.body, list), r.what
            rows = r.body
            expected_len = min(take, len(matching))
        ids = [row["id"] for row in rows]
        allowed = {p.id: p for p in matching}
        unexpected = [i for i in ids if i not in allowed]
        assert not unexpected, f"{r.what}: rows outside the model's answer {unexpected}: {r.text[:1000]}"
        assert len(ids) == expected_len == len(set(ids)), f"{r.what}: {len(ids)} rows, the model expects {expected_len}"
        for row in rows:
            pr = allowed[row["id"]]
            self.check_project_row(
                {k: v for k, v in row.items() if k not in ("organization", "user", "labels")}, pr, q.fields, r.what
            )
            self.check_project_joins(actor, row, pr, q.joins, r.what)

    def check_project_joins(
        self, actor: str, row: dict[str, Any], pr: Project, joins: tuple[str, ...], what: str
    ) -> None:
        """Joined rows are the model's, each within its own entity's scope."""
        org, _ = self.principal(actor)
        heads = {j.split(".")[0] for j in joins}
        if "organization" in heads:
            joined = row["organization"]
            assert joined is not None and joined["id"] == self.orgs[pr.org].id, f"{what}: organization {joined}"
            assert joined["name"] == self.orgs[pr.org].name
            if "organization.users" in joins:
                visible = {p.id for p in self.visible_people(actor)}
                assert {u["id"] for u in joined["users"]} <= visible, f"{what}: organization.users {joined['users']}"
            if "organization.projects" in joins:
                expected = {p.id for p in self.projects.values() if p.org == pr.org} if pr.org == org else set()
                got = {p["id"] for p in joined["projects"]}
                assert got == expected, f"{what}: organization.projects {got}, the model has {expected}"
        if "labels" in heads:
            mine = {k for k in pr.labels if self.world.labels[k].org == org}
            got = {label["id"] for label in row["labels"]}
            assert got == {self.world.labels[k].id for k in mine}, f"{what}: labels {row['labels']}"
            if "labels.projects" in joins:
                for label in row["labels"]:
                    key = next(k for k in mine if self.world.labels[k].id == label["id"])
                    linked = {q.id for q in self.projects.values() if key in q.labels and q.org == org}
                    assert {p["id"] for p in label["projects"]} == linked, f"{what}: labels.projects {label}"
        if "user" in heads:
            creator = self.people[pr.creator]
            if any(p.key == creator.key for p in self.visible_people(actor)):
                assert row["user"] is not None and row["user"]["id"] == creator.id, f"{what}: user {row['user']}"
            else:
                assert row["user"] is None, f"{what}: user {row['user']} is not visible to {actor}"

    def pick_project(self, actor: str, kind: str, pick: int) -> str:
        """A project id of the given kind relative to the actor (or one that never existed)."""
        org, _ = self.principal(actor)
        person = self.people[actor]
        live = list(self.projects.values())
        candidates = {
            "own": [p for p in live if p.org == org and p.creator == actor],
            "same_org": [p for p in live if p.org == org and p.creator != actor],
            "member_org": [p for p in live if p.org in person.memberships and p.org != org],
            "foreign": [p for p in live if p.org not in person.memberships],
            "deleted": list(self.gone.values()),
            "missing": [],
        }[kind]
        if not candidates:
            return str(uuid.UUID(int=pick + 1))
        return candidates[pick % len(candidates)].id

    def in_scope(self, actor: str, project_id: str) -> Project | None:
        """The live project ``project_id`` when it is in the actor's active organization."""
        org, _ = self.principal(actor)
        pr = self.projects.get(project_id)
        return pr if pr is not None and pr.org == org else None

    @rule(
        actor=actors,
        kind=st.sampled_from(PROJECT_TARGETS),
        pick=picks,
        joins=st.lists(st.sampled_from(("organization", "user", "organization.projects")), max_size=2, unique=True).map(
            tuple
        ),
        view=routes,
    )
    def get_project(self, actor: str, kind: str, pick: int, joins: tuple[str, ...], view: str | None) -> None:
        """One project by id: its row in the active organization (and the view), 404 anywhere else."""
        self.tally.operations += 1
        project_id = self.pick_project(actor, kind, pick)
        params = [("join", j) for j in joins]
        r = self.send(actor, "GET", f"/api/{view or 'projects'}/{project_id}", params=params)
        _, role = self.principal(actor)
        if self.guard_refuses(r, view, role):
            return
        if role is None:
            r.expect(403, "NO_ACTIVE_ORGANIZATION")
            return
        pr = self.in_view(self.in_scope(actor, project_id), view)
        if pr is None:
            r.expect(404, "NOT_FOUND")
            return
        r.expect(200)
        self.check_project_row({k: v for k, v in r.body.items() if k not in ("organization", "user")}, pr, None, r.what)
        self.check_project_joins(actor, r.body, pr, joins, r.what)

    def project_body(self, actor: str, spec: NewProject) -> tuple[dict[str, Any], str]:
        """The JSON body of a new project, and the marker its name carries."""
        org, _ = self.principal(actor)
        person = self.people[actor]
        active = org or person.active
        tok = token("p", next(self.world.counter))
        body: dict[str, Any] = {"name": f"{spec.word} {tok}"}
        if spec.described:
            body["description"] = f"{spec.word} notes {tok}"
        if spec.status is not None:
            body["status"] = spec.status
        if spec.org != "absent":
            others = [k for k in person.memberships if k != active]
            foreign = [k for k in ORG_KEYS if k not in person.memberships]
            chosen = {
                "active": [active],
                "member": others or [active],
                "foreign": foreign,
                "random": [],
            }[spec.org]
            body["org_id"] = self.orgs[chosen[spec.pick % len(chosen)]].id if chosen else str(uuid.UUID(int=spec.pick))
        if spec.creator != "absent":
            colleagues = [p.key for p in self.people.values() if active in p.memberships and p.key != actor]
            outsiders = [p.key for p in self.people.values() if active not in p.memberships]
            chosen = {"self": [actor], "colleague": colleagues or [actor], "outsider": outsiders, "random": []}[
                spec.creator
            ]
            body["created_by"] = (
                self.people[chosen[spec.pick % len(chosen)]].id if chosen else str(uuid.UUID(int=spec.pick + 7))
            )
        if spec.id == "fresh":
            # Unique across examples too: the audit log keeps every id it has seen, whatever the reset.
            body["id"] = str(uuid.UUID(int=(1 << 100) + next(self.world.counter)))
        elif spec.id == "existing":
            existing = list(self.projects)
            body["id"] = existing[spec.pick % len(existing)] if existing else str(uuid.UUID(int=(1 << 100)))
        if spec.labels is not None:
            body["labels"] = self.label_refs(actor, spec.labels, spec.pick)
        return body, tok

    def label_refs(self, actor: str, kind: str, pick: int) -> list[dict[str, str]]:
        """``[{"id": …}]`` of labels of the active organization, of another one, or of both."""
        org, _ = self.principal(actor)
        active = org or self.people[actor].active
        own = [label for label in self.world.labels.values() if label.org == active]
        other = [label for label in self.world.labels.values() if label.org != active]
        chosen = {
            "empty": [],
            "own": own[: 1 + pick % LABELS_PER_ORG],
            "other": [other[pick % len(other)]],
            "mixed": [own[pick % len(own)], other[pick % len(other)]],
        }[kind]
        return [{"id": label.id} for label in chosen]

    def labels_of(self, refs: list[dict[str, str]]) -> frozenset[str] | None:
        """The label keys a body links, or None when one is not the active organization's."""
        by_id = {label.id: label for label in self.world.labels.values()}
        return frozenset(by_id[ref["id"]].key for ref in refs)

    def labels_allowed(self, actor: str, body: dict[str, Any]) -> bool:
        """Only labels of the active organization, where the project is, may be linked."""
        org, _ = self.principal(actor)
        keys = self.labels_of(body.get("labels", []))
        return keys is not None and all(self.world.labels[k].org == org for k in keys)

    def refusal(self, actor: str, body: dict[str, Any], taken: set[str]) -> tuple[int, str | None] | None:
        """Why the server must refuse to create ``body`` (tenant, owner, reference, unique), or None."""
        org, role = self.principal(actor)
        assert org is not None
        person = self.people[actor]
        if "org_id" in body and body["org_id"] != self.orgs[org].id:
            return 403, "TENANT_MISMATCH"
        creator = body.get("created_by")
        if creator is not None and creator != person.id and role != "admin":
            return 403, "OWNER_MISMATCH"
        if creator is not None and creator not in {p.id for p in self.visible_people(actor)}:
            return 400, "VALIDATION_FAILED"  # a user outside the organization is as good as none
        if body.get("id") in taken:
            return 409, "UNIQUE_VIOLATION"
        if not self.labels_allowed(actor, body):
            return 400, "VALIDATION_FAILED"  # another organization's label is as good as none
        return None

    def add_project(self, actor: str, row: dict[str, Any], tok: str) -> None:
        """Record a project the server created."""
        org, _ = self.principal(actor)
        assert org is not None
        creator = self.person_by_id(row["created_by"])
        assert creator is not None, row
        linked = self.labels_of([{"id": label["id"]} for label in row.get("labels", [])])
        assert linked is not None
        self.projects[row["id"]] = Project(
            row["id"], org, creator.key, row["name"], row["description"], row["status"], tok, linked
        )

    def _create_project(self, actor: str, spec: NewProject, view: str | None = None) -> None:
        """POST one project and check the answer against the model."""
        body, tok = self.project_body(actor, spec)
        r = self.send(actor, "POST", f"/api/{view or 'projects'}", body=body)
        _, role = self.principal(actor)
        if self.guard_refuses(r, view, role):
            return
        if view == ARCHIVED_VIEW:
            body = {**body, "status": "archived"}  # the view's fixed value, put over the body
        if role is None:
            r.expect(403, "NO_ACTIVE_ORGANIZATION")
            return
        if role == "viewer":
            r.expect(403, "FORBIDDEN_ACTION")
            return
        if "id" in body:  # ids are the server's: a chosen one could probe other tenants through 409s
            r.expect(400, "VALIDATION_FAILED")
            return
        if body.get("status") == "bogus":
            r.expect(400, "VALIDATION_FAILED")
            return
        refused = self.refusal(actor, body, set(self.projects))
        if refused is not None:
            r.expect(*refused)
            return
        r.expect(201)
        self.add_project(actor, r.body, tok)
        self.check_project_row(r.body, self.projects[r.body["id"]], None, r.what)
        assert view != ARCHIVED_VIEW or r.body["status"] == "archived", r.what

    @rule(actor=actors, spec=new_projects, view=routes)
    def create_project(self, actor: str, spec: NewProject, view: str | None) -> None:
        """Create a project naming own, other or no organization and creator (through a view or not)."""
        self.tally.operations += 1
        self._create_project(actor, spec, view)

    @rule(actor=actors, specs=st.lists(new_projects, min_size=1, max_size=3))
    def bulk_create_projects(self, actor: str, specs: list[NewProject]) -> None:
        """Create several projects at once: all of them, or none when one is refused."""
        self.tally.operations += 1
        made = [self.project_body(actor, s) for s in specs]
        r = self.send(actor, "POST", "/api/projects/bulk", body={"bulk": [b for b, _ in made]})
        _, role = self.principal(actor)
        if role is None:
            r.expect(403, "NO_ACTIVE_ORGANIZATION")
            return
        if role == "viewer":
            r.expect(403, "FORBIDDEN_ACTION")
            return
        if any("id" in b for b, _ in made):
            r.expect(400, "VALIDATION_FAILED")
            return
        if any(b.get("status") == "bogus" for b, _ in made):
            r.expect(400, "VALIDATION_FAILED")
            return
        taken = set(self.projects)
        for body, _ in made:  # the first refused item refuses them all
            refused = self.refusal(actor, body, taken)
            if refused is not None:
                r.expect(*refused)
                return
            if "id" in body:
                taken.add(body["id"])
        r.expect(201)
        assert isinstance(r.body, list) and len(r.body) == len(made), r.what
        for row, (_, tok) in zip(r.body, made, strict=True):
            self.add_project(actor, row, tok)

    @rule(actor=actors, kind=st.sampled_from(PROJECT_TARGETS), pick=picks, change=project_changes, view=routes)
    def update_project(self, actor: str, kind: str, pick: int, change: ProjectChange, view: str | None) -> None:
        """Change a project, possibly trying to move it or hand it to someone else."""
        self.tally.operations += 1
        project_id = self.pick_project(actor, kind, pick)
        org, role = self.principal(actor)
        person = self.people[actor]
        target = self.projects.get(project_id) or self.gone.get(project_id)
        body: dict[str, Any] = {}
        tok = target.token if target is not None else token("p", next(self.world.counter))
        if change.word is not None:
            body["name"] = f"{change.word} {tok}"
        if change.status is not None:
            body["status"] = change.status
        if change.described is not None:
            body["description"] = f"{change.word or 'beta'} notes {tok}" if change.described else None
        home = target.org if target is not None else person.active
        if change.org == "same":
            body["org_id"] = self.orgs[home].id
        elif change.org == "other":
            body["org_id"] = self.orgs[ORG_KEYS[(ORG_KEYS.index(home) + 1 + pick % 2) % 3]].id
        if change.creator is not None:
            colleagues = [p.key for p in self.people.values() if home in p.memberships and p.key != actor]
            outsiders = [p.key for p in self.people.values() if home not in p.memberships]
            chosen = {
                "same": [target.creator if target is not None else actor],
                "self": [actor],
                "colleague": colleagues or [actor],
                "outsider": outsiders,
            }[change.creator]
            body["created_by"] = self.people[chosen[pick % len(chosen)]].id
        if change.labels is not None:
            body["labels"] = self.label_refs(actor, change.labels, pick)
        r = self.send(actor, "PATCH", f"/api/{view or 'projects'}/{project_id}", body=body)
        if self.guard_refuses(r, view, role):
            return
        if view == ARCHIVED_VIEW:
            body = {**body, "status": "archived"}  # the view's fixed value, put over the body
        if role is None:
            r.expect(403, "NO_ACTIVE_ORGANIZATION")
            return
        if role == "viewer":
            r.expect(403, "FORBIDDEN_ACTION")
            return
        pr = self.in_view(self.in_scope(actor, project_id), view)
        if pr is None:
            r.expect(404, "NOT_FOUND")
            return
        if role == "member" and pr.creator != actor:
            r.expect(OTHERS_ROW_STATUS)
            return
        if body.get("status") == "bogus":
            r.expect(400, "VALIDATION_FAILED")
            return
        if "org_id" in body and body["org_id"] != self.orgs[pr.org].id:
            r.expect(403, "TENANT_MISMATCH")
            return
        creator = body.get("created_by")
        if creator is not None and creator != self.people[pr.creator].id and role != "admin":
            r.expect(403, "OWNER_MISMATCH")
            return
        if creator is not None and creator not in {p.id for p in self.visible_people(actor)}:
            r.expect(400, "VALIDATION_FAILED")
            return
        if not self.labels_allowed(actor, body):
            r.expect(400, "VALIDATION_FAILED")
            return
        r.expect(200)
        if "labels" in body:
            linked = self.labels_of(body["labels"])
            assert linked is not None
            pr.labels = linked
            assert {label["id"] for label in r.body["labels"]} == {self.world.labels[k].id for k in linked}
        assert org is not None
        if "name" in body:
            pr.name = body["name"]
        if "status" in body:
            pr.status = body["status"]
        if "description" in body:
            pr.description = body["description"]
        if creator is not None:
            found = self.person_by_id(creator)
            assert found is not None
            pr.creator = found.key
        self.check_project_row({k: v for k, v in r.body.items() if k != "labels"}, pr, None, r.what)

    @rule(actor=actors, kind=st.sampled_from(PROJECT_TARGETS), pick=picks, view=routes)
    def delete_project(self, actor: str, kind: str, pick: int, view: str | None) -> None:
        """Delete a project: only the active organization's (and the view's), only as the role allows."""
        self.tally.operations += 1
        project_id = self.pick_project(actor, kind, pick)
        r = self.send(actor, "DELETE", f"/api/{view or 'projects'}/{project_id}")
        _, role = self.principal(actor)
        if self.guard_refuses(r, view, role):
            return
        if role is None:
            r.expect(403, "NO_ACTIVE_ORGANIZATION")
            return
        if role == "viewer":
            r.expect(403, "FORBIDDEN_ACTION")
            return
        pr = self.in_view(self.in_scope(actor, project_id), view)
        if pr is None:
            r.expect(404, "NOT_FOUND")
            return
        if role == "member" and pr.creator != actor:
            r.expect(OTHERS_ROW_STATUS)
            return
        r.expect(200)
        self.gone[project_id] = self.projects.pop(project_id)

    # -- users ----------------------------------------------------------------------------------

    def user_matches(self, actor: str, person: Person, cond: Cond, vals: tuple[str, ...]) -> bool:
        """Whether a user satisfies a users-list condition, as the actor would see it."""
        org, _ = self.principal(actor)
        if cond.field == "projects.name":
            return any(
                p.creator == person.key and p.org == org and compare(cond.op, p.name, vals) is True
                for p in self.projects.values()
            )
        return compare(cond.op, {"email": person.email, "name": person.name}[cond.field], vals) is True

    def check_user_row(self, actor: str, row: dict[str, Any], fields: tuple[str, ...] | None, what: str) -> Person:
        """A returned user row equals the model's, with the role in the actor's active organization."""
        person = self.person_by_id(row["id"])
        assert person is not None, f"{what}: unknown user {row}"
        org, _ = self.principal(actor)
        for key, value in (("email", person.email), ("name", person.name)):
            if fields is None or key in fields:
                assert row[key] == value, f"{what}: {key} is {row[key]!r}, the model has {value!r}"
        # The seed's UserWithOrg view: the role in the actor's active organization.
        role = person.memberships.get(org) if org is not None else None
        assert row["role"] == role, f"{what}: {person.key}'s role shows as {row['role']!r}, the model has {role!r}"
        if fields is None or "org_id" in row:  # with ?fields=, a join's key column may be left out
            assert row["org_id"] == (self.orgs[org].id if role and org else None), f"{what}: org_id {row['org_id']}"
        summary = row["organization"]
        if role and org:
            assert summary is not None and summary["id"] == self.orgs[org].id, f"{what}: organization {summary}"
        else:
            assert summary is None, f"{what}: organization {summary}"
        return person

    def check_user_projects(
        self, actor: str, row: dict[str, Any], person: Person, joins: tuple[str, ...], what: str
    ) -> None:
        """A user's joined projects are theirs in the actor's active organization."""
        org, _ = self.principal(actor)
        if "projects" not in joins:
            return
        if org is None:
            assert "projects" not in row, f"{what}: projects joined without an active organization"
            return
        expected = {p.id for p in self.projects.values() if p.creator == person.key and p.org == org}
        got = {p["id"] for p in row["projects"]}
        assert got == expected, f"{what}: {person.key}'s projects {got}, the model has {expected}"

    @rule(actor=actors, q=user_queries)
    def list_users(self, actor: str, q: UserQuery) -> None:
        """List users: the actor and the members of its active organization, filtered."""
        self.tally.operations += 1
        _, role = self.principal(actor)
        params: list[tuple[str, str]] = []
        vals: tuple[str, ...] = ()
        if q.cond is not None:
            vals = self.values(actor, q.cond)
            params.append(("filter", self.filter_param(q.cond, vals)))
        if q.fields is not None:
            params.append(("fields", ",".join(q.fields)))
        params.extend(("join", j) for j in q.joins)
        r = self.send(actor, "GET", "/api/users", params=params)
        if q.cond is not None and q.cond.field.startswith("audit_logs.") and (role != "admin" or r.status == 400):
            self.expect_no_audit_oracle(r)
            return
        r.expect(200)
        visible = self.visible_people(actor)
        if q.cond is not None and q.cond.field.startswith("audit_logs."):
            got = {row["id"] for row in r.body}
            assert got <= {p.id for p in visible}, f"{r.what}: {got}"
            return
        expected = {p.id for p in visible if q.cond is None or self.user_matches(actor, p, q.cond, vals)}
        got = {row["id"] for row in r.body}
        assert got == expected, f"{r.what}: users {got}, the model has {expected}"
        for row in r.body:
            person = self.check_user_row(actor, row, q.fields, r.what)
            self.check_user_projects(actor, row, person, q.joins, r.what)

    def expect_no_audit_oracle(self, r: Response) -> None:
        """A non-admin filtering by the audit log must learn nothing about it: the relation does not
        exist (400, the log has no way back from the rows it mentions), is refused, or matches nothing."""
        assert r.status in (400, 403) or (r.status == 200 and r.body == []), (
            f"{r.what}: a non-admin's filter on audit_logs answered {r.status} {r.text[:600]} "
            "(the answer depends on audit rows the role may not read)"
        )

    @rule(
        actor=actors,
        whom=st.sampled_from((*ACTORS, "missing")),
        joins=st.lists(st.sampled_from(("projects", "organization")), max_size=2, unique=True).map(tuple),
    )
    def get_user(self, actor: str, whom: str, joins: tuple[str, ...]) -> None:
        """One user by id: visible ones only, 404 for everyone else."""
        self.tally.operations += 1
        user_id = self.people[whom].id if whom != "missing" else str(uuid.uuid5(uuid.NAMESPACE_URL, "missing"))
        r = self.send(actor, "GET", f"/api/users/{user_id}", params=[("join", j) for j in joins])
        if whom not in {p.key for p in self.visible_people(actor)}:
            r.expect(404, "NOT_FOUND")
            return
        r.expect(200)
        person = self.check_user_row(actor, r.body, None, r.what)
        self.check_user_projects(actor, r.body, person, joins, r.what)

    @rule(
        actor=actors,
        whom=st.sampled_from(ACTORS),
        change=st.sampled_from(("name", "name", "role", "org_id", "email")),
        word=st.sampled_from(WORDS),
    )
    def update_user(self, actor: str, whom: str, change: str, word: str) -> None:
        """Users change only themselves, and never their role, organization or e-mail here."""
        self.tally.operations += 1
        person = self.people[whom]
        body: dict[str, Any] = {
            "name": {"name": f"{word} {person.token}"},
            "role": {"role": "admin"},
            "org_id": {"org_id": self.orgs["C"].id},
            "email": {"email": f"{word}.{person.token}@example.com"},
        }[change]
        r = self.send(actor, "PATCH", f"/api/users/{person.id}", body=body)
        if whom != actor:
            r.expect(404, "NOT_FOUND")  # everyone may update only themselves
            return
        if change != "name":
            r.expect(403, "FIELD_NOT_ALLOWED")  # role, organization and e-mail are the server's
            return
        r.expect(200)
        person.name = body["name"]
        self.check_user_row(actor, r.body, None, r.what)

    @rule(actor=actors, whom=st.sampled_from(ACTORS), method=st.sampled_from(("POST", "DELETE")))
    def create_or_delete_user(self, actor: str, whom: str, method: str) -> None:
        """Users are made by signing up and removed with delete-user, never through CRUD."""
        self.tally.operations += 1
        person = self.people[whom]
        if method == "POST":
            body = {"email": f"new.{token('n', next(self.world.counter))}@example.com", "name": "New"}
            r = self.send(actor, "POST", "/api/users", body=body)
        else:
            r = self.send(actor, "DELETE", f"/api/users/{person.id}")
        r.expect(403, "FORBIDDEN_ACTION")

    # -- organizations --------------------------------------------------------------------------

    def check_org_row(self, actor: str, row: dict[str, Any], q: OrgQuery | None, what: str) -> None:
        """A returned organization row and its joins are the model's."""
        o = self.org_by_id(row["id"])
        assert o is not None and o.key in self.people[actor].memberships, f"{what}: organization {row}"
        fields = q.fields if q is not None else None
        for key, value in (("name", o.name), ("slug", o.slug), ("billing_email", o.billing_email)):
            if fields is None or key in fields:
                assert row[key] == value, f"{what}: {key} is {row[key]!r}, the model has {value!r}"
        org, role = self.principal(actor)
        joins = q.joins if q is not None else ()
        for rel in ("projects", "subscription"):
            if rel not in joins:
                continue
            if org is None:
                assert rel not in row, f"{what}: {rel} joined without an active organization"
                continue
            rows: Iterable[Project | Subscription] = (
                self.projects.values() if rel == "projects" else self.subscriptions.values()
            )
            expected = {r.id for r in rows if r.org == o.key} if o.key == org else set()
            joined = row[rel]
            if rel == "subscription":  # one per organization: an object or null
                joined = [] if joined is None else [joined]
            got = {r["id"] for r in joined}
            assert got == expected, f"{what}: {rel} of {o.key} {got}, the model has {expected}"
        if "users" in joins:
            visible = {p.id for p in self.visible_people(actor)}
            assert {u["id"] for u in row["users"]} <= visible, f"{what}: users {row['users']}"
        if "audit_logs" in joins:
            if role != "admin":
                assert "audit_logs" not in row, f"{what}: a {role} sees the audit log"
            else:
                audit_rows = row.get("audit_logs", [])  # no key: the relation is not there at all
                assert all(a["org_id"] == self.orgs[org or ""].id for a in audit_rows), f"{what}: {row}"
                if o.key != org:
                    assert audit_rows == [], f"{what}: audit rows of another organization than the active one"

    @rule(actor=actors, q=org_queries)
    def list_organizations(self, actor: str, q: OrgQuery) -> None:
        """List organizations: exactly the actor's, filtered."""
        self.tally.operations += 1
        org, role = self.principal(actor)
        params: list[tuple[str, str]] = []
        vals: tuple[str, ...] = ()
        if q.cond is not None:
            vals = self.values(actor, q.cond)
            params.append(("filter", self.filter_param(q.cond, vals)))
        if q.fields is not None:
            params.append(("fields", ",".join(q.fields)))
        params.extend(("join", j) for j in q.joins)
        r = self.send(actor, "GET", "/api/organizations", params=params)
        auditing = q.cond is not None and q.cond.field.startswith("audit_logs.")
        if auditing and (role != "admin" or r.status == 400):
            self.expect_no_audit_oracle(r)
            return
        r.expect(200)
        mine = [self.orgs[k] for k in self.people[actor].memberships]
        got = {row["id"] for row in r.body}
        if auditing:
            assert org is not None
            assert got <= {self.orgs[org].id}, f"{r.what}: audit rows of organizations other than the active one"
        else:
            expected = {o.id for o in mine if q.cond is None or self.org_matches(actor, o, q.cond, vals)}
            assert got == expected, f"{r.what}: organizations {got}, the model has {expected}"
        for row in r.body:
            self.check_org_row(actor, row, q, r.what)

    def org_matches(self, actor: str, o: Org, cond: Cond, vals: tuple[str, ...]) -> bool:
        """Whether an organization satisfies a condition, as the actor would see it."""
        org, _ = self.principal(actor)
        if cond.field == "projects.name":
            return any(p.org == o.key == org and compare(cond.op, p.name, vals) is True for p in self.projects.values())
        return compare(cond.op, {"name": o.name, "slug": o.slug}[cond.field], vals) is True

    @rule(
        actor=actors,
        whom=st.sampled_from((*ORG_KEYS, "missing")),
        joins=st.lists(st.sampled_from(("projects", "subscription", "audit_logs")), max_size=2, unique=True).map(tuple),
    )
    def get_organization(self, actor: str, whom: str, joins: tuple[str, ...]) -> None:
        """One organization by id: the actor's only, 404 for others."""
        self.tally.operations += 1
        org_id = self.orgs[whom].id if whom != "missing" else str(uuid.uuid5(uuid.NAMESPACE_URL, "org"))
        r = self.send(actor, "GET", f"/api/organizations/{org_id}", params=[("join", j) for j in joins])
        if whom not in self.people[actor].memberships:
            r.expect(404, "NOT_FOUND")
            return
        r.expect(200)
        self.check_org_row(actor, r.body, OrgQuery(None, None, joins), r.what)

    @rule(actor=actors, whom=st.sampled_from(ORG_KEYS), word=st.sampled_from(WORDS))
    def update_organization(self, actor: str, whom: str, word: str) -> None:
        """Only an admin changes an organization, and only its active one."""
        self.tally.operations += 1
        o = self.orgs[whom]
        body = {"billing_email": f"{word}.{o.token}@example.com"}
        r = self.send(actor, "PATCH", f"/api/organizations/{o.id}", body=body)
        org, role = self.principal(actor)
        if role != "admin":
            r.expect(403, "FORBIDDEN_ACTION")
            return
        if whom != org:
            r.expect(404, "NOT_FOUND")
            return
        r.expect(200)
        o.billing_email = body["billing_email"]
        self.check_org_row(actor, r.body, None, r.what)

    @rule(actor=actors, whom=st.sampled_from(ORG_KEYS))
    def delete_organization(self, actor: str, whom: str) -> None:
        """Only attempts that must fail: an admin deleting its own organization would end the world."""
        self.tally.operations += 1
        org, role = self.principal(actor)
        org_id = self.orgs[whom].id
        if role == "admin" and whom == org:
            org_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "no such organization"))
        r = self.send(actor, "DELETE", f"/api/organizations/{org_id}")
        if role != "admin":
            r.expect(403, "FORBIDDEN_ACTION")
            return
        r.expect(404, "NOT_FOUND")

    # -- the audit log --------------------------------------------------------------------------

    @rule(
        actor=actors,
        named=st.sampled_from((None, *ORG_KEYS, "all")),
        method=st.sampled_from(("GET", "GET", "GET", "EXPORT", "POST", "PATCH", "DELETE")),
        joins=st.lists(st.sampled_from(("user", "organization")), max_size=2, unique=True).map(tuple),
    )
    def audit_log(self, actor: str, named: str | None, method: str, joins: tuple[str, ...]) -> None:
        """Admins read their active organization's log (list and export); nobody writes it."""
        self.tally.operations += 1
        org, role = self.principal(actor)
        if method == "POST":
            body = {
                "user_id": self.people[actor].id,
                "org_id": self.orgs[org or "A"].id,
                "action": "delete",
                "resource_type": "projects",
                "resource_id": str(uuid.uuid4()),
            }
            r = self.send(actor, "POST", "/api/audit_logs", body=body)
            r.expect(403)  # nobody writes the log through the API, admins included
            return
        if method in ("PATCH", "DELETE"):
            r = self.send(
                actor,
                method,
                f"/api/audit_logs/{uuid.uuid5(uuid.NAMESPACE_URL, 'audit')}",
                body={"action": "update"} if method == "PATCH" else None,
            )
            r.expect(403)
            return
        params: list[tuple[str, str]] = [("limit", "100")]
        if named == "all":
            params.append(("filter", f"org_id||$in||{','.join(o.id for o in self.orgs.values())}"))
        elif named is not None:
            params.append(("org_id", self.orgs[named].id))
        if method == "EXPORT":
            r = self.send(actor, "GET", "/api/audit_logs/export", params=[("format", "jsonl"), *params])
        else:
            r = self.send(actor, "GET", "/api/audit_logs", params=params + [("join", j) for j in joins])
        if role != "admin":
            r.expect(403, "FORBIDDEN_ACTION")
            return
        r.expect(200)
        administered = {self.orgs[k].id for k, v in self.people[actor].memberships.items() if v == "admin"}
        if method == "EXPORT":
            rows = [json.loads(line) for line in r.text.splitlines() if line.strip()]
        else:
            rows = r.body["data"] if isinstance(r.body, dict) else r.body
        seen = {row["org_id"] for row in rows}
        assert seen <= administered, (
            f"{r.what}: {actor} ({self.people[actor].memberships}) read audit rows of organizations "
            f"{sorted(k for k, o in self.orgs.items() if o.id in seen - administered)} where it is not an admin"
        )
        if named is None:
            assert seen <= {self.orgs[org or ""].id}, (
                f"{r.what}: audit rows of another organization than the active one"
            )

    # -- subscriptions (one per organization; only Stripe's webhooks write them) -------------------

    def _stripe_writes_subscription(self, org_key: str) -> None:
        """A subscription written as billing's webhooks write them (by the server, not a client)."""
        org = self.orgs[org_key]
        stripe_id = f"sub_{token('s', next(self.world.counter))}"
        values = {"org_id": org.id, "stripe_subscription_id": stripe_id, "plan_id": PLANS[0], "status": "active"}
        rt = self.api.runtime
        entity = rt.schema.entities["subscriptions"]
        row = self.api.call(rt.pipeline.create_row, SYSTEM_CONTEXT, entity, values)
        self.subscriptions[str(row["id"])] = Subscription(str(row["id"]), org_key, stripe_id)

    @rule(org_key=st.sampled_from(ORG_KEYS))
    def stripe_writes_subscription(self, org_key: str) -> None:
        """Stripe's webhook gives an organization without one a subscription."""
        if any(s.org == org_key for s in self.subscriptions.values()):
            return
        self.tally.operations += 1
        self._stripe_writes_subscription(org_key)

    @rule(
        actor=actors,
        org_choice=st.sampled_from(("absent", "active", "foreign")),
        stripe_choice=st.sampled_from(("fresh", "existing")),
        pick=picks,
    )
    def create_subscription(self, actor: str, org_choice: str, stripe_choice: str, pick: int) -> None:
        """POST a subscription: refused to every user alike, whatever it names, so that no answer
        (a 409 above all) can confirm another organization's Stripe id."""
        self.tally.operations += 1
        org, _ = self.principal(actor)
        active = org or self.people[actor].active
        body: dict[str, Any] = {"plan_id": PLANS[pick % 2], "status": "active"}
        existing = [s.stripe_id for s in self.subscriptions.values()]
        if stripe_choice == "existing" and existing:
            body["stripe_subscription_id"] = existing[pick % len(existing)]
        else:
            body["stripe_subscription_id"] = f"sub_{token('s', next(self.world.counter))}"
        if org_choice == "active":
            body["org_id"] = self.orgs[active].id
        elif org_choice == "foreign":
            body["org_id"] = self.orgs[[k for k in ORG_KEYS if k != active][pick % 2]].id
        self.send(actor, "POST", "/api/subscriptions", body=body).expect(403, "SUBSCRIPTION_READ_ONLY")

    @rule(actor=actors, named=st.sampled_from((None, *ORG_KEYS)))
    def list_subscriptions(self, actor: str, named: str | None) -> None:
        """List subscriptions, optionally naming an organization with ``?org_id=``."""
        self.tally.operations += 1
        org, role = self.principal(actor)
        params = [("org_id", self.orgs[named].id)] if named is not None else []
        r = self.send(actor, "GET", "/api/subscriptions", params=params)
        if role is None:
            r.expect(403, "NO_ACTIVE_ORGANIZATION")
            return
        r.expect(200)
        scope = {named} & set(self.people[actor].memberships) if named is not None else {org}
        expected = {s.id for s in self.subscriptions.values() if s.org in scope}
        got = {row["id"] for row in r.body}
        assert got == expected, f"{r.what}: subscriptions {got}, the model has {expected}"

    @rule(actor=actors, kind=st.sampled_from(("active", "other", "missing")), pick=picks)
    def delete_subscription(self, actor: str, kind: str, pick: int) -> None:
        """Delete a subscription: refused to every user, admins included (Stripe ends them)."""
        self.tally.operations += 1
        org, _ = self.principal(actor)
        candidates = [
            s for s in self.subscriptions.values() if kind != "missing" and (s.org == org) == (kind == "active")
        ]
        sub_id = candidates[pick % len(candidates)].id if candidates else str(uuid.UUID(int=pick + 99))
        self.send(actor, "DELETE", f"/api/subscriptions/{sub_id}").expect(403, "SUBSCRIPTION_READ_ONLY")

    # -- sessions and roles ---------------------------------------------------------------------

    @rule(whom=st.sampled_from(ORG_KEYS))
    def switch_active_organization(self, whom: str) -> None:
        """The two-organization user switches; C is not theirs (as if the membership were revoked)."""
        self.tally.operations += 1
        person = self.people[TWO_ORGS]
        org_id = self.orgs[whom].id
        if self.world.has_set_active:
            r = self.send(TWO_ORGS, "POST", "/api/auth/organization/set-active", body={"organizationId": org_id})
            if whom in person.memberships:
                r.expect(200)
                assert isinstance(r.body, dict) and r.body["id"] == org_id, f"{r.what}: {r.text[:600]}"
                person.active = whom
                return
            # Refused, exactly as an organization that does not exist is (existence must not show).
            missing = str(uuid.uuid5(uuid.NAMESPACE_URL, "no such organization"))
            nothing = self.send(TWO_ORGS, "POST", "/api/auth/organization/set-active", body={"organizationId": missing})
            assert 400 <= r.status < 500 and (r.status, r.code) == (nothing.status, nothing.code), (
                f"{r.what}: a foreign organization answered {r.status} {r.code}, "
                f"one that does not exist {nothing.status} {nothing.code}"
            )
        self.set_active(whom)

    @rule(
        actor=actors,
        endpoint=st.sampled_from(
            ("get-organization", "get-full-organization", "list-members", "list-invitations", "list")
        ),
        whom=st.sampled_from((*ORG_KEYS, "missing")),
    )
    def organization_plugin_reads(self, actor: str, endpoint: str, whom: str) -> None:
        """Better Auth's organization endpoints show the user's organizations, and only those."""
        if not self.world.has_set_active:
            return  # the app has no organization plugin (yet)
        self.tally.operations += 1
        mine = self.people[actor].memberships
        org_id = self.orgs[whom].id if whom != "missing" else str(uuid.uuid5(uuid.NAMESPACE_URL, "plugin"))
        params = {} if endpoint == "list" else {"organizationId": org_id}
        r = self.send(actor, "GET", f"/api/auth/organization/{endpoint}", params=params)
        if endpoint == "list":
            r.expect(200)
            got = {o["id"] for o in r.body}
            assert got == {self.orgs[k].id for k in mine}, f"{r.what}: organizations {got}"
            return
        if whom not in mine:
            # Refused. (A foreign organization answers 403 where one that does not exist answers
            # 400, as Better Auth's plugin does: the ids are UUIDs, and nothing of it shows.)
            assert 400 <= r.status < 500, f"{r.what}: answered {r.status} {r.text[:600]}"
            return
        if endpoint == "list-invitations" and r.status == 403:
            return  # which roles may list invitations is the plugin's business, not isolation's
        r.expect(200)
        if endpoint in ("get-organization", "get-full-organization"):
            assert r.body["id"] == org_id, f"{r.what}: {r.text[:600]}"
        if endpoint == "get-full-organization":
            members = {m["userId"] for m in r.body["members"]}
            assert members == {p.id for p in self.people.values() if whom in p.memberships}, f"{r.what}: {members}"

    @initialize(role=st.sampled_from(("admin", "member", "viewer")), active=st.sampled_from(("A", "B")))
    def start_two_organization_user(self, role: str, active: str) -> None:
        """Each sequence starts the two-organization user with its own role in B and active organization."""
        self.set_role(role)
        self.set_active(active)

    def set_active(self, org_key: str) -> None:
        """Point the two-organization user's session at an organization (membership or not)."""
        person = self.people[TWO_ORGS]
        store = self.api.runtime.get(Authentication).ctx.store

        async def point(rt: Tenantry) -> None:
            async with rt.db.transaction() as conn:
                await store.set_active_organization(conn, person.session, self.orgs[org_key].id)

        self.api.call(point, self.api.runtime)
        person.active = org_key

    @rule(role=st.sampled_from(("admin", "member", "viewer")))
    def change_role(self, role: str) -> None:
        """The two-organization user's role in B changes; it must count from the next request."""
        self.tally.operations += 1
        self.set_role(role)

    def set_role(self, role: str) -> None:
        """Set the two-organization user's role in B directly in the membership table."""
        person = self.people[TWO_ORGS]
        members = self.api.runtime.tables.extensions["tenancy"].members.name
        self.api.call(
            functools.partial(
                sql,
                self.api.runtime,
                f"UPDATE {members} SET role = ? WHERE user_id = ? AND organization_id = ?",
                role,
                person.id,
                self.orgs["B"].id,
            )
        )
        person.memberships["B"] = role

    # -- the model and the database agree --------------------------------------------------------

    @rule()
    def admins_see_everything(self) -> None:
        """Each organization's admin lists all of its projects: exactly the model's."""
        self.tally.operations += 1
        for org_key, admin in ADMINS.items():
            r = self.send(admin, "GET", "/api/projects", params={"limit": str(MAX_LIMIT)})
            r.expect(200)
            expected = {p.id: p for p in self.projects.values() if p.org == org_key}
            got = {row["id"]: row for row in r.body}
            assert set(got) == set(expected), f"{r.what}: {sorted(got)} but the model has {sorted(expected)}"
            for project_id, row in got.items():
                self.check_project_row(row, expected[project_id], None, r.what)

    @invariant()
    def database_matches_model(self) -> None:
        """After every step: the projects, subscriptions and label links are exactly the model's."""
        # One trip to the app's loop and one transaction for the three tables: this runs after
        # every step, so its cost is paid thousands of times.
        rows, sub_rows, link_rows = self.api.call(
            functools.partial(
                sql_many,
                self.api.runtime,
                "SELECT id, org_id, created_by, name, description, status FROM projects",
                "SELECT id, org_id, stripe_subscription_id FROM subscriptions",
                "SELECT label_id, project_id FROM labels_projects",
            )
        )
        stored = {str(r[0]): (str(r[1]), str(r[2]), r[3], r[4], r[5]) for r in rows}
        model = {
            p.id: (self.orgs[p.org].id, self.people[p.creator].id, p.name, p.description, p.status)
            for p in self.projects.values()
        }
        assert stored == model, f"projects in the database differ from the model:\n{stored}\n{model}"
        stored_subs = {str(r[0]): (str(r[1]), r[2]) for r in sub_rows}
        model_subs = {s.id: (self.orgs[s.org].id, s.stripe_id) for s in self.subscriptions.values()}
        assert stored_subs == model_subs, f"subscriptions differ from the model:\n{stored_subs}\n{model_subs}"
        stored_links = {(str(r[0]), str(r[1])) for r in link_rows}
        model_links = {(self.world.labels[k].id, p.id) for p in self.projects.values() for k in p.labels}
        assert stored_links == model_links, f"links differ from the model:\n{stored_links}\n{model_links}"


def nestjsx_combination(f_nodes: list[Tree], o_nodes: list[Tree]) -> Tree | None:
    """How nestjsx/crud combines ``filter`` and ``or`` (see ``QueryParser._filters``)."""
    if f_nodes and not o_nodes:
        return f_nodes[0] if len(f_nodes) == 1 else ("and", f_nodes)
    if o_nodes and not f_nodes:
        return o_nodes[0] if len(o_nodes) == 1 else ("or", o_nodes)
    if not f_nodes:
        return None
    left = f_nodes[0] if len(f_nodes) == 1 else ("and", f_nodes)
    right = o_nodes[0] if len(o_nodes) == 1 else ("and", o_nodes)
    return ("or", [left, right])


@pytest.mark.slow(EXPECTED_SECONDS)
def test_tenant_isolation_under_random_operations(
    make_client: ClientFactory, database_url: str, isolation_runs: list[IsolationRun]
) -> None:
    """Random operations by the users of three organizations never leak across them (both databases)."""
    tally = Tally()
    examples = math.ceil(OPS_PER_DATABASE / STEPS_PER_EXAMPLE_ON_AVERAGE)
    run_settings = settings(
        max_examples=examples,
        stateful_step_count=STEPS_PER_EXAMPLE,
        deadline=None,
        derandomize=True,
        database=None,
        phases=PHASES,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.large_base_example,
        ],
    )
    started = time.monotonic()
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(make_client(SCHEMA, auth=AUTH, TENANTRY_OPEN_API=False)) as client,
    ):
        api = Api(portal, client)
        world = api.call(build_world, client)

        class TenantIsolation(IsolationMachine):
            def __init__(self) -> None:
                super().__init__(api, world, tally)

        run_state_machine_as_test(TenantIsolation, settings=run_settings)
    database = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    isolation_runs.append(
        IsolationRun(database, tally.operations, tally.requests, tally.examples, time.monotonic() - started)
    )
    assert tally.operations >= OPS_PER_DATABASE, (
        f"only {tally.operations} isolation operations ran on {database} (TENANTRY_ISOLATION_OPS={OPS_PER_DATABASE})"
    )
