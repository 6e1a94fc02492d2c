"""Tables. Alembic migrations in /migrations are the only source of the schema; these mirror them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .types import JSONType, UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False
    )


class Organization(Timestamps, Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(256))


class Pod(Timestamps, Base):
    __tablename__ = "pods"
    __table_args__ = (
        UniqueConstraint("organization_id", "client_id"),
        Index(None, "organization_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(256), nullable=False)
    client_id: Mapped[str | None] = mapped_column(String(256))


class Inbox(Timestamps, Base):
    __tablename__ = "inboxes"
    __table_args__ = (
        UniqueConstraint("pod_id", "client_id"),
        Index(None, "organization_id", "created_at", "id"),
        Index(None, "pod_id", "created_at", "id"),
    )

    # The address is the id (REFERENCE §1.3); stored lower-case so lookups are case-insensitive.
    id: Mapped[str] = mapped_column(String(320), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    pod_id: Mapped[str] = mapped_column(ForeignKey("pods.id", ondelete="CASCADE"), nullable=False)
    username: Mapped[str] = mapped_column(String(64), nullable=False)
    domain: Mapped[str] = mapped_column(String(253), nullable=False)
    display_name: Mapped[str | None] = mapped_column(String(256))
    client_id: Mapped[str | None] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONType)


class ApiKey(Timestamps, Base):
    __tablename__ = "api_keys"
    __table_args__ = (Index(None, "organization_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    pod_id: Mapped[str | None] = mapped_column(ForeignKey("pods.id", ondelete="CASCADE"))
    inbox_id: Mapped[str | None] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(256), nullable=False)
    prefix: Mapped[str] = mapped_column(String(32), nullable=False)
    # sha256 of the secret: keys are 256-bit random, so a fast hash is enough and lookups stay O(1).
    secret_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    permissions: Mapped[dict[str, bool] | None] = mapped_column(JSONType)
    created_by: Mapped[str | None] = mapped_column(String(36))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)
