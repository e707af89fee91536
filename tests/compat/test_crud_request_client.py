"""nestjsx's own request builder (``@nestjsx/crud-request``, as Apso's SDK uses it) against the blog of
``tests/api/fixtures/blog.apsorc``: its routes' @Crud() options, many-to-many joins and relation paths of any
depth answer as documented (docs/crud-options.md)."""

from __future__ import annotations

from tests.api.test_crud_options import blog
from tests.compat.live import require_node, run_node_suite
from tests.conftest import PrepareDatabase
from tests.live_server import live_server


def test_crud_request_builder(prepare_database: PrepareDatabase) -> None:
    require_node("@nestjsx/crud-request")
    # The blog has no sign-in: the open API of development.
    with live_server(prepare_database, schema=blog(), parts={"open_api": True}) as base:
        run_node_suite("crud-request.test.mjs", base, passes=6)
