"""Published flow versions: publish, roll back, and the version a new call runs.

A flow file names itself and its version (``flow:``, ``version:``). Publishing
stores the exact source with its checksum and makes that version the active
one; publishing the same content again changes nothing, and publishing other
content under an existing version is refused (bump ``version:``). A call takes
the active :class:`PublishedFlow` when it starts and keeps that object to the
end, so publishing or rolling back never changes a call in progress.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from bridge.store.models import AuditEntry, FlowVersion
from flows.loader import loads
from flows.model import Flow


class CatalogError(Exception):
    pass


@dataclass(frozen=True)
class PublishedFlow:
    name: str
    version: int
    checksum: str
    flow: Flow
    published_by: str | None
    published_at: datetime | None
    active: bool


def checksum(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


class FlowCatalog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._parsed: dict[str, Flow] = {}  # checksum → Flow: one immutable object per version

    def publish(self, source: str, file: str, by: str) -> PublishedFlow:
        """Validate, store and activate; raises FlowInvalid or CatalogError."""
        flow = loads(source, file)
        digest = checksum(source)
        with Session(self.engine) as s, s.begin():
            row = s.scalars(
                select(FlowVersion).where(
                    FlowVersion.name == flow.flow, FlowVersion.version == flow.version
                )
            ).one_or_none()
            if row is not None and row.checksum != digest:
                raise CatalogError(
                    f"{flow.flow} version {flow.version} is already published with other "
                    f"content; raise `version:` in {file} to publish a change"
                )
            if row is None:
                row = FlowVersion(
                    name=flow.flow,
                    version=flow.version,
                    source=source,
                    checksum=digest,
                    published_by=by,
                    active=False,
                )
                s.add(row)
                s.flush()
            self._activate(s, row, by, "flow.publish")
        self._parsed[digest] = flow
        return self.get(flow.flow, flow.version)

    def activate(self, name: str, version: int, by: str) -> PublishedFlow:
        """Make an already published version the one new calls get (a roll back, or forward)."""
        with Session(self.engine) as s, s.begin():
            row = s.scalars(
                select(FlowVersion).where(FlowVersion.name == name, FlowVersion.version == version)
            ).one_or_none()
            if row is None:
                raise CatalogError(f"{name} version {version} was never published")
            self._activate(s, row, by, "flow.activate")
        return self.get(name, version)

    def _activate(self, s: Session, row: FlowVersion, by: str, action: str) -> None:
        s.execute(
            update(FlowVersion)
            .where(FlowVersion.name == row.name, FlowVersion.id != row.id)
            .values(active=False)
        )
        row.active = True
        s.add(
            AuditEntry(
                actor=by,
                action=action,
                target=f"flow:{row.name}",
                detail={"version": row.version, "checksum": row.checksum},
            )
        )

    def active(self, name: str) -> PublishedFlow:
        """The version a call starting now runs."""
        with Session(self.engine) as s:
            row = s.scalars(
                select(FlowVersion).where(FlowVersion.name == name, FlowVersion.active)
            ).one_or_none()
            if row is None:
                raise CatalogError(f"no published version of {name}")
            return self._published(row)

    def get(self, name: str, version: int) -> PublishedFlow:
        with Session(self.engine) as s:
            row = s.scalars(
                select(FlowVersion).where(FlowVersion.name == name, FlowVersion.version == version)
            ).one_or_none()
            if row is None:
                raise CatalogError(f"{name} version {version} was never published")
            return self._published(row)

    def versions(self, name: str | None = None) -> list[PublishedFlow]:
        with Session(self.engine) as s:
            q = select(FlowVersion).order_by(FlowVersion.name, FlowVersion.version)
            if name is not None:
                q = q.where(FlowVersion.name == name)
            return [self._published(r) for r in s.scalars(q)]

    def _published(self, row: FlowVersion) -> PublishedFlow:
        flow = self._parsed.get(row.checksum)
        if flow is None:
            flow = self._parsed[row.checksum] = loads(row.source, f"{row.name}@{row.version}")
        return PublishedFlow(
            row.name,
            row.version,
            row.checksum,
            flow,
            row.published_by,
            row.published_at,
            bool(row.active),
        )
