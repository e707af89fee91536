"""Every field type round-trips with the same JSON on SQLite and PostgreSQL.

Decimals come back as strings with their declared scale, bigints as strings, timestamps in UTC
with milliseconds and ``Z`` (whatever offset they were sent with), dates as ``YYYY-MM-DD``, and
JSON values exactly as sent (objects, arrays, scalars, nesting).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from ._helpers import TIMESTAMP, assert_error, field_codes, get_json, names, post

TYPES_SCHEMA = """
samples:
  - s: string(80) (nullable)
  - t: text (nullable)
  - u: uuid (nullable)
  - i: integer (nullable)
  - b: bigint (nullable)
  - d: decimal(12, 4) (nullable)
  - f: float (nullable)
  - flag: boolean (nullable)
  - ts: timestamp (nullable)
  - day: date (nullable)
  - doc: json (nullable)
  - kind: enum(small, large) (nullable)
"""

FIELDS = ("s", "t", "u", "i", "b", "d", "f", "flag", "ts", "day", "doc", "kind")
U = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"

# (field, value sent, value expected back)
ROUND_TRIPS: list[tuple[str, Any, Any]] = [
    ("s", "héllo wörld ✓ 😀", "héllo wörld ✓ 😀"),
    ("s", "x" * 80, "x" * 80),
    ("s", "", ""),
    ("s", "  padded  ", "  padded  "),
    ("t", "line 1\nline 2\ttab " + "long " * 2000, "line 1\nline 2\ttab " + "long " * 2000),
    ("t", "quotes ' \" and \\ backslash", "quotes ' \" and \\ backslash"),
    ("u", U, U),
    ("u", U.upper(), U),
    ("i", 2147483647, 2147483647),
    ("i", -2147483648, -2147483648),
    ("i", 0, 0),
    ("b", 9223372036854775807, "9223372036854775807"),
    ("b", -9223372036854775808, "-9223372036854775808"),
    ("b", 9007199254740993, "9007199254740993"),
    ("b", "42", "42"),
    ("d", "12.5", "12.5000"),
    ("d", 3, "3.0000"),
    ("d", 0.1, "0.1000"),
    ("d", "-0.0001", "-0.0001"),
    ("d", "12345678.1234", "12345678.1234"),
    ("d", "-99999999.9999", "-99999999.9999"),
    ("d", "0", "0.0000"),
    ("f", 0.1, 0.1),
    ("f", -2.5, -2.5),
    ("f", 1e300, 1e300),
    ("f", 3, 3.0),
    ("flag", True, True),
    ("flag", False, False),
    ("ts", "2026-03-04T05:06:07.891Z", "2026-03-04T05:06:07.891Z"),
    ("ts", "2026-03-04T05:06:07.891+02:00", "2026-03-04T03:06:07.891Z"),
    ("ts", "2026-03-04T01:00:00-05:30", "2026-03-04T06:30:00.000Z"),
    ("ts", "2026-03-04T05:06:07.891999Z", "2026-03-04T05:06:07.891Z"),
    ("ts", "2026-03-04T05:06:07", "2026-03-04T05:06:07.000Z"),
    ("ts", "2026-12-31T23:30:00-01:00", "2027-01-01T00:30:00.000Z"),
    ("ts", "1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000Z"),
    ("day", "2026-02-28", "2026-02-28"),
    ("day", "2024-02-29", "2024-02-29"),
    ("day", "0001-01-01", "0001-01-01"),
    (
        "doc",
        {"a": 1, "b": [1, 2, {"c": None}], "s": "x", "t": True},
        {"a": 1, "b": [1, 2, {"c": None}], "s": "x", "t": True},
    ),
    ("doc", [1, "two", {"three": 3.5}, [], {}], [1, "two", {"three": 3.5}, [], {}]),
    ("doc", {"deep": {"er": {"est": [[[["x"]]]]}}}, {"deep": {"er": {"est": [[[["x"]]]]}}}),
    ("doc", {"unicode": "É😀", "quote": "\"'", "empty": ""}, {"unicode": "É😀", "quote": "\"'", "empty": ""}),
    ("doc", "just a string", "just a string"),
    ("doc", "42", "42"),
    ("doc", 42, 42),
    ("doc", 1.5, 1.5),
    ("doc", True, True),
    ("doc", [], []),
    ("doc", {}, {}),
    ("doc", {"big": 9007199254740993}, {"big": 9007199254740993}),
    ("kind", "large", "large"),
]


async def test_all_types_round_trip_in_one_row(make_client) -> None:
    sent = {
        "s": "Ünïcode",
        "t": "text",
        "u": U,
        "i": 7,
        "b": 9007199254740993,
        "d": "1.5",
        "f": 0.25,
        "flag": True,
        "ts": "2026-11-26T10:42:01.801+01:00",
        "day": "2026-11-26",
        "doc": {"k": ["v", 1, None]},
        "kind": "small",
    }
    expected = {
        **sent,
        "b": "9007199254740993",
        "d": "1.5000",
        "ts": "2026-11-26T09:42:01.801Z",
    }
    async with make_client(TYPES_SCHEMA) as client:
        row = await post(client, "samples", sent)
        assert list(row) == ["id", *FIELDS]
        assert {k: row[k] for k in FIELDS} == expected
        assert await get_json(client, f"/api/samples/{row['id']}") == row
        assert await get_json(client, "/api/samples") == [row]
        # Sending the row back unchanged changes nothing.
        r = await client.put(f"/api/samples/{row['id']}", json=row)
        assert r.status_code == 200, r.text
        assert r.json() == row


async def test_each_value_round_trips(make_client) -> None:
    async with make_client(TYPES_SCHEMA) as client:
        failures = []
        for field, value, expected in ROUND_TRIPS:
            r = await client.post("/api/samples", json={field: value})
            if r.status_code != 201:
                failures.append(f"{field}={value!r}: {r.status_code} {r.text}")
                continue
            row = r.json()
            stored = (await get_json(client, f"/api/samples/{row['id']}"))[field]
            if row[field] != expected or stored != expected:
                failures.append(f"{field}={value!r}: created {row[field]!r}, read {stored!r}, expected {expected!r}")
        assert not failures, "\n".join(failures)


async def test_nulls_round_trip(make_client) -> None:
    async with make_client(TYPES_SCHEMA) as client:
        row = await post(client, "samples", dict.fromkeys(FIELDS))
        assert {k: row[k] for k in FIELDS} == dict.fromkeys(FIELDS)
        empty = await post(client, "samples", {})
        assert {k: empty[k] for k in FIELDS} == dict.fromkeys(FIELDS)
        # A JSON null inside a document is not SQL NULL.
        doc = await post(client, "samples", {"doc": {"a": None}})
        assert doc["doc"] == {"a": None}
        assert await names(client, "samples", {"filter": "doc||$isnull"}, key="id") == {row["id"], empty["id"]}


async def test_updates_round_trip(make_client) -> None:
    async with make_client(TYPES_SCHEMA) as client:
        row = await post(client, "samples", {"ts": "2026-01-01T00:00:00Z", "d": "1", "doc": {"v": 1}})
        url = f"/api/samples/{row['id']}"
        r = await client.patch(
            url, json={"ts": "2026-06-01T12:00:00.123+09:00", "d": 2.25, "doc": ["replaced"], "b": "-7"}
        )
        assert r.status_code == 200, r.text
        updated = r.json()
        assert updated["ts"] == "2026-06-01T03:00:00.123Z"
        assert updated["d"] == "2.2500"
        assert updated["doc"] == ["replaced"]
        assert updated["b"] == "-7"
        assert await get_json(client, url) == updated


async def test_output_values_filter_back(make_client) -> None:
    """What the API returns for a value is accepted as a filter value that finds it."""
    async with make_client(TYPES_SCHEMA) as client:
        row = await post(
            client,
            "samples",
            {
                "s": "Ünïcode",
                "u": U,
                "i": -3,
                "b": 9007199254740993,
                "d": "1.5",
                "f": 0.25,
                "flag": False,
                "ts": "2026-11-26T10:42:01.801+01:00",
                "day": "2026-11-26",
                "kind": "large",
            },
        )
        await post(client, "samples", {"s": "other", "b": 9007199254740992, "ts": "2026-11-26T09:42:01.800Z"})
        for field in ("s", "u", "i", "b", "d", "f", "flag", "ts", "day", "kind"):
            value = row[field]
            text = str(value).lower() if isinstance(value, bool) else str(value)
            found = await names(client, "samples", {"filter": f"{field}||$eq||{text}"}, key="id")
            assert found == {row["id"]}, field
        assert await names(client, "samples", {"filter": f"u||$eq||{U.upper()}"}, key="id") == {row["id"]}
        assert await names(client, "samples", {"filter": "d||$eq||1.50000"}, key="id") == {row["id"]}


async def test_server_timestamps_format(make_client) -> None:
    schema = """
