"""Routes: metrics (issue 7)."""

from __future__ import annotations

from fastapi import APIRouter

from .deps import WireRoute

router = APIRouter(route_class=WireRoute, tags=["metrics"])
