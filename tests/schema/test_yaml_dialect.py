"""The seed's schema dialect (verbatim) and its extended form."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tenantry.billing import billing_config
from tenantry.schema import Action, FieldType, SchemaError, load_schema, load_schema_text

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "saas" / "schema.yaml"
SEED = ROOT / "tests" / "seed_schema.yaml"
TEMPLATE = ROOT / "src" / "tenantry" / "templates" / "project" / "schema.yaml.tmpl"


def _entities(text: str) -> str:
    """A schema file's text from ``Service Name:`` to the end, without comment lines."""
    body = text[text.index("Service Name:") :]
    return "\n".join(line for line in body.splitlines() if not line.lstrip().startswith("#"))


def problems(text: str) -> list[str]:
    with pytest.raises(SchemaError) as info:
        load_schema_text(textwrap.dedent(text), "s.yaml")
    return [str(p) for p in info.value.problems]


def test_the_seed_schema_loads_verbatim() -> None:
    schema = load_schema(SEED)
    assert schema.title == "my-saas-api"
    assert list(schema.entities) == ["organizations", "users", "projects", "subscriptions", "audit_logs"]
    orgs = schema.entities["organizations"]
    assert orgs.system == "organizations" and schema.entities["users"].system == "users"
    slug = orgs.field("slug")
    assert slug is not None and slug.unique and slug.required and not slug.nullable
    billing = orgs.field("billing_email")
    assert billing is not None and billing.nullable and not billing.required
    created = orgs.field("created_at")
    updated = orgs.field("updated_at")
    assert created is not None and created.auto == "create"
    assert updated is not None and updated.auto == "update"
    role = schema.entities["users"].field("role")
    assert role is not None and role.type is FieldType.ENUM
    assert role.enum_values == ("admin", "member", "viewer") and role.default == "member" and not role.nullable
    org_id = schema.entities["projects"].field("org_id")
    assert org_id is not None and org_id.references == "organizations" and org_id.type is FieldType.UUID
    audit_created = schema.entities["audit_logs"].field("created_at")
    assert audit_created is not None and audit_created.immutable and audit_created.auto == "create"
    assert schema.entities["audit_logs"].field("old_values").type is FieldType.JSON  # type: ignore[union-attr]
    projects = schema.entities["projects"]
    assert projects.tenant_field == "org_id" and projects.owner_field == "created_by"
    assert {r.name for r in projects.relations} == {"organization", "user"}
    assert projects.relation("org") is projects.relation("organization")  # alias from the column name
    # subscriptions.org_id is unique: one subscription per organization, so the way back is one row.
    sub = orgs.relation("subscription")
    assert sub is not None and sub.kind == "one"


def test_the_example_is_the_seed_schema_with_free_and_pro_plans() -> None:
    seed, example = SEED.read_text(), EXAMPLE.read_text()
    assert example.startswith(example[: example.index("Service Name:")] + seed[seed.index("Service Name:") :])
    schema = load_schema(EXAMPLE)
    assert list(schema.entities) == list(load_schema(SEED).entities)
    config = billing_config(schema)
    assert list(config.plans) == ["free", "pro"] and config.free_plan == "free"
    free, pro = config.plans["free"], config.plans["pro"]
    assert free.name == "Free" and free.prices == () and free.limits == {"projects": 3}
    assert pro.name == "Pro" and pro.prices == ("price_pro_monthly", "price_pro_yearly")
    assert pro.trial_days == 14 and pro.limits == {"projects": 100}
    # Its branding: a name, a colour and the sidebar's "Work" heading with the projects' icon.
    assert schema.app_name == "Orbit" and schema.app.color == "#0f766e"
    assert schema.app.menu is not None and [g.label for g in schema.app.menu] == ["Work"]
    assert dict(schema.app.icons) == {"projects": "folder"}


def test_project_template_is_the_example_under_its_own_name() -> None:
    template = TEMPLATE.read_text()
    assert "guide" not in template.lower() and "seed" not in template.lower()
    mine = template.format(name="acme-crm", title="Acme CRM")
    assert "Service Name: acme-crm" in mine
    # The same display block, under the project's own name.
    assert '    name: "Acme CRM"' in mine
    ours = _entities(mine).replace("acme-crm", "my-saas-api").replace('name: "Acme CRM"', 'name: "Orbit"')
    assert ours == _entities(EXAMPLE.read_text())
    schema = load_schema_text(mine, "schema.yaml")
    assert schema.app_name == "Acme CRM" and schema.app.color == "#0f766e"


