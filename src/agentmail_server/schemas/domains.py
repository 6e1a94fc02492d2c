"""Wire models of custom domains (MODELS.md: Domain, DomainItem, VerificationRecord, …)."""

from __future__ import annotations

from typing import Any, Literal

from ..db.tables import Domain as DomainRow
from ..mail.domain_records import DomainSetup
from .common import PageResponse, RequestModel, ResponseModel, Timestamp

VerificationStatus = Literal["NOT_STARTED", "PENDING", "INVALID", "FAILED", "VERIFYING", "VERIFIED"]


class CreateDomainRequest(RequestModel):
    domain: str
    allow_conflicting_provider: bool | None = None
    feedback_enabled: bool | None = None
    inbound_enabled: bool | None = None
    subdomains_enabled: bool | None = None
    tracking_enabled: bool | None = None
    client_id: str | None = None

    def flags(self) -> dict[str, bool | None]:
        return {"feedback_enabled": self.feedback_enabled, "inbound_enabled": self.inbound_enabled,
                "subdomains_enabled": self.subdomains_enabled, "tracking_enabled": self.tracking_enabled}


class UpdateDomainRequest(RequestModel):
    feedback_enabled: bool | None = None
    inbound_enabled: bool | None = None
    subdomains_enabled: bool | None = None
    tracking_enabled: bool | None = None

    def flags(self) -> dict[str, bool | None]:
        return self.model_dump()


class VerificationRecord(ResponseModel):
    type: Literal["TXT", "CNAME", "MX"]
    name: str
    value: str
    status: Literal["MISSING", "INVALID", "VALID"]
    priority: int | None = None
    reason: Literal["duplicate_records", "value_mismatch"] | None = None


class DomainItem(ResponseModel):
    pod_id: str | None = None
    domain_id: str
    domain: str
    feedback_enabled: bool
    inbound_enabled: bool | None = None
    subdomains_enabled: bool
    tracking_enabled: bool
    client_id: str | None = None
    updated_at: Timestamp
    created_at: Timestamp

    @classmethod
    def fields_of(cls, row: DomainRow) -> dict[str, Any]:
        return {
            "pod_id": row.pod_id, "domain_id": row.id, "domain": row.id, "feedback_enabled": row.feedback_enabled,
            "inbound_enabled": row.inbound_enabled, "subdomains_enabled": row.subdomains_enabled,
            "tracking_enabled": row.tracking_enabled, "client_id": row.client_id, "updated_at": row.updated_at,
            "created_at": row.created_at,
        }

    @classmethod
    def of(cls, row: DomainRow) -> DomainItem:
        return cls(**cls.fields_of(row))


class DomainWire(DomainItem):
    """The full `Domain` model (named apart from the table class)."""

    status: VerificationStatus
    reason: str | None = None
    records: list[VerificationRecord]

    @classmethod
    def describe(cls, row: DomainRow, setup: DomainSetup) -> DomainWire:
        checked = row.record_status or {}
        records = [
            VerificationRecord(
                type=r.type, name=r.name, value=r.value, priority=r.priority,  # type: ignore[arg-type]
                status=checked.get(r.key, {}).get("status", "MISSING"),
                reason=checked.get(r.key, {}).get("reason"),
            )
            for r in setup.records()
        ]
        return cls(**cls.fields_of(row), status=row.status,  # type: ignore[arg-type]
                   reason=None if row.status == "VERIFIED" else row.reason, records=records)

    def wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class ListDomainsResponse(PageResponse):
    domains: list[DomainItem]


class SetupLinkResponse(ResponseModel):
    supported: bool
