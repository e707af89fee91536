"""Data exports as a zip of JSON lines files, streamed as they are read: "download my data" (the
account, its memberships, sessions and credentials' metadata, the rows it created in each of its
organizations, and its audit entries) and
"export this organization" (the organization, its members and every row it owns).

Rows are read through the pipeline with the viewer's context, page by page, so an export holds
exactly what the viewer could page through in the lists, and never another organization's rows.
The zip is written with the standard library onto a sink that hands its bytes on after each
row: nothing is held in memory beyond a page of rows, and nothing touches the disk.
"""

from __future__ import annotations

import zipfile
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from tenantry.context import RequestContext
from tenantry.pipeline import Pipeline
from tenantry.querystring import QueryParser
from tenantry.schema import Entity
from tenantry.web.core import Viewer

# A session's token is a secret: an export names sessions by id, address and browser only.
SESSION_FIELDS = ("id", "created_at", "expires_at", "ip_address", "user_agent")
PROFILE_FIELDS = ("name", "image", "emailVerified", "createdAt", "updatedAt")


class _Sink:
    """Where the zip writes: kept until the stream takes it. It cannot tell or seek, so ``zipfile``
    writes each entry's sizes after its data (a data descriptor), as a streamed zip must."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        """Nothing to flush: the stream takes the bytes."""

    def take(self) -> bytes:
        out = b"".join(self.chunks)
        self.chunks.clear()
        return out


def line(value: Any) -> bytes:
    """One JSON line (UUIDs, decimals and database types as text)."""
    return orjson.dumps(value, default=str) + b"\n"


class ZipStream:
    """A zip written entry by entry; ``take()`` gives the bytes written since the last call."""

    def __init__(self) -> None:
        self.sink = _Sink()
        self.zip = zipfile.ZipFile(self.sink, "w", compression=zipfile.ZIP_DEFLATED)  # type: ignore[call-overload]

    def add(self, name: str, data: bytes) -> bytes:
        self.zip.writestr(name, data)
        return self.sink.take()

    async def add_lines(self, name: str, rows: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
        """An entry of JSON lines from ``rows``, handed on as it is written."""
        with self.zip.open(name, "w") as entry:
            async for row in rows:
                entry.write(line(row))
                chunk = self.sink.take()
                if chunk:
                    yield chunk
        yield self.sink.take()

    def close(self) -> bytes:
        self.zip.close()
        return self.sink.take()


async def _listed(items: Iterable[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for item in items:
        yield item


class Exporter:
    """The rows an export holds, read through the pipeline."""

    def __init__(self, pipeline: Pipeline, parser: QueryParser) -> None:
        self.pipeline = pipeline
        self.parser = parser

    async def rows(
        self, viewer: Viewer, entity: Entity, search: str | None = None, ctx: RequestContext | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every row of ``entity`` the viewer may read (matching ``search``), a page at a time;
        ``ctx`` reads as the viewer in another of their organizations."""
        size = self.pipeline.max_limit
        page_no = 1
        while True:
            params = [("limit", str(size)), ("page", str(page_no)), ("sort", "id,ASC")]
            if search is not None:
                params.append(("s", search))
            page = await self.pipeline.list_rows(ctx or viewer.ctx, entity, self.parser.parse_list(entity, params))
            for row in page.data:
                yield row
            if len(page.data) < size or page_no >= page.page_count:
                return
            page_no += 1

    async def organization(
        self, viewer: Viewer, org: dict[str, Any], members: list[dict[str, Any]], entities: list[Entity]
    ) -> AsyncIterator[bytes]:
        """The active organization: itself, its members, and every entity of ``entities`` (those the
        viewer may read: checked before the first byte, since a stream cannot turn into an error) it owns."""
        out = ZipStream()
        files: list[str] = ["organization.json", "members.jsonl"]
        yield out.add("organization.json", orjson.dumps(org, default=str, option=orjson.OPT_INDENT_2))
        async for chunk in out.add_lines("members.jsonl", _listed(members)):
            yield chunk
        for entity in entities:
            if not entity.tenant_field or entity.system == "organizations":
                continue
            files.append(f"{entity.route}.jsonl")
            async for chunk in out.add_lines(f"{entity.route}.jsonl", self.rows(viewer, entity)):
                yield chunk
        manifest = {"organization": org.get("name"), "id": org.get("id"), "files": files}
        yield out.add("manifest.json", orjson.dumps(manifest, default=str, option=orjson.OPT_INDENT_2))
        yield out.close()

    def owned(self, viewer: Viewer, entity: Entity, ctx: RequestContext) -> AsyncIterator[dict[str, Any]]:
        """The rows of ``entity`` whose owner column names the viewer, read as ``ctx``."""
        assert entity.owner_field is not None
        search = orjson.dumps({entity.owner_field: {"$eq": str(viewer.current.user.id)}}).decode()
        return self.rows(viewer, entity, search, ctx)

    async def account(self, viewer: Viewer, parts: list[Part]) -> AsyncIterator[bytes]:
        """The signed-in user: ``profile.json`` (no password, no secret of any kind), then each
        part (memberships, sessions, credentials' metadata, records, audit entries) as JSON lines."""
        out = ZipStream()
        user = viewer.current.user
        profile = {"id": user.id, "email": user.email, **{k: user.core.get(k) for k in PROFILE_FIELDS}}
        yield out.add("profile.json", orjson.dumps(profile, default=str, option=orjson.OPT_INDENT_2))
        for part in parts:
            async for chunk in out.add_lines(part.name, part.rows):
                yield chunk
        yield out.close()


@dataclass(frozen=True)
class Part:
    """One file of a personal export: its name in the zip and its rows, read as it is written."""

    name: str
    rows: AsyncIterator[dict[str, Any]]


def listed(items: Iterable[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    """Rows already in memory as a part's rows."""
    return _listed(items)


def without_tokens(sessions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sessions as an export shows them: a token is a secret."""
    return [{k: s.get(k) for k in SESSION_FIELDS} for s in sessions]
