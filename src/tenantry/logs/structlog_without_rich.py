"""structlog, imported without Rich: the only way this package imports structlog.

When imported, structlog looks for Rich (``structlog.dev``, ``structlog.tracebacks``) and loads it
with Pygments if it is installed, as it is beside Tenantry's command line: ~35 ms of every worker's
cold start, for tracebacks these logs never render with Rich (JSON lines carry ``format_exc_info``'s
plain text, the console ``plain_traceback``). So Rich is hidden from that one import, unless this
process has loaded it already (the command line), in which case hiding it would save nothing.
Rich stays importable by everything else afterwards.
"""

from __future__ import annotations

import sys

_hide_rich = "rich" not in sys.modules and "structlog" not in sys.modules
if _hide_rich:
    # A None entry makes ``import rich`` raise ImportError, which structlog takes as "not installed".
    sys.modules["rich"] = None  # type: ignore[assignment]
try:
    import structlog
finally:
    if _hide_rich:
        del sys.modules["rich"]

__all__ = ["structlog"]
