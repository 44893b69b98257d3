"""Settings: defaults that need no setup, production that refuses to guess, every setting documented."""

from __future__ import annotations

import dataclasses
import re
import stat
from pathlib import Path

import pytest

from petition.settings import SECRET_LENGTHS, Settings, SettingsError, load_settings, new_secret

README = Path(__file__).resolve().parent.parent / "README.md"
PRODUCTION_SECRETS = {name: new_secret() for name in SECRET_LENGTHS}
PRODUCTION = {"ENV": "production", "SMTP_HOST": "mail.example.org", "SMTP_FROM": "petitions@example.org"}


def load(tmp_path: Path, **environ: str) -> Settings:
    environ.setdefault("DATA_DIR", str(tmp_path / "data"))
    return load_settings(environ, env_file=tmp_path / ".env")


def test_development_defaults_need_no_configuration(tmp_path: Path) -> None:
    settings = load(tmp_path)
    assert settings.env == "development"
    assert settings.base_url == "http://127.0.0.1:8000"
    assert settings.database_url == f"sqlite:///{tmp_path / 'data' / 'petition.db'}"
    assert settings.log_batch_seconds == 60 and settings.log_batch_min == 5
    assert settings.min_cell_size == 5 and settings.max_code_emails_per_day == 5
    assert len(settings.encryption_key) == 32 and len(settings.signing_key) == 32
    assert settings.access_log is False, "no access log unless the operator asks for one"


def test_development_secrets_are_generated_once_into_a_private_file(tmp_path: Path) -> None:
    first = load(tmp_path)
    secrets_file = tmp_path / "data" / "secrets.env"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    second = load(tmp_path)
    assert first.secret_key == second.secret_key and first.pepper == second.pepper
    assert len({first.secret_key, first.pepper, first.encryption_key, first.signing_key}) == 4


def test_a_secret_missing_from_the_development_file_is_added_without_changing_the_others(tmp_path: Path) -> None:
    first = load(tmp_path)
    secrets_file = tmp_path / "data" / "secrets.env"
    kept = [line for line in secrets_file.read_text().splitlines() if not line.startswith("PEPPER=")]
    secrets_file.write_text("\n".join(kept) + "\n")
    second = load(tmp_path)
    assert second.secret_key == first.secret_key
    assert second.pepper != first.pepper and len(second.pepper) == 32


def test_a_development_secrets_file_others_can_read_is_refused(tmp_path: Path) -> None:
    load(tmp_path)
    (tmp_path / "data" / "secrets.env").chmod(0o644)
    with pytest.raises(SettingsError, match="chmod 600"):
        load(tmp_path)


def test_environment_overrides_the_env_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("MIN_CELL_SIZE=7\nLOG_BATCH_MIN=9\n")
    settings = load(tmp_path, LOG_BATCH_MIN="3")
    assert settings.min_cell_size == 7
    assert settings.log_batch_min == 3


