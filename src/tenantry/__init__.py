"""Tenantry: one schema file to a production-grade, multi-tenant SaaS backend and web app."""

from __future__ import annotations

__version__ = "0.1.0"
