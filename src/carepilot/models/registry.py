"""Versioned model store on disk: joblib artefact + sha256 + metadata, with a JSON index.

Layout under ``settings.models_dir``::

    index.json                     {"models": {NAME: [{version, sha256, file, created, metadata}, ...]}}
    NAME/VERSION/model.joblib      the pickled estimator
    NAME/VERSION/card.json|.md     the model card, when one is registered with the model

Serving: once a version of a model has been approved, ``index.json`` also holds a *serving pointer* per model and
a status history (``pending`` challengers, ``serving``, ``retired``). ``record(name)`` and ``load(name)`` without a
version then resolve to the serving version, so a newly saved challenger never serves by itself; only ``promote``
(called by the approval and rollback commands of ``learning/governance.py``) moves the pointer. A model without a
pointer keeps the original rule: its latest version that is not a pending challenger.

``load`` recomputes the artefact's sha256 and compares it with the index *before* unpickling, because
unpickling runs code: a file that does not match raises ``IntegrityError`` and is never loaded. Writes go
to a temporary file and are renamed into place so a crash never leaves a half-written index.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib

from carepilot.errors import InputError, IntegrityError, ModelError, NotFoundError

STATUSES: tuple[str, ...] = ("pending", "serving", "retired", "rejected")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class ModelRecord:
    """One registered model version."""

    name: str
    version: str
    sha256: str
    file: str
    created: str
    metadata: dict[str, Any] = field(default_factory=dict)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ModelRegistry:
    """File-system model registry rooted at a folder (``settings.models_dir``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def index_path(self) -> Path:
        return self.root / "index.json"

    def _index(self) -> dict[str, list[dict[str, Any]]]:
        if not self.index_path.exists():
            return {}
        try:
            data = json.loads(self.index_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelError(f"model registry index {self.index_path} is unreadable: {exc}") from exc
        models = data.get("models", {})
        if not isinstance(models, dict):
            raise ModelError(f"model registry index {self.index_path} has no 'models' table")
        return models

    def _document(self) -> dict[str, Any]:
        if not self.index_path.exists():
            return {}
        try:
            data = json.loads(self.index_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelError(f"model registry index {self.index_path} is unreadable: {exc}") from exc
        if not isinstance(data, dict):
            raise ModelError(f"model registry index {self.index_path} is not a JSON object")
        return data

    def _write_index(self, models: dict[str, list[dict[str, Any]]], **extra: Any) -> None:
        document = self._document()
        document["models"] = models
        document.update(extra)
        payload = json.dumps(document, indent=2, sort_keys=True).encode()
        _atomic_write(self.index_path, payload)

    def save(
        self,
        model: Any,
        name: str,
        metadata: dict[str, Any] | None = None,
        card: dict[str, Any] | None = None,
        card_markdown: str | None = None,
        *,
        status: str | None = None,
    ) -> ModelRecord:
        """Store a new version of ``name``; returns its record (version numbers count up from 1).

        ``status="pending"`` registers a challenger: it is stored and verifiable but never resolved as the default
        version until ``promote`` makes it serve.
        """
        if status is not None and status not in STATUSES:
            raise InputError(f"model status {status!r} must be one of {', '.join(STATUSES)}")
        if not _NAME.match(name):
            raise InputError(f"model name {name!r} must be lower-case letters, digits, '-' or '_'")
        models = self._index()
        versions = models.get(name, [])
        # Folders left by an interrupted save are skipped, never overwritten.
        on_disk = [int(d.name) for d in (self.root / name).glob("*") if d.is_dir() and d.name.isdigit()]
        version = str(max([int(v["version"]) for v in versions] + on_disk, default=0) + 1)
        folder = self.root / name / version
        folder.mkdir(parents=True, exist_ok=False)
        artefact = folder / "model.joblib"
        joblib.dump(model, artefact)
        if card is not None:
            _atomic_write(folder / "card.json", json.dumps(card, indent=2, default=str).encode())
        if card_markdown is not None:
            _atomic_write(folder / "card.md", card_markdown.encode())
        record = ModelRecord(
            name=name,
            version=version,
            sha256=sha256_of(artefact),
            file=str(artefact.relative_to(self.root)),
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            metadata=dict(metadata or {}),
        )
        versions.append(asdict(record))
        models[name] = versions
        if status is None:
            self._write_index(models)
        else:
            statuses = self._document().get("status", {})
            statuses.setdefault(name, {})[version] = status
            history = self._document().get("history", [])
            history.append({"model": name, "version": version, "status": status, "at": record.created})
            self._write_index(models, status=statuses, history=history)
        return record

    def records(self, name: str | None = None) -> list[ModelRecord]:
        """Every registered version (of one model, when ``name`` is given), oldest first."""
        models = self._index()
        names = [name] if name is not None else sorted(models)
        return [ModelRecord(**entry) for n in names for entry in models.get(n, [])]

    def record(self, name: str, version: str | None = None) -> ModelRecord:
        """The record of one version; with ``version`` None the serving version (see the module docstring)."""
        versions = self.records(name)
        if not versions:
            raise NotFoundError(f"no model named {name!r} in the registry")
        if version is None:
            serving = self.serving_version(name)
            if serving is not None:
                version = serving
            else:
                statuses = self.statuses(name)
                eligible = [r for r in versions if statuses.get(r.version) not in ("pending", "rejected")]
                if not eligible:
                    raise NotFoundError(f"model {name!r} has no approved version yet (only pending challengers)")
                return max(eligible, key=lambda r: int(r.version))
        for rec in versions:
            if rec.version == str(version):
                return rec
        raise NotFoundError(f"model {name!r} has no version {version!r}")

    def load(self, name: str, version: str | None = None) -> Any:
        """Verify the artefact's checksum against the index, then unpickle it."""
        rec = self.record(name, version)
        path = self.root / rec.file
        if not path.is_file():
            raise IntegrityError(f"model {name} version {rec.version}: artefact file is missing")
        actual = sha256_of(path)
        if actual != rec.sha256:
            raise IntegrityError(
                f"model {name} version {rec.version}: checksum mismatch (expected {rec.sha256[:12]}..., "
                f"found {actual[:12]}...); refusing to load"
            )
        return joblib.load(path)

    def latest(self, name: str) -> ModelRecord:
        """The most recently saved version, whatever its status."""
        versions = self.records(name)
        if not versions:
            raise NotFoundError(f"no model named {name!r} in the registry")
        return max(versions, key=lambda r: int(r.version))

    def serving_version(self, name: str) -> str | None:
        """The version the serving pointer names, or None when no version was ever approved."""
        serving = self._document().get("serving", {})
        value = serving.get(name) if isinstance(serving, dict) else None
        return str(value) if value is not None else None

    def statuses(self, name: str) -> dict[str, str]:
        """Current status of each version that has one (``pending``, ``serving``, ``retired``, ``rejected``)."""
        found = self._document().get("status", {}).get(name, {})
        return {str(k): str(v) for k, v in found.items()}

    def history(self, name: str | None = None) -> list[dict[str, Any]]:
        """Status changes, oldest first (of one model when ``name`` is given)."""
        entries = self._document().get("history", [])
        return [dict(e) for e in entries if name is None or e.get("model") == name]

    def promote(self, name: str, version: str, *, actor: str, reason: str) -> str | None:
        """Point serving at ``version`` (which must exist and pass its checksum); returns the version replaced.

        Called only by the approval and rollback commands, which audit the change.
        """
        rec = self.record(name, version)
        self.load(name, rec.version)  # refuses a tampered or missing artefact before it can serve
        document = self._document()
        serving = dict(document.get("serving", {}))
        previous = serving.get(name)
        statuses = document.get("status", {})
        mine = statuses.setdefault(name, {})
        if previous is not None and str(previous) != rec.version:
            mine[str(previous)] = "retired"
        mine[rec.version] = "serving"
        serving[name] = rec.version
        history = document.get("history", [])
        at = datetime.now(UTC).isoformat(timespec="seconds")
        history.append(
            {
                "model": name,
                "version": rec.version,
                "status": "serving",
                "at": at,
                "actor": actor,
                "reason": reason,
                "replaced": previous,
            }
        )
        if previous is not None and str(previous) != rec.version:
            history.append({"model": name, "version": str(previous), "status": "retired", "at": at, "actor": actor})
        self._write_index(self._index(), serving=serving, status=statuses, history=history)
        return str(previous) if previous is not None else None

    def set_status(self, name: str, version: str, status: str, *, actor: str) -> None:
        """Record a non-serving status change (e.g. a rejected challenger); never touches the serving pointer."""
        if status not in ("pending", "rejected"):
            raise InputError(f"only pending or rejected can be set directly, not {status!r}")
        rec = self.record(name, version)
        if self.serving_version(name) == rec.version:
            raise InputError(f"model {name} version {rec.version} is serving; roll back instead")
        document = self._document()
        statuses = document.get("status", {})
        statuses.setdefault(name, {})[rec.version] = status
        history = document.get("history", [])
        at = datetime.now(UTC).isoformat(timespec="seconds")
        history.append({"model": name, "version": rec.version, "status": status, "at": at, "actor": actor})
        self._write_index(self._index(), status=statuses, history=history)

    def card_path(self, name: str, version: str | None = None) -> Path:
        """Where a version's JSON model card is stored."""
        rec = self.record(name, version)
        return self.root / name / rec.version / "card.json"


class ServingModel:
    """The serving version of one registered model, loaded once and reloaded when the serving version changes."""

    def __init__(self, registry: ModelRegistry, name: str) -> None:
        self.registry = registry
        self.name = name
        self._loaded: tuple[str, Any, dict[str, Any]] | None = None

    def current(self) -> tuple[str, Any, dict[str, Any]] | None:
        """(version, model, metadata) of the serving version; None when nothing is registered."""
        try:
            record = self.registry.record(self.name)
        except NotFoundError:
            return None
        if self._loaded is None or self._loaded[0] != record.version:
            self._loaded = (record.version, self.registry.load(self.name, record.version), record.metadata)
        return self._loaded
