"""Datascaphe Uplink: what CRUD cannot express. The refresh reads the report from "Power BI" — here a
deterministic stand-in derived from the report's GUIDs, which the fixtures use too — and caches it."""

from __future__ import annotations

import hashlib
import uuid

from apitwin.behaviours import Behaviours
from apitwin.engine import OperationContext, Reply

behaviours = Behaviours()

# Names of the kind Power BI tenants hold; a workspace is picked by hashing its id.
WORKSPACE_NAMES = (
    "Financial reporting",
    "Sales analytics",
    "Operations",
    "Marketing insights",
    "Executive dashboards",
    "Supply chain",
    "HR analytics",
    "Customer success",
)
# What the stand-in tenant's reports are about, for their names.
REPORT_TOPICS = (
    "Sales Performance",
    "Revenue by Region",
    "Customer Churn",
    "Inventory Health",
    "Marketing Funnel",
    "Finance P&L",
    "Headcount Overview",
    "Supply Chain Lead Times",
    "Support Tickets",
    "Web Traffic",
    "Pipeline Forecast",
    "Budget vs Actuals",
    "Product Usage",
    "Executive Summary",
)
_POWER_BI = uuid.UUID("6f1c3a52-9d0e-4b8a-a1f7-2c4e5d6b7a80")


def workspace_of(item_id: str) -> tuple[str, str]:
    """The Power BI workspace (id, name) that holds a report or dataset, as the tenant would answer."""
    workspace_id = str(uuid.uuid5(_POWER_BI, f"workspace-of:{item_id}"))
    digest = hashlib.sha256(workspace_id.encode()).digest()
    return workspace_id, WORKSPACE_NAMES[digest[0] % len(WORKSPACE_NAMES)]


def report_name_of(report_id: str) -> str:
    """The report's name in Power BI, as the tenant would answer."""
    digest = hashlib.sha256(f"report-name:{report_id}".encode()).digest()
    return f"{REPORT_TOPICS[digest[0] % len(REPORT_TOPICS)]} {2019 + digest[1] % 7}"


@behaviours.operation("refreshReport")
def refresh_report(ctx: OperationContext) -> Reply:
    """Name and workspaces become what Power BI says ("will be replaced by the actual ... after refresh"),
    whatever the client had set."""
    reports = ctx.collection()
    report = reports.get(ctx.item_id)
    report_workspace_id, report_workspace_name = workspace_of(report["report_id"])
    dataset_workspace_id, dataset_workspace_name = workspace_of(report["dataset_id"])
    now = ctx.state.timestamp()
    refreshed = reports.set(
        ctx.item_id,
        {
            "name": report_name_of(report["report_id"]),
            "report_workspace_id": report_workspace_id,
            "report_workspace_name": report_workspace_name,
            "dataset_workspace_id": dataset_workspace_id,
            "dataset_workspace_name": dataset_workspace_name,
            "scanner_data_updated_at": now,
        },
    )
    # The document's spelling, kept: clients may compare the message.
    return Reply({"message": "Report refreshed succesfully", "report": reports.public(refreshed)})
