"""Where a site records its federated rounds when no store-backed ``AuditSink`` is given: a JSON-lines file."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from carepilot.security.audit import AuditEntry


class JsonlAuditSink:
    """Appends one JSON object per ``AuditEntry`` (with a UTC timestamp) to a file under the site's home."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def record(self, entry: AuditEntry) -> None:
        """Append the entry; the file and its folder are created on first use."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = {"at": datetime.now(UTC).isoformat(timespec="seconds"), **asdict(entry)}
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line, sort_keys=True) + "\n")

    def entries(self) -> list[dict[str, object]]:
        """Everything recorded so far (for reports and tests)."""
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line]