def test_production_names_every_missing_secret_and_the_insecure_base_url(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as error:
        load(tmp_path, ENV="production", BASE_URL="http://petitions.example.org")
    message = str(error.value)
    assert "\n" not in message
    assert "BASE_URL must start with https://" in message
    for name in SECRET_LENGTHS:
        assert f"{name} (or {name}_FILE)" in message
    assert not (tmp_path / "data" / "secrets.env").exists()


def test_production_starts_with_explicit_secrets_and_https(tmp_path: Path) -> None:
    settings = load(tmp_path, BASE_URL="https://petitions.example.org/", **PRODUCTION, **PRODUCTION_SECRETS)
    assert settings.is_production and settings.is_https
    assert settings.base_url == "https://petitions.example.org"
    assert not (tmp_path / "data" / "secrets.env").exists()


def test_secrets_are_read_from_private_files(tmp_path: Path) -> None:
    environ = dict(PRODUCTION_SECRETS)
    secret_file = tmp_path / "pepper"
    secret_file.write_text(environ.pop("PEPPER") + "\n")
    secret_file.chmod(0o600)
    settings = load(tmp_path, BASE_URL="https://x.example", PEPPER_FILE=str(secret_file), **PRODUCTION, **environ)
    assert len(settings.pepper) == 32

    secret_file.chmod(0o640)
    with pytest.raises(SettingsError, match=r"PEPPER_FILE: .* can be read by others"):
        load(tmp_path, BASE_URL="https://x.example", PEPPER_FILE=str(secret_file), **PRODUCTION, **environ)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"ENV": "staging"}, "ENV must be one of development, production"),
        ({"MIN_CELL_SIZE": "five"}, "MIN_CELL_SIZE must be a whole number"),
        ({"LOG_BATCH_SECONDS": "0"}, "LOG_BATCH_SECONDS must be at least 1"),
        ({"DATABASE_URL": "mysql://localhost/db"}, "DATABASE_URL must start with sqlite:/// or postgresql://"),
        ({"DATABASE_URL": "postgresql://"}, "DATABASE_URL must name a host and a database"),
        ({"BASE_URL": "petitions.example.org"}, "BASE_URL must be an http(s) URL"),
        ({"TRUSTED_PROXIES": "10.0.0.1, nonsense"}, "TRUSTED_PROXIES holds 'nonsense'"),
        ({"SMTP_TLS": "maybe"}, "SMTP_TLS must be one of starttls, tls, none"),
        ({"SMTP_HOST": "mail.example.org"}, "SMTP_FROM is needed when SMTP_HOST is set"),
        ({"ENCRYPTION_KEY": "c2hvcnQ"}, "ENCRYPTION_KEY must hold 32 random bytes"),
        ({"SECRET_KEY": "!!!"}, "SECRET_KEY is not base64"),
        ({"PEPPER": "x", "PEPPER_FILE": "/nowhere"}, "set PEPPER or PEPPER_FILE, not both"),
        ({"ACCESS_LOG": "sometimes"}, "ACCESS_LOG must be true or false"),
        ({"SITE_NAME": "Petitions\u202e"}, "SITE_NAME must not hold characters that change the direction"),
        ({"SITE_NAME": "Petitions\nand more"}, "SITE_NAME must be one line"),
        ({"RETENTION_DAYS": "-1"}, "RETENTION_DAYS must be from 0 to 365, not -1"),
        ({"RETENTION_DAYS": "366"}, "RETENTION_DAYS must be from 0 to 365, not 366"),
        ({"RETENTION_DAYS": "30.5"}, "RETENTION_DAYS must be a whole number, not '30.5'"),
        ({"MAX_OPEN_DAYS": "0"}, "MAX_OPEN_DAYS must be from 1 to 3650, not 0"),
        ({"MAX_OPEN_DAYS": "3651"}, "MAX_OPEN_DAYS must be from 1 to 3650, not 3651"),
        ({"MAX_OPEN_DAYS": "a year"}, "MAX_OPEN_DAYS must be a whole number, not 'a year'"),
    ],
)
def test_malformed_settings_are_refused_with_a_one_line_reason(
    tmp_path: Path, environ: dict[str, str], expected: str
) -> None:
    with pytest.raises(SettingsError) as error:
        load(tmp_path, **environ)
    assert expected in str(error.value)
    assert "\n" not in str(error.value)


def test_retention_and_the_longest_open_period_default_to_30_and_365_days_and_take_their_bounds(
    tmp_path: Path,
) -> None:
    defaults = load(tmp_path)
    assert (defaults.retention_days, defaults.max_open_days) == (30, 365)
    assert load(tmp_path, RETENTION_DAYS="0", MAX_OPEN_DAYS="1").retention_days == 0
    bounds = load(tmp_path, RETENTION_DAYS="365", MAX_OPEN_DAYS="3650")
    assert (bounds.retention_days, bounds.max_open_days) == (365, 3650)


def test_an_unwritable_data_dir_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(SettingsError, match=r"DATA_DIR .* is not writable"):
        load(tmp_path, DATA_DIR=str(blocker / "data"))


def test_trusted_proxies_accept_addresses_and_networks(tmp_path: Path) -> None:
    settings = load(tmp_path, TRUSTED_PROXIES="10.0.0.1, 192.168.0.0/16,::1")
    assert [str(network) for network in settings.trusted_proxies] == ["10.0.0.1/32", "192.168.0.0/16", "::1/128"]


def documented_settings() -> set[str]:
    """The names in the first column of the README's configuration table."""
    names = set()
    for line in README.read_text().splitlines():
        match = re.match(r"^\|\s*`([A-Z_]+)`", line)
        if match:
            names.add(match.group(1))
    return names


def test_readme_documents_every_setting() -> None:
    documented = documented_settings()
    expected = {field.name.upper() for field in dataclasses.fields(Settings)}
    expected |= {f"{name}_FILE" for name in SECRET_LENGTHS}
    assert expected - documented == set(), "settings missing from the README's configuration table"
    assert documented - expected == set(), "the README documents settings that do not exist"