events:
  - name: string
  - on: date (default: now)
  - at: timestamp (default: now)
  - created_at: timestamp (auto)
  - updated_at: timestamp (auto)
"""
    async with make_client(schema) as client:
        row = await post(client, "events", {"name": "x"})
        for key in ("at", "created_at", "updated_at"):
            assert TIMESTAMP.match(row[key]), (key, row[key])
        assert row["on"] == row["created_at"][:10]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("s", "x" * 81),
        ("s", 5),
        ("u", "not-a-uuid"),
        ("i", 2147483648),
        ("i", -2147483649),
        ("i", 1.5),
        ("i", "seven"),
        ("b", 9223372036854775808),
        ("b", -9223372036854775809),
        ("d", "123456789.0"),
        ("d", "1.23456"),
        ("d", "NaN"),
        ("d", "Infinity"),
        ("d", "abc"),
        ("f", "fast"),
        ("flag", "maybe"),
        ("ts", "yesterday"),
        ("ts", "2026-13-01T00:00:00Z"),
        ("ts", "0001-01-01T00:00:00+01:00"),
        ("ts", "9999-12-31T23:59:59-01:00"),
        ("day", "2026-02-30"),
        ("day", "26-02-01"),
        ("kind", "medium"),
        ("kind", "SMALL"),
        ("doc", {"k": "nul\u0000byte"}),
        ("doc", {"nul\u0000key": 1}),
        ("t", "nul\u0000byte"),
        ("s", "nul\u0000byte"),
    ],
)
async def test_invalid_values_are_400(make_client, field: str, value: Any) -> None:
    async with make_client(TYPES_SCHEMA) as client:
        r = await client.post("/api/samples", json={field: value})
        body = assert_error(r, 400, "VALIDATION_FAILED")
        assert list(field_codes(body)) == [field]
        ok = await post(client, "samples", {})
        r = await client.patch(f"/api/samples/{ok['id']}", json={field: value})
        body = assert_error(r, 400, "VALIDATION_FAILED")
        assert list(field_codes(body)) == [field]
        assert await names(client, "samples", {}, key="id") == {ok["id"]}


async def test_ids_and_uuid_fields(make_client) -> None:
    async with make_client(TYPES_SCHEMA) as client:
        given = str(uuid.uuid4())
        row = await post(client, "samples", {"id": given})
        assert row["id"] == given
        assert (await get_json(client, f"/api/samples/{given.upper()}"))["id"] == given
