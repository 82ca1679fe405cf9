"""Settings from CTR_* variables and ``ctrkit serve`` options."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from service.cli import build_parser, main, settings_from_args
from service.settings import Settings, VersionPolicy


def test_environment_variables_use_the_ctr_prefix(monkeypatch):
    monkeypatch.setenv("CTR_MODEL_REPOSITORY", "/srv/models")
    monkeypatch.setenv("CTR_MAX_BATCH_ROWS", "256")
    monkeypatch.setenv("CTR_VERSION_POLICY", "specific")
    monkeypatch.setenv("CTR_MODEL_VERSIONS", "ads=3,shop=1")
    s = Settings()
    assert s.model_repository == Path("/srv/models") and s.max_batch_rows == 256
    assert s.version_policy is VersionPolicy.SPECIFIC and s.model_versions == {"ads": 3, "shop": 1}
    monkeypatch.setenv("CTR_MODEL_VERSIONS", '{"ads": 4}')
    assert Settings().model_versions == {"ads": 4}


def test_options_override_the_environment(monkeypatch):
    monkeypatch.setenv("CTR_PORT", "9000")
    monkeypatch.setenv("CTR_HOST", "0.0.0.0")
    s = settings_from_args(["--port", "9100", "--batch-timeout-ms", "0.5", "--access-log"])
    assert s.port == 9100 and s.host == "0.0.0.0" and s.batch_timeout_ms == 0.5 and s.access_log


def test_every_setting_is_an_option():
    options = {a.dest for a in build_parser()._actions}
    assert set(Settings.model_fields) <= options


def test_invalid_settings_are_refused(capsys):
    with pytest.raises(ValidationError):
        Settings(max_rows_per_request=100, max_queue_rows=10)
    with pytest.raises(ValidationError):
        Settings(model_versions="ads=latest")
    assert main(["--max-batch-rows", "0"]) == 2
    assert "max_batch_rows" in capsys.readouterr().err
