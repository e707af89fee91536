"""The facet of a capability that has pages in the web app.

A capability implements ``PageProvider`` beside ``Capability`` (an authentication plugin: both)
to serve its pages with the app's frame, sign-in and toasts (``pages(web)``), from templates in
its own folder (``templates``, found after the web app's own, so they may extend ``base.html``),
with static files served at ``/static/<name>/``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from tenantry.web.core import Web


class PageProvider:
    """Pages, templates and static files of a capability."""

    name: ClassVar[str]
    templates: ClassVar[Path | None] = None
    static: ClassVar[Path | None] = None

    def pages(self, web: Web) -> Sequence[BaseRoute]:
        """The capability's page routes (they may add to ``login_parts`` and ``account_sections``)."""
        return ()
