"""The JSON-lines backend: one whole JSON object per line, even with concurrent writers."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import stat
from pathlib import Path

import orjson

from tenantry.mail import JsonLinesBackend
from tests.mail.test_smtp import outgoing

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


async def test_writes_one_object_per_line(tmp_path: Path) -> None:
    path = tmp_path / "out" / "mail.jsonl"
    backend = JsonLinesBackend(path)
    mail = outgoing()
    assert await backend.send(mail) == mail.id
    [line] = path.read_bytes().splitlines()
    data = orjson.loads(line)
    assert set(data) == {"to", "from", "subject", "text", "html", "url", "template", "id", "sent_at"}
    assert data["to"] == mail.to and data["from"] == mail.sender and data["subject"] == mail.subject
    assert data["text"] == mail.text and data["html"] == mail.html
    assert data["url"] == mail.url and data["template"] == "verify_email" and data["id"] == mail.id
    assert TIMESTAMP.match(data["sent_at"])
    # The lines hold sign-in links: only the owner may read them.
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_concurrent_writers_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "mail.jsonl"
    # Two backend objects (as two processes would have) and large bodies, which a torn write would split.
    writers = [JsonLinesBackend(path), JsonLinesBackend(path)]
    mails = [
        dataclasses.replace(outgoing(), id=f"m{i}", html="<p>" + "x" * 100_000 + f"{i}</p>", text="é" * 5000)
        for i in range(60)
    ]
    await asyncio.gather(*(writers[i % 2].send(m) for i, m in enumerate(mails)))
    lines = path.read_bytes().splitlines()
    assert len(lines) == 60
    assert sorted(orjson.loads(line)["id"] for line in lines) == sorted(m.id for m in mails)


async def test_unwritable_path_is_transient(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    backend = JsonLinesBackend(blocker / "mail.jsonl")
    try:
        await backend.send(outgoing())
    except Exception as exc:
        assert type(exc).__name__ == "TransientMailError"
    else:
        raise AssertionError("expected a TransientMailError")