def test_every_mistake_is_reported_with_file_and_line_at_once() -> None:
    found = problems(
        """\
        organizations:
          - name: strng (required)
          - slug: string (unique, required)
          - slug: string
        projects:
          - org_id: uuid (references organisations, required)
          - status: enum(active, archived) (default: deleted)
          - count: integer (default: many)
          - flag: boolean (requird)
          - kind: enum()
        """
    )
    assert found == [
        "s.yaml:2: field 'name': unknown type 'strng' (did you mean 'string'?); expected one of: string, text, "
        "uuid, integer, bigint, decimal, float, boolean, timestamp, date, json, jsonb, enum(a, b, ...)",
        "s.yaml:4: duplicate field 'slug' in 'organizations' (first at line 3)",
        "s.yaml:6: field 'org_id' references unknown entity 'organisations' (did you mean 'organizations'?)",
        "s.yaml:7: field 'status': default 'deleted' is not one of the enum values (active, archived)",
        "s.yaml:8: field 'count': default 'many' is not a valid integer",
        "s.yaml:9: field 'flag': unknown modifier 'requird' (did you mean 'required'?)",
        "s.yaml:10: enum field 'kind' has no values",
    ]


def test_duplicate_entities_and_bad_names() -> None:
    found = problems(
        """\
        projects:
          - name: string
        projects:
          - title: string
        "bad name":
          - x: string
        """
    )
    assert "s.yaml:3: duplicate entity 'projects' (first defined at line 1)" in found
    assert any(p.startswith("s.yaml:5: entity name 'bad name'") for p in found)


def test_invalid_yaml_points_at_the_line() -> None:
    found = problems("projects:\n  - name: string\n   - bad: [\n")
    assert len(found) == 1 and found[0].startswith("s.yaml:")


def test_reserved_and_auto_rules() -> None:
    found = problems(
        """\
        things:
          - id: string
          - made: integer (auto)
          - name: string (required, nullable)
        """
    )
    assert "s.yaml:2: 'id' is managed by Tenantry and cannot be declared" in found
    assert "s.yaml:3: 'auto' applies to timestamp and date fields, not integer" in found
    assert "s.yaml:4: field 'name' cannot be both required and nullable" in found


def test_types_arguments_and_modifiers() -> None:
    schema = load_schema_text(
        textwrap.dedent(
            """\
            items:
              - code: string(12) (unique)
              - price: decimal(12, 4) (default: 1.5)
              - weight: numeric (precision: 8, scale: 3)
              - email: string (email, required)
              - active: boolean (default: true)
              - data: jsonb
              - day: date (default: today)
              - big: bigint (index)
              - note: text (label: "Internal note")   # a comment
              - owner_id: uuid (references items, on delete: set null)
            """
        ),
        "s.yaml",
    )
    items = schema.entities["items"]
    code, price, weight, email = (items.field(n) for n in ("code", "price", "weight", "email"))
    assert code is not None and code.length == 12 and code.unique
    assert price is not None and (price.precision, price.scale) == (12, 4) and str(price.default) == "1.5"
    assert weight is not None and (weight.precision, weight.scale) == (8, 3)
    assert email is not None and email.email and email.required
    active = items.field("active")
    assert active is not None and active.default is True and not active.nullable
    note = items.field("note")
    assert note is not None and note.label == "Internal note"
    owner = items.field("owner_id")
    assert owner is not None and owner.on_delete == "set null"
    # A self-reference is named after its column, both ways.
    assert items.relation("owner") is not None


def test_extended_form() -> None:
    schema = load_schema_text(
        textwrap.dedent(
            """\
            settings:
              title: Acme Cloud
              roles: [owner, admin, member, viewer]
              max_limit: 50
            organizations:
              - name: string (required)
            users:
              - email: string (unique, required)
            projects:
              fields:
                - name: string (required)
                - org_id: uuid (references organizations, required)
                - created_by: uuid (references users)
                - created_at: timestamp (auto)
              permissions:
                viewer: [read]
                member: [read, create, update:own, delete:own]
                admin: all
              indexes:
                - [org_id, created_at desc]
                - fields: [org_id, name]
                  unique: true
              soft_delete: true
              paginate: always
              limit: 25
              display:
                plural: Workspaces
                singular: Workspace
                title: name
            notes:
              fields:
                body: text (required)
              tenant: none
              route: Notes
            """
        ),
        "s.yaml",
    )
    assert schema.title == "Acme Cloud" and schema.roles == ("owner", "admin", "member", "viewer")
    assert schema.options["max_limit"] == 50
    projects = schema.entities["projects"]
    assert projects.soft_delete and projects.always_paginate and projects.default_limit == 25
    assert projects.display is not None and projects.display.plural == "Workspaces"
    assert projects.permissions is not None
    assert projects.permissions.allows("viewer", Action.READ)
    assert not projects.permissions.allows("viewer", Action.CREATE)
    assert projects.permissions.own_only("member", Action.UPDATE)
    assert projects.permissions.allows("admin", Action.DELETE)
    assert projects.indexes[0].descending == frozenset({"created_at"})
    assert projects.indexes[1].unique
    notes = schema.entities["notes"]
    assert notes.tenant_field is None and notes.route == "Notes"


