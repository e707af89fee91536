"""The generated TypeScript client: it compiles with ``tsc --strict`` for the seed's schema and the
typed one, usages it must refuse are compile errors (``@ts-expect-error``), and a Node test drives
every operation against a live server on each database.

One ``tsc`` run per schema (the client and its usage files at once); the typed schema's run emits
JavaScript that ``node --test`` runs against each database's server. Without Node or the npm
TypeScript compiler the tests are skipped locally and fail under ``CI=true``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tenantry.clients import write_client
from tenantry.schema import Schema, load_schema_text
from tests.api.test_apso_columns import ARTICLES
from tests.clients.schemas import typed_schema
from tests.compat.live import HERE as COMPAT
from tests.compat.live import require_node, run_node_suite
from tests.conftest import seed_schema

USAGE = Path(__file__).resolve().parent / "ts"
TSC = COMPAT / "node_modules" / "typescript" / "bin" / "tsc"


def compile_project(root: Path, schema: Schema, files: list[str], *, emit: bool) -> Path:
    """Generate the client into ``root/client``, copy ``files`` beside it and compile all at once."""
    write_client(schema, "typescript", root / "client")
    for name in files:
        shutil.copy(USAGE / name, root / name)
    options = {
        "strict": True,
        "noEmit": not emit,
        "outDir": "out",
        "target": "es2022",
        "module": "nodenext",
        "moduleResolution": "nodenext",
        "lib": ["es2022"],
        "types": ["node"],
        "typeRoots": [str(COMPAT / "node_modules" / "@types")],
        "skipLibCheck": True,
    }
    config = {"compilerOptions": options, "files": ["client/index.ts", *files]}
    (root / "tsconfig.json").write_text(json.dumps(config), encoding="utf-8")
    (root / "package.json").write_text('{"type": "module"}\n', encoding="utf-8")
    result = subprocess.run(
        ["node", str(TSC), "-p", str(root / "tsconfig.json")], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return root / "out"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The typed schema's client compiled with its Node test and refused usages; the output folder."""
    require_node("typescript")
    return compile_project(
        tmp_path_factory.mktemp("ts-typed"), typed_schema(), ["typed.test.ts", "refused.ts"], emit=True
    )


def test_seed_client_compiles(tmp_path: Path) -> None:
    """The seed's calling shape type-checks; its refused usages stay errors."""
    require_node("typescript")
    compile_project(tmp_path, seed_schema(), ["seed.ts"], emit=False)


def test_typed_client_live(server: str, compiled: Path) -> None:
    run_node_suite(str(compiled / "typed.test.js"), server, passes=2)


def test_array_columns_are_typed(tmp_path: Path) -> None:
    """An `.apsorc` schema's array columns: element-typed rows, `$cont`/`$in` filters, the rest refused."""
    require_node("typescript")
    compile_project(tmp_path, load_schema_text(ARTICLES, "app.apsorc"), ["arrays.ts"], emit=False)
