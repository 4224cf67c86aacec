from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

PARTITIONED_TABLES = ("messages", "api_logs")


async def ensure_partitions(engine: AsyncEngine, months_ahead: int = 2) -> int:
    """Create the current month's and the next months' partitions; returns how many were new."""
    created = 0
    async with engine.begin() as connection:
        for table in PARTITIONED_TABLES:
            created += int(
                await connection.scalar(
                    sa.text("SELECT metachat_ensure_monthly_partitions(:table, :ahead)"),
                    {"table": table, "ahead": months_ahead},
                )
                or 0
            )
    return created
