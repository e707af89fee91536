"""Schema model -> tables, executors for PostgreSQL (asyncpg) and SQLite (aiosqlite), compiled SQL."""

from tenantry.db.compiler import SQLCompiler, Statement
from tenantry.db.database import (
    Connection,
    Database,
    PoolStats,
    QueryObserver,
    create_database,
    dialect_of,
    to_sqlalchemy_url,
)
from tenantry.db.errors import DatabaseError, DatabaseUnavailable, DataRejected, IntegrityViolation
from tenantry.db.shape import RowShaper
from tenantry.db.tables import ConstraintInfo, TableContributor, TableSet, build_metadata

__all__ = [
    "Connection",
    "ConstraintInfo",
    "DataRejected",
    "Database",
    "DatabaseError",
    "DatabaseUnavailable",
    "IntegrityViolation",
    "PoolStats",
    "QueryObserver",
    "RowShaper",
    "SQLCompiler",
    "Statement",
    "TableContributor",
    "TableSet",
    "build_metadata",
    "create_database",
    "dialect_of",
    "to_sqlalchemy_url",
]
