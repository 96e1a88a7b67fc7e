"""Housekeeping of fallback events: every engagement (cooling-down skips included) adds a row."""

import json
from datetime import timedelta

import click
import sqlalchemy as sa

from ..cli import llmcfg_cli
from ..db import db
from ..models import FallbackEvent, utcnow
from .common import json_option


@llmcfg_cli.command("prune-events")
@click.option("--days", type=click.IntRange(min=1), default=30, show_default=True,
              help="Keep the events of this many most recent days.")
@json_option
def prune_events(days, as_json):
    """Delete fallback events older than --days days and print how many were deleted.

    Run it from cron (e.g. daily) to keep the fallback_events table small; the admin pages show
    only recent events anyway.
    """
    cutoff = utcnow() - timedelta(days=days)
    result = db.session.execute(sa.delete(FallbackEvent).where(FallbackEvent.at < cutoff))
    db.session.commit()
    if as_json:
        click.echo(json.dumps({"deleted": result.rowcount, "before": cutoff.isoformat(timespec="seconds")}))
    else:
        click.echo(f"Deleted {result.rowcount} fallback event(s) older than {days} day(s).")
