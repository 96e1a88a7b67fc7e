"""`flask llmcfg prune-events`: old fallback events go, recent ones stay."""

import json
from datetime import timedelta

import sqlalchemy as sa

from llmcfg.db import db
from llmcfg.models import FallbackEvent, utcnow


def test_prune_keeps_recent_events(app, runner, orgs):
    a, _ = orgs
    with app.app_context():
        now = utcnow()
        for age in (1, 29, 31, 90):
            db.session.add(FallbackEvent(at=now - timedelta(days=age), organization_id=a.org.id,
                                         from_config_id=a.config.id, reason="rate_limited", status_code=429))
        db.session.commit()
    result = runner.invoke(args=["llmcfg", "prune-events", "--days", "30"])
    assert result.exit_code == 0 and "Deleted 2 fallback event(s) older than 30 day(s)." in result.output
    with app.app_context():
        ages = sorted((utcnow() - e.at).days for e in db.session.scalars(sa.select(FallbackEvent)))
        assert ages == [1, 29]
    again = runner.invoke(args=["llmcfg", "prune-events", "--days", "30", "--json"])
    assert json.loads(again.output)["deleted"] == 0


def test_prune_refuses_a_nonsense_age(runner, orgs):
    result = runner.invoke(args=["llmcfg", "prune-events", "--days", "0"])
    assert result.exit_code != 0
