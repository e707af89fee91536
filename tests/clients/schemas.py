"""The schemas the typed clients are generated for: the seed's, and the seed's with entities that
use every field type, relations in both directions, enums, soft deletion and a list that always
paginates (the one the clients are driven against a live server with)."""

from __future__ import annotations

from tenantry.schema import Schema
from tests.conftest import SEED_SCHEMA_PATH, schema_from_text

EXTRA_ENTITIES = """
widgets:
  fields:
    - name: string (required, unique)
    - notes: text (nullable)
    - ref: uuid (nullable)
    - count: integer (default: 0)
    - big: bigint (nullable)
    - price: decimal(12, 4) (nullable)
    - ratio: float (nullable)
    - active: boolean (default: true)
    - starts_at: timestamp (nullable)
    - day: date (nullable)
    - meta: json (nullable)
    - size: enum(small, medium, large) (default: small)
    - serial_no: string (immutable, nullable)
    - org_id: uuid (references organizations, required)
    - created_by: uuid (references users)
    - created_at: timestamp (auto)
    - updated_at: timestamp (auto)

parts:
  - label: string (required)
  - widget_id: uuid (references widgets, required)
  - org_id: uuid (references organizations, required)

events:
  fields:
    - title: string (required)
    - org_id: uuid (references organizations, required)
  soft_delete: true
  paginate: always
"""


def typed_schema() -> Schema:
    """The seed's schema with the entities above (loaded once)."""
    return schema_from_text(SEED_SCHEMA_PATH.read_text(encoding="utf-8") + EXTRA_ENTITIES)
