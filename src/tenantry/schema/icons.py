"""The icons a schema may give its entities (``display: {icon: folder}``) and the web app draws.

The drawings (``icons.json``: name -> the inner elements of a 24x24 stroked SVG) are Lucide's,
from the npm package lucide-static 1.87.0 (ISC licence, Copyright (c) 2026 Lucide Icons and
Contributors). They live beside the schema because the schema checks an icon's name when it is
loaded, so a typo is a FILE:LINE error rather than a blank space in the menu.
"""

from __future__ import annotations

import json
from pathlib import Path

ICONS: dict[str, str] = json.loads((Path(__file__).parent / "icons.json").read_text(encoding="utf-8"))
