"""``SENTRY_*`` settings: a DSN is checked as the SDK would check it, with a message saying what is wrong."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sentry_sdk.utils import Dsn

from tenantry.config import Settings
from tenantry.sentry import SentrySettings


@pytest.mark.parametrize(
    ("dsn", "problem"),
    [
        ("ftp://key@o1.ingest.sentry.io/1", "scheme must be http or https"),
        ("https://o1.ingest.sentry.io/1", "no public key"),
        ("https://key@o1.ingest.sentry.io/project", "numeric project id"),
        ("not a dsn", "scheme"),
    ],
)
def test_a_malformed_dsn_is_refused_with_its_problem(dsn: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        SentrySettings(SENTRY_DSN=dsn)


def test_a_good_dsn_is_one_the_sdk_takes_and_blank_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    good = "https://0123abcd@o11.ingest.us.sentry.io/4501"
    assert SentrySettings(SENTRY_DSN=f" {good} ").dsn == good
    assert Dsn(good).project_id == "4501"
    assert SentrySettings(SENTRY_DSN="").dsn is None
    monkeypatch.setenv("SENTRY_DSN", good)
    monkeypatch.setenv("SENTRY_SAMPLE_RATE", "0.25")
    monkeypatch.setenv("SENTRY_RELEASE", "acme@1.2.3")
    part = Settings().sentry
    assert (part.dsn, part.sample_rate, part.release, part.environment) == (good, 0.25, "acme@1.2.3", None)
    with pytest.raises(ValidationError):
        SentrySettings(SENTRY_SAMPLE_RATE=1.5)