def test_extended_form_mistakes() -> None:
    found = problems(
        """\
        projects:
          fields:
            - name: string
          permisions:
            viewer: [read]
          indexes:
            - [nope]
        tasks:
          fields:
            - title: string
          permissions:
            guest: [read]
            viewer: [browse]
        """
    )
    assert any(p.startswith("s.yaml:4: unknown option 'permisions' for entity 'projects'") for p in found)
    assert "s.yaml:7: index on 'projects' names unknown field 'nope'" in found
    assert any("unknown role 'guest'" in p for p in found)
    assert any(p.startswith("s.yaml:13: unknown action 'browse'") for p in found)


def test_file_errors() -> None:
    with pytest.raises(SchemaError, match="schema file not found"):
        load_schema(ROOT / "no-such-schema.yaml")
    with pytest.raises(SchemaError, match="empty"):
        load_schema_text("", "s.yaml")
    with pytest.raises(SchemaError, match="needs a list of fields"):
        load_schema_text("projects: 3\n", "s.yaml")


def test_many_to_many() -> None:
    schema = load_schema_text(
        textwrap.dedent("""\
        posts:
          fields:
            - title: string (required)
          many_to_many:
            tags: tags
            related: {to: posts, inverse: false}
            editors: {to: people, inverse: edited, table: post_editors, column: post, target_column: person}
        tags:
          - name: string
        people:
          - name: string
        """)
    )
    tags, related, editors = schema.many_to_many
    assert (tags.table, tags.owner_column, tags.target_column, tags.inverse) == (
        "posts_tags",
        "post_id",
        "tag_id",
        "posts",
    )
    back = schema.entities["tags"].relation("posts")
    assert back is not None and back.kind == "many" and back.target == "posts"
    assert (related.table, related.owner_column, related.target_column, related.inverse) == (
        "posts_related",
        "post_id",
        "related_id",
        None,
    )
    assert (editors.table, editors.owner_column, editors.target_column) == ("post_editors", "post", "person")
    assert schema.entities["people"].relation("edited") is not None


def test_many_to_many_mistakes() -> None:
    assert problems("""\
        posts:
          fields:
            - title: string
          many_to_many:
            tags: tagz
            title: tags
            other: {to: tags, colour: red}
            none: {inverse: x}
        tags:
          - name: string
        """) == [
        "s.yaml:5: many-to-many relationship to unknown entity 'tagz'",
        "s.yaml:6: 'posts' already has a field or relation called 'title'",
        "s.yaml:7: unknown key 'colour' in many-to-many 'other' (keys: column, inverse, table, target_column, to)",
        "s.yaml:8: many-to-many 'none' of 'posts' needs 'to: <entity>'",
    ]


def test_id_kinds_and_unknown_fields_of_the_extended_form() -> None:
    schema = load_schema_text(
        textwrap.dedent(
            """
            events:
              id: bigserial
              unknown_fields: drop
              fields:
                - name: string (required)
            marks:
              id: serial
              fields:
                - event_id: integer (references events)
            """
        )
    )
    events, marks = schema.entities["events"], schema.entities["marks"]
    assert (events.id_type, events.serial_id, events.unknown_keys) == ("bigserial", True, "drop")
    assert (marks.id_type, marks.unknown_keys) == ("serial", "reject")
    assert marks.field("event_id").type is FieldType.BIGINT  # a reference takes the type of the id
    assert problems(
        textwrap.dedent(
            """
            organizations:
              id: bigserial
              fields:
                - name: string (required)
            things:
              id: integer
              unknown_fields: ignore
              fields:
                - name: string (required)
            """
        )
    ) == [
        "s.yaml:2: 'organizations' is a system entity: its id may be uuid, text or serial, not bigserial",
        "s.yaml:7: 'id' must be one of: uuid, text, serial, bigserial",
        "s.yaml:8: 'unknown_fields' must be 'reject' (a 400, the default) or 'drop'",
    ]
