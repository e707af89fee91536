"""Tests for the ``.apsorc`` loader and its line-aware JSON reader."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tenantry.schema import Action, FieldType, Index, Relation, Schema, SchemaError, load_schema, load_schema_text
from tenantry.schema.apsorc import (
    JsonArray,
    JsonObject,
    JsonScalar,
    JsonSyntaxError,
    load_apsorc_schema,
    read_json,
    to_python,
)
from tenantry.schema.types import MAX_PRECISION

FIXTURES = Path(__file__).parent / "fixtures"


def load(text: str, filename: str = "app.apsorc") -> Schema:
    return load_apsorc_schema(textwrap.dedent(text), filename)


def problems(text: str, filename: str = "app.apsorc") -> list[str]:
    with pytest.raises(SchemaError) as info:
        load(text, filename)
    return str(info.value).splitlines()


def v2(entities: list[dict[str, Any]], relationships: list[dict[str, Any]] | None = None) -> str:
    """A version 2 file, one entity or relationship per line so problems land on predictable lines."""
    lines = ['{"version": 2, "entities": [']
    lines += [json.dumps(e) + ("," if i < len(entities) - 1 else "") for i, e in enumerate(entities)]
    lines.append('], "relationships": [')
    rels = relationships or []
    lines += [json.dumps(r) + ("," if i < len(rels) - 1 else "") for i, r in enumerate(rels)]
    lines.append("]}")
    return "\n".join(lines)


def entity(name: str, *fields: Any, **options: Any) -> dict[str, Any]:
    return {"name": name, **options, "fields": list(fields)}


# ---------------------------------------------------------------------------------------------
# The JSON reader
# ---------------------------------------------------------------------------------------------


class TestJsonReader:
    def test_scalars(self) -> None:
        node = read_json('[true, false, null, 0, -12, 1.5, 2.5e3, -0.25E-2, "x"]')
        assert isinstance(node, JsonArray)
        assert to_python(node) == [True, False, None, 0, -12, 1.5, 2500.0, -0.0025, "x"]
        values = [item.value for item in node.items if isinstance(item, JsonScalar)]
        assert [type(v) for v in values[3:8]] == [int, int, float, float, float]

    def test_number_keeps_its_lexeme(self) -> None:
        node = read_json("12345678901234567.89")
        assert isinstance(node, JsonScalar)
        assert node.lexeme == "12345678901234567.89"
        assert isinstance(node.value, float)
        assert Decimal(node.lexeme) != Decimal(node.value)  # the float lost digits

    def test_string_escapes(self) -> None:
        text = r'"quote \" backslash \\ slash \/ controls \b\f\n\r\t e-acute \u00e9 emoji \ud83d\ude00 lone \ud800!"'
        assert to_python(read_json(text)) == (
            'quote " backslash \\ slash / controls \b\f\n\r\t e-acute \u00e9 emoji \U0001f600 lone \ud800!'
        )

    def test_nested_structures_and_lines(self) -> None:
        text = '{\n  "a": [\n    1,\n    {"b": null}\n  ],\n  "c": {}\n}'
        node = read_json(text)
        assert isinstance(node, JsonObject)
        assert [(m.key, m.line) for m in node.members] == [("a", 2), ("c", 6)]
        a = node.members[0].value
        assert isinstance(a, JsonArray)
        assert a.line == 2
        assert [item.line for item in a.items] == [3, 4]
        assert to_python(node) == {"a": [1, {"b": None}], "c": {}}

    def test_comments_and_trailing_commas(self) -> None:
        text = """\
        // a line comment with "quotes" and { braces
        {
          /* a block
             comment */ "a": [1, 2, /* inline */ 3,],
          "url": "http://example.com/*not a comment*/", // after a value
          "b": {"c": true,},
        }
        """
        node = read_json(textwrap.dedent(text))
        assert to_python(node) == {"a": [1, 2, 3], "url": "http://example.com/*not a comment*/", "b": {"c": True}}
        assert isinstance(node, JsonObject)
        assert [m.line for m in node.members] == [4, 5, 6]

    def test_duplicate_keys_are_kept_in_order(self) -> None:
        node = read_json('{"a": 1, "a": 2}')
        assert isinstance(node, JsonObject)
        assert [m.key for m in node.members] == ["a", "a"]
        assert to_python(node) == {"a": 2}  # JSON.parse keeps the last one

    def test_byte_order_mark_is_ignored(self) -> None:
        assert to_python(read_json('\ufeff{"a": 1}')) == {"a": 1}

    def test_crlf_line_endings(self) -> None:
        node = read_json('{\r\n"a": 1,\r\n"b": 2\r\n}')
        assert isinstance(node, JsonObject)
        assert [m.line for m in node.members] == [2, 3]

    @pytest.mark.parametrize(
        ("text", "line", "message"),
        [
            ("", 1, "the file is empty"),
            ("// only a comment\n", 2, "the file is empty"),
            ('{\n  "a": 1\n  "b": 2\n}', 2, "expected ',' or '}' after the value of \"a\", found '\"'"),
            ("[\n1\n2]", 2, "expected ',' or ']' after an array item, found '2'"),
            ('{\n "a": "open\n}', 2, "string is not closed (missing '\"')"),
            ('{"a": 1}\n/* open', 2, "unterminated /* comment"),
            ("{\n 'a': 1}", 2, "expected a key in double quotes or '}', found \"'\" (JSON strings use double quotes)"),
            ('["\\x"]', 1, "invalid escape '\\x' in a string"),
            ('["\\u12G4"]', 1, "'\\u' must be followed by four hex digits"),
            ('["a\tb"]', 1, "control character inside a string (write it as an escape such as \\t)"),
            ("[01]", 1, "invalid number '01'"),
            ("[1.]", 1, "invalid number '1.'"),
            ("[-]", 1, "invalid number '-'"),
            ("[NaN]", 1, "expected a value, found 'N'"),
            ("[1,,2]", 1, "expected a value, found ','"),
            ('{"a" 1}', 1, "expected ':' after the key \"a\", found '1'"),
            ('{"a": }', 1, "expected a value, found '}'"),
            ('{"a": [1, 2\n', 1, "this '[' is never closed"),
            ('{\n  "a": [1, 2],\n', 1, "this '{' is never closed"),
            ('[\n  {"a": 1}', 1, "this '[' is never closed"),
            ('{"a": ', 1, "expected a value, found the end of the file"),
            ("{}\n{}", 2, "unexpected '{' after the end of the JSON document"),
            ("{,}", 1, "expected a key in double quotes or '}', found ','"),
            ("[" * 250 + "]" * 250, 1, "values are nested more than 200 levels deep"),
        ],
    )
    def test_syntax_errors_name_their_line(self, text: str, line: int, message: str) -> None:
        with pytest.raises(JsonSyntaxError) as info:
            read_json(text)
        assert (info.value.line, info.value.message) == (line, message)

    @given(
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
            lambda children: (
                st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
            ),
            max_leaves=20,
        ),
        st.sampled_from([None, 0, 2]),
        st.booleans(),
    )
    def test_agrees_with_the_standard_library(self, value: Any, indent: int | None, ascii_only: bool) -> None:
        text = json.dumps(value, indent=indent, ensure_ascii=ascii_only)
        assert to_python(read_json(text)) == json.loads(text)


# ---------------------------------------------------------------------------------------------
# Apso's real v2 example (apso.md section 1.3)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example() -> Schema:
    path = FIXTURES / "apsorc.v2.json"
    return load_apsorc_schema(path.read_text(encoding="utf-8"), "apsorc.v2.json")


def fks(schema: Schema, name: str) -> dict[str, tuple[str | None, bool, str | None, str | None]]:
    """Foreign keys of an entity: name -> (references, nullable, relation name, inverse name)."""
    e = schema.entities[name]
    return {f.name: (f.references, f.nullable, f.relation_name, f.inverse_name) for f in e.fields if f.references}


class TestApsoV2Example:
    def test_entities_tables_routes(self, example: Schema) -> None:
        rows = [(e.name, e.table, e.route, e.class_name, e.id_type) for e in example.entities.values()]
        assert rows == [
            ("User", "user", "Users", "User", "serial"),
            ("Workspace", "workspace", "Workspaces", "Workspace", "serial"),
            ("WorkspaceUser", "workspace_user", "WorkspaceUsers", "WorkspaceUser", "serial"),
            ("Application", "application", "Applications", "Application", "serial"),
            ("ApplicationService", "application_service", "ApplicationServices", "ApplicationService", "serial"),
            (
                "ApplicationServiceMetric",
                "application_service_metric",
                "ApplicationServiceMetrics",
                "ApplicationServiceMetric",
                "serial",
            ),
            ("InfrastructureStack", "infrastructure_stack", "InfrastructureStacks", "InfrastructureStack", "serial"),
        ]
        assert example.title == "Apso service"
        assert example.by_route()["workspaceusers"].name == "WorkspaceUser"

    def test_columns_in_apso_order(self, example: Schema) -> None:
        assert example.entities["WorkspaceUser"].columns == (
            "id", "created_at", "updated_at", "email", "invite_code", "role", "status", "activeAt", "userId",
            "workspaceId",
        )  # fmt: skip
        assert example.entities["ApplicationServiceMetric"].columns == (
            "id", "created_at", "metric_type", "date", "value", "applicationServiceId",
        )  # fmt: skip

    def test_timestamps(self, example: Schema) -> None:
        user = example.entities["User"]
        created, updated = user.field("created_at"), user.field("updated_at")
        assert created is not None and updated is not None
        assert (created.type, created.auto, created.nullable, created.immutable) == (
            FieldType.TIMESTAMP, "create", False, True,
        )  # fmt: skip
        assert (updated.type, updated.auto, updated.nullable, updated.immutable) == (
            FieldType.TIMESTAMP, "update", False, False,
        )  # fmt: skip
        assert user.created_at_field == "created_at"
        assert example.entities["ApplicationServiceMetric"].field("updated_at") is None

    def test_foreign_keys(self, example: Schema) -> None:
        assert fks(example, "WorkspaceUser") == {
            "userId": ("User", True, "user", "workspaceUsers"),
            "workspaceId": ("Workspace", False, "workspace", "workspaceUsers"),
        }
        assert fks(example, "Application") == {
            "workspaceId": ("Workspace", False, "workspace", "applications"),
            "ownerId": ("User", False, "owner", "applications"),
        }
        assert fks(example, "ApplicationService") == {
            "applicationId": ("Application", False, "application", "applicationServices"),
            "networkStackId": ("InfrastructureStack", True, "networkStack", "applicationServices"),
            "databaseStackId": ("InfrastructureStack", True, "databaseStack", "applicationServicesByDatabaseStack"),
        }
        assert fks(example, "ApplicationServiceMetric") == {
            "applicationServiceId": ("ApplicationService", False, "applicationService", "applicationServiceMetrics"),
        }
        # A self-reference stays one-way, as in Apso.
        assert fks(example, "InfrastructureStack") == {
            "networkStackId": ("InfrastructureStack", True, "networkStack", ""),
        }
        assert fks(example, "User") == {}

    def test_foreign_keys_take_the_serial_id_type_and_their_flags(self, example: Schema) -> None:
        app = example.entities["Application"]
        workspace_id, owner_id = app.field("workspaceId"), app.field("ownerId")
        assert workspace_id is not None and owner_id is not None
        assert (workspace_id.type, workspace_id.required, workspace_id.index, workspace_id.on_delete) == (
            FieldType.INTEGER, True, True, "restrict",
        )  # fmt: skip
        assert (owner_id.type, owner_id.required, owner_id.index) == (FieldType.INTEGER, True, False)
        assert workspace_id.location is not None and workspace_id.location.line == 7  # its relationship's line
        user_id = example.entities["WorkspaceUser"].field("userId")
        assert user_id is not None and (user_id.required, user_id.nullable) == (False, True)

    def test_relations(self, example: Schema) -> None:
        def names(entity: str) -> list[tuple[str, str, str]]:
            return [(r.name, r.kind, r.target) for r in example.entities[entity].relations]

        assert names("User") == [
            ("workspaceUsers", "many", "WorkspaceUser"),
            ("applications", "many", "Application"),
        ]
        assert names("Application") == [
            ("workspace", "one", "Workspace"),
            ("owner", "one", "User"),
            ("applicationServices", "many", "ApplicationService"),
        ]
        assert names("InfrastructureStack") == [
            ("applicationServices", "many", "ApplicationService"),
            ("applicationServicesByDatabaseStack", "many", "ApplicationService"),
            ("networkStack", "one", "InfrastructureStack"),
        ]
        owner = example.entities["Application"].relation("owner")
        assert owner == Relation("owner", "one", "User", "ownerId", "id")
        collection = example.entities["User"].relation("applications")
        assert collection == Relation("applications", "many", "Application", "id", "ownerId")

    def test_fields(self, example: Schema) -> None:
        user = example.entities["User"]
        cognito, email, full_name = user.field("cognito_id"), user.field("email"), user.field("fullName")
        assert cognito is not None and email is not None and full_name is not None
        assert (cognito.type, cognito.unique, cognito.required, cognito.nullable) == (FieldType.TEXT, True, True, False)
        assert (email.type, email.length, email.email, email.required) == (FieldType.TEXT, 255, True, True)
        assert (full_name.required, full_name.nullable) == (False, True)
        service = example.entities["ApplicationService"]
        location = service.field("deployment_location")
        assert location is not None
        # NOT NULL with a default: the client may leave it out.
        assert (location.default, location.has_default, location.required, location.nullable) == (
            "us-west-2", True, False, False,
        )  # fmt: skip
        details, apsorc = service.field("infrastructure_details"), service.field("apsorc")
        assert details is not None and apsorc is not None
        assert (details.type, apsorc.type) == (FieldType.JSON, FieldType.JSON)
        active_at = example.entities["WorkspaceUser"].field("activeAt")
        assert active_at is not None and active_at.type is FieldType.DATE
        value = example.entities["ApplicationServiceMetric"].field("value")
        assert value is not None and (value.type, value.required) == (FieldType.INTEGER, True)

    def test_enum_defaults(self, example: Schema) -> None:
        def enum(entity: str, name: str) -> tuple[tuple[str, ...], Any, bool]:
            f = example.entities[entity].field(name)
            assert f is not None and f.type is FieldType.ENUM
            return f.enum_values, f.default, f.required

        assert enum("WorkspaceUser", "role") == (("User", "Admin"), "Admin", False)
        # No default: Apso uses the first value.
        assert enum("WorkspaceUser", "status") == (("Active", "Invited", "Inactive", "Deleted"), "Active", False)
        assert enum("ApplicationService", "build_status")[1] == "New"
        assert enum("ApplicationServiceMetric", "metric_type")[1] == "Bandwidth"
        assert enum("InfrastructureStack", "stack_type")[1] == "network"

    def test_indexes(self, example: Schema) -> None:
        (index,) = example.entities["ApplicationServiceMetric"].indexes
        assert (index.fields, index.unique) == (("applicationServiceId", "metric_type", "date"), True)
        assert index.location is not None and index.location.line == 41
        assert all(not e.indexes for e in example.entities.values() if e.name != "ApplicationServiceMetric")

    def test_owner_and_tenant(self, example: Schema) -> None:
        # `ownerId` referencing the users entity is Tenantry's owner column; there is no organizations entity.
        assert example.entities["Application"].owner_field == "ownerId"
        assert all(e.tenant_field is None for e in example.entities.values())
        assert example.entities["User"].system == "users"

    def test_locations_point_at_names(self, example: Schema) -> None:
        workspace = example.entities["Workspace"]
        assert workspace.location is not None and workspace.location.line == 20
        status = example.entities["WorkspaceUser"].field("status")
        assert status is not None and str(status.location) == "apsorc.v2.json:25"

    def test_dispatch_by_file_name(self, tmp_path: Path, example: Schema) -> None:
        text = (FIXTURES / "apsorc.v2.json").read_text(encoding="utf-8")
        commented = "// Apso service\n" + text  # no longer starts with '{'
        assert load_schema_text(commented, ".apsorc").entities.keys() == example.entities.keys()
        path = tmp_path / ".apsorc"
        path.write_text(text, encoding="utf-8")
        loaded = load_schema(path)
        assert list(loaded.entities) == list(example.entities)
        assert loaded.source == str(path)


# ---------------------------------------------------------------------------------------------
# Version 1 (associations)
# ---------------------------------------------------------------------------------------------

# Apso's own v1 test file (apsoai/cli test/apsorc-json/apsorc.v1.json), reduced to the entities of the
# v2 example and written one object per line.
V1_EXAMPLE = """\
{
  "version": 1,
  "rootFolder": "src",
  "entities": [
    { "name": "User", "created_at": true, "updated_at": true, "fields": [
        { "name": "cognito_id", "type": "text", "unique": true },
        { "name": "email", "type": "text", "length": 255, "is_email": true },
        { "name": "fullName", "type": "text", "nullable": true } ],
      "associations": [ { "name": "WorkspaceUser", "type": "OneToMany" } ] },
    { "name": "Workspace", "created_at": true, "updated_at": true, "fields": [ { "name": "name", "type": "text" } ],
      "associations": [
        { "name": "WorkspaceUser", "type": "OneToMany" },
        { "name": "Application", "type": "OneToMany" } ] },
    { "name": "WorkspaceUser", "created_at": true, "updated_at": true, "fields": [
        { "name": "role", "type": "enum", "values": ["User", "Admin"], "default": "Admin" } ],
      "associations": [
        { "name": "Workspace", "type": "ManyToOne" },
        { "name": "User", "type": "ManyToOne", "nullable": true } ] },
    { "name": "Application", "created_at": true, "updated_at": true, "fields": [ { "name": "name", "type": "text" } ],
      "associations": [
        { "name": "Workspace", "type": "ManyToOne", "index": true },
        { "name": "ApplicationService", "type": "OneToMany" },
        { "name": "User", "type": "ManyToOne", "reference_name": "owner" } ] },
    { "name": "ApplicationService", "created_at": true, "updated_at": true,
      "fields": [ { "name": "name", "type": "text" } ],
      "associations": [
        { "name": "Application", "type": "ManyToOne" },
        { "name": "ApplicationServiceMetric", "type": "OneToMany" },
        { "name": "InfrastructureStack", "type": "ManyToOne", "reference_name": "networkStack", "nullable": true },
        { "name": "InfrastructureStack", "type": "ManyToOne", "reference_name": "databaseStack", "nullable": true } ] },
    { "name": "ApplicationServiceMetric", "created_at": true, "fields": [
        { "name": "metric_type", "type": "enum", "values": ["Bandwidth", "Request", "Error"] },
        { "name": "date", "type": "date" } ],
      "associations": [ { "name": "ApplicationService", "type": "ManyToOne" } ],
      "indexes": [ { "fields": ["applicationServiceId", "metric_type", "date"], "unique": true } ] },
    { "name": "InfrastructureStack", "created_at": true, "updated_at": true,
      "fields": [ { "name": "stackId", "type": "text" } ],
      "associations": [
        { "name": "InfrastructureStack", "type": "ManyToOne", "reference_name": "networkStack", "nullable": true } ] }
  ]
}
"""


class TestVersion1:
    def test_associations_give_the_same_foreign_keys_as_v2(self, example: Schema) -> None:
        schema = load(V1_EXAMPLE)
        for name in schema.entities:
            v1_keys = {k: v[:3] for k, v in fks(schema, name).items()}
            v2_keys = {k: v[:3] for k, v in fks(example, name).items()}
            assert v1_keys == v2_keys, name
        workspace_id = schema.entities["Application"].field("workspaceId")
        assert workspace_id is not None and workspace_id.index  # the ManyToOne side's `index` carries over
        (index,) = schema.entities["ApplicationServiceMetric"].indexes
        assert index.fields == ("applicationServiceId", "metric_type", "date")

    def test_inverse_names_follow_declared_pairs(self) -> None:
        schema = load(V1_EXAMPLE)
        # Paired OneToMany/ManyToOne associations are navigable both ways ...
        assert fks(schema, "WorkspaceUser")["userId"] == ("User", True, "user", "workspaceUsers")
        assert fks(schema, "ApplicationService")["applicationId"][3] == "applicationServices"
        # ... a ManyToOne with no OneToMany on the other side is one-way in v1 (unlike v2's default).
        assert fks(schema, "Application")["ownerId"] == ("User", False, "owner", "")
        assert fks(schema, "ApplicationService")["networkStackId"][3] == ""
        assert [r.name for r in schema.entities["User"].relations] == ["workspaceUsers"]

    def test_version_defaults_to_1(self) -> None:
        text = V1_EXAMPLE.replace('"version": 1,', "")
        assert fks(load(text), "WorkspaceUser") == fks(load(V1_EXAMPLE), "WorkspaceUser")

    def test_one_to_many_without_inverse_is_still_two_way(self) -> None:
        schema = load("""\
            {"entities": [
              {"name": "Team", "fields": [],
               "associations": [{"name": "Player", "type": "OneToMany", "nullable": true}]},
              {"name": "Player", "fields": []}
            ]}""")
        assert fks(schema, "Player") == {"teamId": ("Team", True, "team", "players")}

    def test_one_to_one_pair_makes_one_key(self) -> None:
        schema = load("""\
            {"entities": [
              {"name": "User", "fields": [], "associations": [{"name": "Profile", "type": "OneToOne"}]},
              {"name": "Profile", "fields": [], "associations": [{"name": "User", "type": "OneToOne"}]}
            ]}""")
        assert fks(schema, "User") == {"profileId": ("Profile", False, "profile", "user")}
        assert fks(schema, "Profile") == {}
        profile_id = schema.entities["User"].field("profileId")
        assert profile_id is not None and profile_id.unique

    def test_v1_rejects_top_level_relationships(self) -> None:
        assert problems("""\
            {"version": 1, "entities": [
              {"name": "Tag", "fields": [], "associations": [{"name": "Post", "type": "ManyToMany"}]},
              {"name": "Post", "fields": []}
            ],
            "relationships": [{"from": "Post", "to": "Tag", "type": "ManyToOne"}]}""") == [
            "app.apsorc:5: top-level 'relationships' are only read in version 2 files: set \"version\": 2 "
            "or declare 'associations' on the entities",
        ]

    def test_v2_rejects_associations(self) -> None:
        assert problems(
            v2([entity("A", associations=[{"name": "B", "type": "OneToMany"}]), entity("B")]),
        ) == [
            "app.apsorc:2: 'associations' are only read in version 1 files: declare top-level 'relationships' instead"
        ]


# ---------------------------------------------------------------------------------------------
# Fields
# ---------------------------------------------------------------------------------------------

# Apso's decimal example (apsoai/cli test/apsorc-json/apsorc-decimal-example.json).
DECIMAL_EXAMPLE = """\
{
  "version": 2,
  "rootFolder": "src",
  "apiType": "Rest",
  "entities": [
    {
      "name": "BandwidthUsage",
      "created_at": true,
      "updated_at": true,
      "fields": [
        {
          "name": "bandwidth_gb",
          "type": "decimal",
          "precision": 10,
          "scale": 3,
          "default": 0,
          "nullable": false
        },
        {
          "name": "user_id",
          "type": "integer",
          "nullable": false
        },
        {
          "name": "usage_date",
          "type": "date",
          "nullable": false
        }
      ]
    }
  ],
  "relationships": []
}
"""


def one_field(spec: dict[str, Any]) -> Any:
    schema = load(v2([entity("Thing", spec)]))
    f = schema.entities["Thing"].field(spec["name"])
    assert f is not None
    return f


class TestFields:
    def test_decimal_example(self) -> None:
        usage = load(DECIMAL_EXAMPLE).entities["BandwidthUsage"]
        gb, user_id, usage_date = usage.field("bandwidth_gb"), usage.field("user_id"), usage.field("usage_date")
        assert gb is not None and user_id is not None and usage_date is not None
        assert (gb.type, gb.precision, gb.scale, gb.default, gb.has_default, gb.required, gb.nullable) == (
            FieldType.DECIMAL, 10, 3, Decimal("0"), True, False, False,
        )  # fmt: skip
        assert (user_id.type, user_id.required, user_id.references) == (FieldType.INTEGER, True, None)
        assert (usage_date.type, usage_date.required) == (FieldType.DATE, True)
        assert usage.table == "bandwidth_usage" and usage.route == "BandwidthUsages"

    def test_decimal_defaults_and_digits(self) -> None:
        f = one_field({"name": "amount", "type": "numeric", "default": 12345678.91})
        assert (f.type, f.precision, f.scale, f.default) == (FieldType.DECIMAL, 10, 2, Decimal("12345678.91"))
        # Written as text: a Python float could not carry these digits into the file in the first place.
        text = (
            '{"version": 2, "entities": [{"name": "T", "fields": [{"name": "big", "type": "decimal", "precision": 30, '
        )
        text += '"scale": 2, "default": 12345678901234567.89}]}]}'
        big = load(text).entities["T"].field("big")
        assert big is not None and big.default == Decimal("12345678901234567.89")  # a float says ...68
        exact = one_field({"name": "ratio", "type": "decimal", "precision": 5, "scale": 0})
        assert exact.scale == 0  # Apso's template turns 0 into 2; zero means zero here
        money = one_field({"name": "price", "type": "money"})
        assert (money.type, money.precision, money.scale) == (FieldType.DECIMAL, 19, 2)

    @pytest.mark.parametrize(
        ("spec", "message"),
        [
            ({"precision": 0}, "'precision' of field 'n' must be between 1 and 131072"),
            ({"precision": 200_000}, "'precision' of field 'n' must be between 1 and 131072"),
            ({"precision": 5000}, f"'precision' of field 'n' is 5000; Tenantry supports at most {MAX_PRECISION}"),
            ({"scale": -1}, "'scale' of field 'n' must be between 0 and 16383"),
            ({"precision": 4, "scale": 6}, "'scale' (6) of field 'n' cannot be greater than its precision (4)"),
            (
                {"precision": 1},
                "'scale' (2) of field 'n' cannot be greater than its precision (1) (scale defaults to 2)",
            ),
            ({"precision": "10"}, "'precision' of field 'n' must be a whole number"),
        ],
    )
    def test_decimal_checks(self, spec: dict[str, Any], message: str) -> None:
        assert problems(v2([entity("Thing", {"name": "n", "type": "decimal", **spec})])) == [f"app.apsorc:2: {message}"]

    def test_types(self) -> None:
        cases = {
            "text": FieldType.TEXT, "string": FieldType.STRING, "varchar": FieldType.STRING, "char": FieldType.STRING,
            "integer": FieldType.INTEGER, "int": FieldType.INTEGER, "smallint": FieldType.INTEGER,
            "bigint": FieldType.BIGINT, "float": FieldType.FLOAT, "real": FieldType.FLOAT, "double": FieldType.FLOAT,
            "boolean": FieldType.BOOLEAN, "timestamptz": FieldType.TIMESTAMP, "timestamp": FieldType.TIMESTAMP,
            "datetime": FieldType.TIMESTAMP, "date": FieldType.DATE, "json": FieldType.JSON,
            "jsonb": FieldType.JSON, "json-plain": FieldType.JSON, "uuid": FieldType.UUID,
        }  # fmt: skip
        fields = [{"name": f"f{i}", "type": t, "nullable": True} for i, t in enumerate(cases)]
        schema = load(v2([entity("Thing", *fields)]))
        got = {t: schema.entities["Thing"].fields[i].type for i, t in enumerate(cases)}
        assert got == cases

    @pytest.mark.parametrize("type_name", ["bytea", "interval", "serial", "time"])
    def test_unsupported_types(self, type_name: str) -> None:
        assert problems(v2([entity("Thing", {"name": "x", "type": type_name})])) == [
            f"app.apsorc:2: field 'x': type '{type_name}' is not supported yet"
        ]

    def test_array_fields(self) -> None:
        fields = [
            {"name": "a", "type": "array"},
            {"name": "b", "type": "array", "elementType": "integer"},
            {"name": "c", "type": "varchar[]"},
            {"name": "d", "type": "float[]"},
            {"name": "e", "type": "array", "elementType": "boolean"},
        ]
        schema = load(v2([entity("Thing", *fields)]))
        got = {f.name: (f.type, f.element) for f in schema.entities["Thing"].fields}
        assert got == {
            "a": (FieldType.JSON, FieldType.TEXT),  # Apso's default element type is text
            "b": (FieldType.JSON, FieldType.INTEGER),
            "c": (FieldType.JSON, FieldType.TEXT),
            "d": (FieldType.JSON, FieldType.FLOAT),
            "e": (FieldType.JSON, FieldType.BOOLEAN),
        }

    def test_array_and_spatial_problems(self) -> None:
        fields = [
            {"name": "a", "type": "array", "elementType": "json"},
            {"name": "b", "type": "date[]"},
            {"name": "c", "type": "text", "elementType": "text"},
        ]
        assert problems(v2([entity("Thing", *fields)])) == [
            "app.apsorc:2: field 'a': arrays of 'json' are not supported (element types: text, varchar, integer, "
            "float, boolean)",
            "app.apsorc:2: field 'b': arrays of 'date' are not supported (element types: text, varchar, integer, "
            "float, boolean)",
            "app.apsorc:2: 'elementType' applies to array fields, not to field 'c'",
        ]

    @pytest.mark.parametrize("type_name", ["geometry", "geography", "point", "polygon", "multilinestring"])
    def test_spatial_fields_load_and_wait_for_the_database(self, type_name: str) -> None:
        f = one_field({"name": "where", "type": type_name})
        assert (f.type, f.spatial) == (FieldType.JSON, type_name)

    def test_nullable_and_required(self) -> None:
        plain = one_field({"name": "a", "type": "text"})
        assert (plain.required, plain.nullable) == (True, False)
        assert one_field({"name": "a", "type": "text", "nullable": "true"}).nullable is True
        written_false = one_field({"name": "a", "type": "text", "nullable": "false"})
        assert (written_false.nullable, written_false.required) == (False, True)
        nullable = one_field({"name": "a", "type": "integer", "nullable": True})
        assert (nullable.required, nullable.nullable) == (False, True)
        defaulted = one_field({"name": "a", "type": "integer", "default": 3})
        assert (defaulted.required, defaulted.nullable, defaulted.default) == (False, False, 3)

    def test_boolean_defaults(self) -> None:
        implicit = one_field({"name": "on", "type": "boolean"})
        assert (implicit.default, implicit.has_default, implicit.required) == (False, True, False)
        # Apso renders `Boolean("false")`, i.e. true; the file plainly means false.
        assert one_field({"name": "on", "type": "boolean", "default": "false"}).default is False
        assert one_field({"name": "on", "type": "boolean", "default": "true"}).default is True
        assert one_field({"name": "on", "type": "boolean", "default": True}).default is True
        assert one_field({"name": "on", "type": "boolean", "default": None}).default is False

    def test_enum_defaults(self) -> None:
        first = one_field({"name": "s", "type": "enum", "values": ["a", "b"]})
        assert (first.default, first.has_default, first.required) == ("a", True, False)
        none = one_field({"name": "s", "type": "enum", "values": ["a", "b"], "default": None})
        assert (none.default, none.has_default, none.required) == (None, False, True)
        assert one_field({"name": "s", "type": "enum", "values": ["a", "b"], "default": "b"}).default == "b"

    def test_other_defaults(self) -> None:
        assert one_field({"name": "t", "type": "text", "default": True}).default == "true"
        assert one_field({"name": "t", "type": "timestamptz", "default": "now()"}).default == "now"
        assert one_field({"name": "d", "type": "date", "default": "2024-01-31"}).default == dt.date(2024, 1, 31)
        assert one_field({"name": "j", "type": "json", "default": {"a": [1]}}).default == {"a": [1]}

    def test_length_email_unique_index(self) -> None:
        f = one_field({"name": "code", "type": "varchar", "length": "64", "unique": True, "index": True})
        assert (f.type, f.length, f.unique, f.index) == (FieldType.STRING, 64, True, True)
        email = one_field({"name": "email", "type": "text", "is_email": True})
        assert (email.email, email.length) == (True, None)

    def test_field_names_stay_verbatim(self) -> None:
        schema = load(
            v2([entity("Thing", {"name": "createdByUser", "type": "text"}, {"name": "snake_name", "type": "text"})])
        )
        assert schema.entities["Thing"].field_names == ("createdByUser", "snake_name")

    @pytest.mark.parametrize(
        ("spec", "message"),
        [
            ({"type": "txt"}, "field 'x': unknown type 'txt' (did you mean 'text'?)"),
            ({"type": "enum"}, 'enum field \'x\' needs \'values\', e.g. "values": ["Active", "Inactive"]'),
            ({"type": "enum", "values": []}, "enum field 'x' has an empty 'values' list"),
            ({"type": "enum", "values": ["a", "a"]}, "enum field 'x' repeats a"),
            ({"type": "enum", "values": ["a", 1]}, "'values' of field 'x' must list non-empty strings"),
            (
                {"type": "enum", "values": ["a"], "default": "b"},
                "field 'x': default 'b' is not one of the enum values (a)",
            ),
            ({"type": "text", "values": ["a"]}, "'values' applies to enum fields, not to field 'x' (text)"),
            ({"type": "integer", "default": "many"}, "field 'x': default 'many' is not a valid integer"),
            ({"type": "boolean", "default": "maybe"}, "field 'x': default 'maybe' is not a valid boolean"),
            ({"type": "integer", "default": [1]}, "the default of field 'x' must be a single value"),
            ({"type": "integer", "length": 5}, "'length' applies to text and string fields, not to field 'x'"),
            ({"type": "text", "length": 0}, "'length' of field 'x' must be a whole number between 1 and 10485760"),
            (
                {"type": "integer", "precision": 5},
                "'precision' applies to decimal and numeric fields, not to field 'x'",
            ),
            ({"type": "integer", "is_email": True}, "'is_email' applies to text fields, not to field 'x' (integer)"),
            ({"type": "text", "nullable": "yes"}, "'nullable' of field 'x' must be true or false"),
            ({"type": "text", "unique": "true"}, "'unique' of field 'x' must be true or false"),
            ({"type": "text", "nulable": True}, "unknown key 'nulable' in field 'x' (did you mean 'nullable'?)"),
            (
                {"type": "integer", "primary": True},
                "field 'x': custom primary keys are not supported; every entity has an implicit 'id' "
                "(choose its type with the entity's 'primaryKeyType')",
            ),
        ],
    )
    def test_field_problems(self, spec: dict[str, Any], message: str) -> None:
        assert problems(v2([entity("Thing", {"name": "x", **spec})])) == [f"app.apsorc:2: {message}"]

    def test_field_needs_name_and_type(self) -> None:
        assert problems(v2([entity("Thing", {"type": "text"}, {"name": "y"}, "z")])) == [
            "app.apsorc:2: a field of 'Thing' needs a 'name'",
            "app.apsorc:2: field 'y' needs a 'type'",
            "app.apsorc:2: each field of 'Thing' is an object with 'name' and 'type'",
        ]


# ---------------------------------------------------------------------------------------------
# Entities
# ---------------------------------------------------------------------------------------------


class TestEntities:
    def test_primary_key_types_set_foreign_key_types(self) -> None:
        schema = load(
            v2(
                [
                    entity("Org", primaryKeyType="uuid"),
                    entity("Tag", primaryKeyType="text"),
                    entity("Counter"),
                    entity("Item"),
                ],
                [
                    {"from": "Item", "to": "Org", "type": "ManyToOne"},
                    {"from": "Item", "to": "Tag", "type": "ManyToOne"},
                    {"from": "Item", "to": "Counter", "type": "ManyToOne"},
                ],
            )
        )
        assert [schema.entities[n].id_type for n in ("Org", "Tag", "Counter")] == ["uuid", "text", "serial"]
        item = schema.entities["Item"]
        assert [(f.name, f.type, f.length) for f in item.fields] == [
            ("orgId", FieldType.UUID, None),
            ("tagId", FieldType.STRING, 64),
            ("counterId", FieldType.INTEGER, None),
        ]

    def test_table_override_indexes_and_uniques(self) -> None:
        schema = load(
            v2(
                [
                    entity(
                        "Order",
                        {"name": "number", "type": "text"},
                        {"name": "placedAt", "type": "timestamptz"},
                        table="orders",
                        indexes=[{"fields": ["placedAt"]}],
                        uniques=[{"name": "order_number", "fields": ["number"]}, {"fields": ["number", "placedAt"]}],
                    )
                ]
            )
        )
        order = schema.entities["Order"]
        assert (order.table, order.route) == ("orders", "Orders")
        assert [(i.fields, i.unique, i.name) for i in order.indexes] == [
            (("placedAt",), False, None),
            (("number",), True, "order_number"),
            (("number", "placedAt"), True, None),
        ]
        assert all(isinstance(i, Index) and i.location is not None and i.location.line == 2 for i in order.indexes)

    def test_index_problems(self) -> None:
        assert problems(
            v2(
                [
                    entity(
                        "Thing",
                        {"name": "a", "type": "text"},
                        indexes=[{"fields": ["b"]}, {"fields": []}, {"columns": ["a"]}],
                    )
                ]
            )
        ) == [
            "app.apsorc:2: unknown key 'columns' in an entry of 'indexes' (known keys: fields, unique)",
            "app.apsorc:2: 'fields' of an entry of 'indexes' is missing",
            "app.apsorc:2: index on 'Thing' names unknown field 'b'",
        ]

    def test_scope_by(self) -> None:
        schema = load(
            v2(
                [
                    entity("Organization"),
                    entity("Project", {"name": "orgCode", "type": "text"}, scopeBy="orgCode"),
                    entity("Task", scopeBy=["organizationId"], scopeOptions={"injectOnCreate": False}),
                    entity("Step", scopeBy="task.organizationId", scopeOptions={"enforceOn": ["find", "get"]}),
                ],
                [
                    {"from": "Organization", "to": "Task", "type": "OneToMany"},
                    {"from": "Task", "to": "Step", "type": "OneToMany"},
                ],
            )
        )
        assert schema.entities["Project"].tenant_field == "orgCode"
        assert schema.entities["Project"].inject_tenant is True
        task = schema.entities["Task"]
        assert (task.tenant_field, task.inject_tenant) == ("organizationId", False)
        step = schema.entities["Step"]
        assert (step.tenant_field, step.tenant_via, step.tenant_scoped) == (None, "task", True)

    def test_scope_by_problems(self) -> None:
        assert problems(
            v2(
                [
                    entity("Task", {"name": "a", "type": "text"}, scopeBy="project.organizationId"),
                    entity("Note", {"name": "a", "type": "text"}, scopeBy=["a", "b"]),
                    entity("Memo", {"name": "a", "type": "text"}, scopeBy="orgId"),
                    entity("Page", scopeBy=7),
                ]
            )
        ) == [
            "app.apsorc:2: scope path 'project.organizationId' of 'Task': 'project' is not a to-one relation of 'Task'",
            "app.apsorc:3: 'scopeBy' of 'Note' lists 2 fields; scoping by more than one field is not supported yet",
            "app.apsorc:4: tenant field 'orgId' is not a field of 'Memo'",
            "app.apsorc:5: 'scopeBy' of 'Page' must be a field name or a list of field names",
        ]

    def test_nested_scope_and_scope_option_problems(self) -> None:
        assert problems(
            v2(
                [
                    entity("Organization"),
                    entity("Project", {"name": "a", "type": "text"}),
                    entity("Task", {"name": "a", "type": "text"}, scopeBy="project.organizationId"),
                    entity("Loose", {"name": "a", "type": "text"}, scopeBy="task.organizationId"),
                    entity("Deep", {"name": "a", "type": "text"}, scopeBy="a.b.c"),
                    entity(
                        "Opts",
                        scopeBy="organizationId",
                        scopeOptions={"enforceOn": ["find", "list"], "x": 1},
                    ),
                ],
                [
                    {"from": "Organization", "to": "Project", "type": "OneToMany", "nullable": True},
                    {"from": "Project", "to": "Task", "type": "OneToMany"},
                    {"from": "Task", "to": "Loose", "type": "OneToMany", "nullable": True},
                    {"from": "Organization", "to": "Opts", "type": "OneToMany"},
                ],
            )
        ) == [
            # Task is fine: Project is scoped by its reference to Organization, found without a scopeBy.
            "app.apsorc:5: scope path 'task.organizationId' of 'Loose': 'Task' must itself be scoped by its own "
            "field 'organizationId' (scopeBy: \"organizationId\")",
            "app.apsorc:6: scope path 'a.b.c' of 'Deep': scope by a field of its own ('organizationId') or of a "
            "parent it belongs to ('task.organizationId')",
            "app.apsorc:7: unknown key 'x' in 'scopeOptions' of 'Opts' (known keys: bypassRoles, enforceOn, "
            "injectOnCreate)",
            "app.apsorc:7: 'enforceOn' of 'scopeOptions' of 'Opts': unknown operation 'list' (one of: find, get, "
            "create, update, delete)",
        ]

    def test_bypass_roles(self) -> None:
        """``bypassRoles`` with the operations ``enforceOn`` names (all of them when absent)."""
        schema = load_schema_text(
            v2(
                [
                    entity("Organization"),
                    entity("Every", scopeBy="organizationId", scopeOptions={"bypassRoles": ["admin", "support"]}),
                    entity(
                        "Reads",
                        scopeBy="organizationId",
                        scopeOptions={"enforceOn": ["find", "get", "delete"], "bypassRoles": ["admin", "admin"]},
                    ),
                    entity("Writes", scopeBy="organizationId", scopeOptions={"enforceOn": ["create", "update"]}),
                    entity("Plain", scopeBy="organizationId"),
                ],
                [
                    {"from": "Organization", "to": name, "type": "OneToMany"}
                    for name in ("Every", "Reads", "Writes", "Plain")
                ],
            ),
            "app.apsorc",
        )
        every, reads = schema.entities["Every"], schema.entities["Reads"]
        assert (every.bypass_roles, every.bypass_actions) == (("admin", "support"), frozenset(Action))
        assert (reads.bypass_roles, reads.bypass_actions) == (("admin",), frozenset({Action.READ, Action.DELETE}))
        for name in ("Writes", "Plain"):
            assert (schema.entities[name].bypass_roles, schema.entities[name].bypass_actions) == ((), frozenset())
        # The stored platform role, several joined by commas as Better Auth keeps them.
        assert every.bypasses("user,support", Action.UPDATE) and every.bypasses("admin", Action.READ)
        assert not every.bypasses("user", Action.READ) and not every.bypasses(None, Action.READ)
        assert not every.bypasses("superadmin", Action.READ) and not every.bypasses("admins", Action.READ)
        assert reads.bypasses("admin", Action.DELETE) and not reads.bypasses("admin", Action.UPDATE)

    def test_bypass_role_problems(self) -> None:
        def opts(**options: Any) -> dict[str, Any]:
            return entity("Opts", scopeBy="organizationId", scopeOptions=options)

        def check(options: dict[str, Any]) -> list[str]:
            return problems(
                v2(
                    [entity("Organization"), opts(**options)],
                    [{"from": "Organization", "to": "Opts", "type": "OneToMany"}],
                )
            )

        assert check({"bypassRoles": ["admin", "super admin", "x'y"]}) == [
            "app.apsorc:3: 'bypassRoles' of 'scopeOptions' of 'Opts': 'super admin', \"x'y\" is not a role name "
            "(letters, digits, '_' and '-')"
        ]
        assert check({"bypassRoles": "admin"}) == [
            "app.apsorc:3: 'bypassRoles' of 'scopeOptions' of 'Opts' must be a list"
        ]
        system = v2(
            [
                entity("Organization"),
                entity(
                    "User",
                    {"name": "email", "type": "text"},
                    scopeBy="organizationId",
                    scopeOptions={"bypassRoles": ["admin"]},
                ),
            ],
            [{"from": "Organization", "to": "User", "type": "OneToMany"}],
        )
        assert problems(system) == [
            "app.apsorc:3: 'User' is a system entity: bypass roles apply to the organizations' own data only"
        ]
        assert check({"bypassRoles": ["admin"], "enforceOn": ["find", "update"]}) == [
            "app.apsorc:3: 'enforceOn' of 'scopeOptions' of 'Opts': with 'bypassRoles', list 'find' and 'get' "
            "together or neither (Tenantry grants reading rows as one permission)"
        ]

    def test_nested_scope_needs_a_required_parent(self) -> None:
        assert problems(
            v2(
                [
                    entity("Organization"),
                    entity("Project", scopeBy="organizationId"),
                    entity("Task", {"name": "a", "type": "text"}, scopeBy="project.organizationId"),
                ],
                [
                    {"from": "Organization", "to": "Project", "type": "OneToMany"},
                    {"from": "Project", "to": "Task", "type": "OneToMany", "nullable": True},
                ],
            )
        ) == [
            "app.apsorc:4: scope path 'project.organizationId' of 'Task': the relationship to 'Project' must not "
            "be nullable (a row without a parent would belong to no organization)"
        ]

    def test_ignored_keys(self) -> None:
        schema = load(
            v2(
                [
                    entity(
                        "Thing",
                        {"name": "a", "type": "text"},
                        emitEvents=True,
                        http=False,
                        scopeOptions={"injectOnCreate": False},
                    )
                ]
            )
        )
        assert schema.entities["Thing"].field_names == ("a",)

    def test_entity_problems(self) -> None:
        assert problems(
            v2(
                [
                    entity("Thing", primaryKeyType="bigint"),
                    {"fields": []},
                    entity("Other", tabel="x"),
                    entity("Bad Name"),
                    entity("Odd", table="odd table"),
                    entity("Stamp", {"name": "x", "type": "text"}, created_at="yes"),
                    entity("Thing"),
                ]
            )
        ) == [
            "app.apsorc:2: 'primaryKeyType' of entity 'Thing' must be serial, uuid or text",
            "app.apsorc:3: an entity needs a 'name'",
            "app.apsorc:4: unknown key 'tabel' in entity 'Other' (did you mean 'table'?)",
            "app.apsorc:5: entity name 'Bad Name' must be letters, digits and '_' (max 63)",
            "app.apsorc:6: 'table' of entity 'Odd' must be letters, digits and '_' (max 63)",
            "app.apsorc:7: 'created_at' of entity 'Stamp' must be true or false",
            "app.apsorc:8: duplicate entity 'Thing' (first defined at line 2)",
        ]

    def test_declared_timestamp_is_merged_with_the_flag(self) -> None:
        schema = load(v2([entity("Thing", {"name": "created_at", "type": "timestamptz"}, created_at=True)]))
        (created,) = schema.entities["Thing"].fields
        assert (created.name, created.auto) == ("created_at", "create")


# ---------------------------------------------------------------------------------------------
# Relationships
# ---------------------------------------------------------------------------------------------


class TestRelationships:
    def test_one_to_many_to_name_names_the_collection(self) -> None:
        schema = load(
            v2(
                [entity("Team"), entity("User")],
                [{"from": "Team", "to": "User", "type": "OneToMany", "to_name": "members", "cascadeDelete": True}],
            )
        )
        # The key is named after the "one" side; `to_name` names Team's collection (already plural: kept).
        assert fks(schema, "User") == {"teamId": ("Team", False, "team", "members")}
        team_id = schema.entities["User"].field("teamId")
        assert team_id is not None and team_id.on_delete == "cascade"
        assert [r.name for r in schema.entities["Team"].relations] == ["members"]

    def test_many_to_one_options(self) -> None:
        schema = load(
            v2(
                [entity("User"), entity("Post")],
                [
                    {"from": "Post", "to": "User", "type": "ManyToOne", "to_name": "author", "index": True},
                    {"from": "Post", "to": "User", "type": "ManyToOne", "to_name": "editor", "bi_directional": False,
                     "nullable": True},
                ],
            )
        )  # fmt: skip
        assert fks(schema, "Post") == {
            "authorId": ("User", False, "author", "posts"),
            "editorId": ("User", True, "editor", ""),
        }
        author = schema.entities["Post"].field("authorId")
        assert author is not None and (author.index, author.required) == (True, True)
        assert [r.name for r in schema.entities["User"].relations] == ["posts"]

    def test_self_referencing_one_to_many_keeps_its_collection(self) -> None:
        schema = load(
            v2(
                [entity("Category")],
                [{"from": "Category", "to": "Category", "type": "OneToMany", "to_name": "children", "nullable": True}],
            )
        )
        assert fks(schema, "Category") == {"categoryId": ("Category", True, "category", "children")}
        assert [(r.name, r.kind) for r in schema.entities["Category"].relations] == [
            ("category", "one"),
            ("children", "many"),
        ]

    def test_one_to_many_can_be_made_one_way(self) -> None:
        schema = load(
            v2([entity("A"), entity("B")], [{"from": "A", "to": "B", "type": "OneToMany", "bi_directional": False}])
        )
        assert fks(schema, "B") == {"aId": ("A", False, "a", "")}

    def test_one_to_one(self) -> None:
        schema = load(
            v2(
                [entity("User"), entity("Profile"), entity("Avatar")],
                [
                    {"from": "Profile", "to": "User", "type": "OneToOne"},
                    {"from": "Avatar", "to": "User", "type": "OneToOne", "bi_directional": True, "nullable": True},
                ],
            )
        )
        assert fks(schema, "Profile") == {"userId": ("User", False, "user", "")}
        assert fks(schema, "Avatar") == {"userId": ("User", True, "user", "avatar")}
        user_id = schema.entities["Profile"].field("userId")
        assert user_id is not None and user_id.unique

    def test_one_to_one_declared_from_both_sides(self) -> None:
        schema = load(
            v2(
                [entity("User"), entity("Profile")],
                [
                    {"from": "User", "to": "Profile", "type": "OneToOne", "bi_directional": True, "to_name": "bio"},
                    {"from": "Profile", "to": "User", "type": "OneToOne", "bi_directional": True},
                ],
            )
        )
        # Apso's rule: the side without `to_name` holds the key; the other side's `to_name` names the way back.
        assert fks(schema, "Profile") == {"userId": ("User", False, "user", "bio")}
        assert fks(schema, "User") == {}

    def test_mirrored_declarations_make_one_key(self) -> None:
        schema = load(
            v2(
                [entity("Workspace"), entity("Project")],
                [
                    {"from": "Project", "to": "Workspace", "type": "ManyToOne"},
                    {"from": "Workspace", "to": "Project", "type": "OneToMany", "to_name": "boards", "index": True},
                ],
            )
        )
        assert fks(schema, "Project") == {"workspaceId": ("Workspace", False, "workspace", "boards")}
        workspace_id = schema.entities["Project"].field("workspaceId")
        assert workspace_id is not None and workspace_id.index

    def test_relationship_problems(self) -> None:
        assert problems(
            v2(
                [entity("User", {"name": "teamId", "type": "integer"}), entity("Team"), entity("Post")],
                [
                    {"from": "Usr", "to": "Team", "type": "OneToMany"},
                    {"from": "Team", "to": "Pots", "type": "ManyToOne"},
                    {
                        "from": "Post",
                        "to": "User",
                        "type": "ManyToMany",
                        "joinColumnName": "x",
                        "inverseJoinColumnName": "x",
                    },
                    {"from": "Team", "to": "User", "type": "OneToMany"},
                    {"from": "Post", "to": "User", "type": "ManyToOne"},
                    {"from": "Post", "to": "User", "type": "ManyToOne"},
                    {"from": "Post", "to": "Team", "type": "oneToMany"},
                    {"from": "Post", "type": "ManyToOne", "cascade": True},
                    {"from": "Team", "to": "Post", "type": "ManyToOne", "nullable": True},
                    {"from": "Post", "to": "Team", "type": "OneToMany"},
                ],
            )
        ) == [
            "app.apsorc:6: relationship from unknown entity 'Usr' (did you mean 'User'?)",
            "app.apsorc:7: relationship to unknown entity 'Pots' (did you mean 'Post'?)",
            "app.apsorc:8: the join table 'post_users_user' needs two different column names (both are 'x')",
            "app.apsorc:9: the relationship to 'Team' adds the field 'teamId' to 'User', which already declares it "
            "(line 2)",
            "app.apsorc:11: 'Post' gets the foreign key 'userId' twice (first from the relationship at line 10); "
            "give one of them a 'to_name'",
            "app.apsorc:12: unknown relationship type 'oneToMany' (did you mean 'OneToMany'?); "
            "expected OneToMany, ManyToOne, OneToOne, ManyToMany",
            "app.apsorc:13: unknown key 'cascade' in a relationship (did you mean 'cascadeDelete'?)",
            "app.apsorc:13: a relationship needs 'to'",
            "app.apsorc:15: this relationship and the one at line 14 describe the same foreign key 'postId' "
            "but disagree on 'nullable'",
        ]


# ---------------------------------------------------------------------------------------------
# The file as a whole
# ---------------------------------------------------------------------------------------------

BROKEN = """\
{
  "version": 2,
  "entities": [
    { "name": "User", "fields": [
        { "name": "email", "type": "txt" },
        { "name": "location", "type": "tsvector" },
        { "name": "role", "type": "enum" },
        { "name": "active", "type": "boolean", "default": "maybe" },
        { "name": "id", "type": "integer", "primary": true },
        { "name": "price", "type": "decimal", "precision": 4, "scale": 6 },
        { "name": "nick", "type": "text", "nulable": true }
    ] },
    { "name": "Task", "scopeBy": "project.organizationId", "fields": [
        { "name": "title", "type": "text" }
    ] },
    { "name": "Tag", "fields": [] }
  ],
  "relationships": [
    { "from": "Usr", "to": "Task", "type": "OneToMany" },
    { "from": "Task", "to": "Tag", "type": "ManyToMany" },
    { "from": "Task", "to": "User", "type": "ManyToOne" },
    { "from": "Task", "to": "User", "type": "ManyToOne" }
  ]
}
"""


class TestFile:
    def test_every_mistake_at_once(self) -> None:
        assert problems(BROKEN, "broken.apsorc") == [
            "broken.apsorc:5: field 'email': unknown type 'txt' (did you mean 'text'?)",
            "broken.apsorc:6: field 'location': type 'tsvector' is not supported yet",
            'broken.apsorc:7: enum field \'role\' needs \'values\', e.g. "values": ["Active", "Inactive"]',
            "broken.apsorc:8: field 'active': default 'maybe' is not a valid boolean",
            "broken.apsorc:9: field 'id': custom primary keys are not supported; every entity has an implicit 'id' "
            "(choose its type with the entity's 'primaryKeyType')",
            "broken.apsorc:10: 'scale' (6) of field 'price' cannot be greater than its precision (4)",
            "broken.apsorc:11: unknown key 'nulable' in field 'nick' (did you mean 'nullable'?)",
            "broken.apsorc:13: scope path 'project.organizationId' of 'Task': 'project' is not a to-one relation "
            "of 'Task'",
            "broken.apsorc:19: relationship from unknown entity 'Usr' (did you mean 'User'?)",
            "broken.apsorc:22: 'Task' gets the foreign key 'userId' twice (first from the relationship at line 21); "
            "give one of them a 'to_name'",
        ]

    def test_problems_are_structured(self) -> None:
        with pytest.raises(SchemaError) as info:
            load(BROKEN, "broken.apsorc")
        assert len(info.value.problems) == 10
        assert all(p.location is not None and p.location.file == "broken.apsorc" for p in info.value.problems)

    def test_invalid_json_is_one_problem_with_its_line(self) -> None:
        assert problems('{\n  "version": 2\n  "entities": []\n}') == [
            "app.apsorc:2: not valid JSON: expected ',' or '}' after the value of \"version\", found '\"'"
        ]
        assert problems("") == ["app.apsorc:1: not valid JSON: the file is empty"]

    def test_jsonc_is_accepted(self) -> None:
        schema = load("""\
            // Generated by hand
            {
              "version": 2, /* the current format */
              "entities": [
                { "name": "Note", "fields": [ { "name": "body", "type": "text", }, ], },
              ],
              "relationships": [],
            }
            """)
        assert schema.entities["Note"].field_names == ("body",)

    def test_top_level_is_lenient_and_titles(self) -> None:
        text = """\
            {"version": 2, "rootFolder": "src", "apiType": "Rest", "language": "typescript",
             "auth": {"provider": "better-auth"}, "emitEvents": true, "http": true, "coAuthor": false,
             "somethingNew": {"x": 1}, "service": "Billing API",
             "entities": [{"name": "Invoice", "fields": []}]}"""
        assert load(text).title == "Billing API"
        assert load(text.replace('"service"', '"name"')).title == "Billing API"
        assert load(text.replace('"service": "Billing API"', '"service": {"port": 1}')).title == "Apso service"

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("[]", ["app.apsorc:1: an .apsorc file is a JSON object with 'version' and 'entities'"]),
            ('{"version": 2}', ["app.apsorc:1: the file declares no entities: add an 'entities' list"]),
            ('{"version": 2,\n "entities": []}', ["app.apsorc:2: the file declares no entities"]),
            ('{"version": 2,\n "entities": {}}', ["app.apsorc:2: 'entities' must be a list"]),
            (
                '{"version": 3,\n "entities": [{"name": "A"}]}',
                ["app.apsorc:1: 'version' must be 1 or 2"],
            ),
            (
                '{"version": true,\n "entities": [{"name": "A"}]}',
                ["app.apsorc:1: 'version' must be 1 or 2"],
            ),
            (
                '{"version": 2,\n "version": 2,\n "entities": [{"name": "A"}]}',
                ["app.apsorc:2: duplicate key 'version' in the file (first at line 1)"],
            ),
            (
                '{"version": 2,\n "entities": [\n 5]}',
                ["app.apsorc:3: each entity is an object with 'name' and 'fields'"],
            ),
            (
                '{"version": 2,\n "entities": [{"name": "A"}],\n "relationships": [\n "A->B"]}',
                ["app.apsorc:4: each relationship is an object with 'from', 'to' and 'type'"],
            ),
        ],
    )
    def test_file_problems(self, text: str, expected: list[str]) -> None:
        assert problems(text) == expected


class TestManyToMany:
    def test_v2_join_table_as_typeorm_names_it(self) -> None:
        schema = load(
            v2(
                [entity("WorkspaceUser"), entity("Tag")],
                [
                    {"from": "WorkspaceUser", "to": "Tag", "type": "ManyToMany"},
                    {"from": "Tag", "to": "Tag", "type": "ManyToMany", "to_name": "parent", "bi_directional": False},
                ],
            )
        )
        first, second = schema.many_to_many
        assert (first.table, first.owner_column, first.target_column) == (
            "workspace_user_tags_tag",
            "workspaceUserId",
            "tagId",
        )
        assert schema.entities["WorkspaceUser"].relation("tags") is not None
        back = schema.entities["Tag"].relation("workspaceUsers")
        assert back is not None and back.kind == "many" and back.link is not None
        assert (back.link.near, back.link.far) == ("tagId", "workspaceUserId")
        assert (second.table, second.owner_column, second.target_column) == ("tag_parents_tag", "tagId_1", "tagId_2")
        assert second.inverse is None

    def test_v2_join_table_options(self) -> None:
        schema = load(
            v2(
                [entity("Post"), entity("Category")],
                [
                    {
                        "from": "Post",
                        "to": "Category",
                        "type": "ManyToMany",
                        "joinTableName": "post_category",
                        "joinColumnName": "post_id",
                        "inverseJoinColumnName": "category_id",
                    }
                ],
            )
        )
        (m2m,) = schema.many_to_many
        assert (m2m.table, m2m.owner_column, m2m.target_column) == ("post_category", "post_id", "category_id")

    def test_join_options_belong_to_many_to_many(self) -> None:
        assert problems(
            v2([entity("A"), entity("B")], [{"from": "A", "to": "B", "type": "ManyToOne", "joinTableName": "ab"}])
        ) == ["app.apsorc:5: 'joinTableName', 'joinColumnName' and 'inverseJoinColumnName' apply to ManyToMany only"]

    def test_v1_associations_make_one_join_table(self) -> None:
        schema = load("""\
            {"version": 1, "entities": [
              {"name": "Post", "fields": [],
               "associations": [{"name": "Tag", "type": "ManyToMany", "join_table": true}]},
              {"name": "Tag", "fields": [], "associations": [{"name": "Post", "type": "ManyToMany"}]}
            ]}""")
        (m2m,) = schema.many_to_many
        assert (m2m.table, m2m.owner, m2m.name, m2m.inverse) == ("post_tags_tag", "Post", "tags", "posts")
