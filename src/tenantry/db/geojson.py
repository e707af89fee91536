"""GeoJSON geometries (RFC 7946) as PostGIS columns accept them, checked before they reach the database.

A PostGIS column of Apso's type ``point`` takes a ``Point``, ``polygon`` a ``Polygon`` …, and
``geometry``/``geography`` any geometry. The checks are the ones PostGIS would otherwise fail on
with a database error: the shape of ``coordinates`` for the type, two-dimensional positions of
finite numbers, at least two
positions in a line, closed rings of at least four, and longitudes/latitudes in range for
``geography`` (which PostGIS refuses).
"""

from __future__ import annotations

import math
from typing import Any

from tenantry.db.types import SPATIAL_SUBTYPES

# Apso's type name -> the GeoJSON geometry type it holds (None: ``geometry``/``geography``, any).
_EXPECTED = {name: (None if subtype == "Geometry" else subtype) for name, subtype in SPATIAL_SUBTYPES.items()}

GEOMETRY_TYPES = (
    "Point",
    "LineString",
    "Polygon",
    "MultiPoint",
    "MultiLineString",
    "MultiPolygon",
    "GeometryCollection",
)

# Nesting in GeometryCollections (PostGIS accepts any; bounded so a hostile body cannot recurse deeply).
_MAX_DEPTH = 8


def check_geometry(kind: str, value: Any) -> dict[str, Any]:
    """``value`` when it is a GeoJSON geometry a column of Apso's type ``kind`` holds; else ``ValueError``."""
    if not isinstance(value, dict):
        raise ValueError("must be a GeoJSON geometry object")
    expected = _EXPECTED[kind]
    gtype = value.get("type")
    if expected is not None and gtype != expected:
        raise ValueError(f"must be a GeoJSON {expected}, not {_shown(gtype)}")
    _check(value, geographic=kind == "geography", depth=0)
    return value


def _shown(gtype: Any) -> str:
    return repr(gtype) if isinstance(gtype, str) else "an object without a geometry type"


def _check(value: Any, *, geographic: bool, depth: int) -> None:
    if not isinstance(value, dict):
        raise ValueError("must be a GeoJSON geometry object")
    gtype = value.get("type")
    if gtype not in GEOMETRY_TYPES:
        raise ValueError(f"has an unknown GeoJSON geometry type {_shown(gtype)}")
    if gtype == "GeometryCollection":
        members = value.get("geometries")
        if not isinstance(members, list):
            raise ValueError("a GeometryCollection needs a 'geometries' array")
        if depth >= _MAX_DEPTH:
            raise ValueError("nests GeometryCollections too deeply")
        for member in members:
            _check(member, geographic=geographic, depth=depth + 1)
        return
    coords: Any = value.get("coordinates")
    if gtype == "Point":
        _position(coords, geographic)
    elif gtype in ("LineString", "MultiPoint"):
        _positions(coords, geographic, minimum=2 if gtype == "LineString" else 0)
    elif gtype in ("Polygon", "MultiLineString"):
        _list(coords)
        for part in coords:
            if gtype == "Polygon":
                _ring(part, geographic)
            else:
                _positions(part, geographic, minimum=2)
    else:  # MultiPolygon
        _list(coords)
        for polygon in coords:
            _list(polygon)
            for ring in polygon:
                _ring(ring, geographic)


def _list(value: Any) -> None:
    if not isinstance(value, list):
        raise ValueError("has 'coordinates' of the wrong shape for its geometry type")


def _position(value: Any, geographic: bool) -> None:
    # Two numbers: the columns are two-dimensional (PostGIS refuses a Z or M value in them).
    ok = isinstance(value, list) and len(value) == 2
    ok = ok and all(isinstance(n, (int, float)) and not isinstance(n, bool) and math.isfinite(n) for n in value)
    if not ok:
        raise ValueError("has a position that is not [x, y] (longitude, latitude) in finite numbers")
    if geographic and not (-180 <= value[0] <= 180 and -90 <= value[1] <= 90):
        raise ValueError("has a position outside longitude [-180, 180] / latitude [-90, 90]")


def _positions(value: Any, geographic: bool, minimum: int) -> None:
    _list(value)
    if len(value) < minimum:
        raise ValueError(f"has a line of fewer than {minimum} positions")
    for position in value:
        _position(position, geographic)


def _ring(value: Any, geographic: bool) -> None:
    _positions(value, geographic, minimum=4)
    if value[0] != value[-1]:
        raise ValueError("has a polygon ring that is not closed (its last position must repeat the first)")


def geojson_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema (OpenAPI) of the values a column of Apso's type ``kind`` holds."""
    expected = _EXPECTED[kind]
    types = [expected] if expected else list(GEOMETRY_TYPES)
    properties: dict[str, Any] = {"type": {"type": "string", "enum": types}}
    if expected != "GeometryCollection":
        properties["coordinates"] = {"type": "array", "description": "GeoJSON positions, [longitude, latitude]"}
    if expected in (None, "GeometryCollection"):
        properties["geometries"] = {"type": "array", "items": {"type": "object"}}
    return {
        "type": "object",
        "description": f"A GeoJSON geometry (RFC 7946){'' if expected is None else ' of type ' + expected}, SRID 4326",
        "properties": properties,
        "required": ["type"],
    }
