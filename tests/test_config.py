"""Process-wide settings: configure, reset, validation, thread safety, and no key in a repr."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

import openrouter_rx as orx
from openrouter_rx.config import DEFAULT_HEALER_MODEL, Settings, configure, settings


@pytest.fixture(autouse=True)
def default_settings() -> Iterator[None]:
    configure(reset=True)
    yield
    configure(reset=True)


def test_the_defaults() -> None:
    current = settings()
    assert current == Settings()
    assert (current.auto_heal_responses, current.healer_model, current.max_heal_attempts) == (
        False,
        DEFAULT_HEALER_MODEL,
        2,
    )
    assert (current.retries, current.track_usage, current.default_model) == (2, False, orx.DEFAULT_MODEL)
    assert current.base_url is None and current.api_key is None  # None: $OPENROUTER_BASE_URL, else OpenRouter


def test_configure_returns_and_installs_the_new_settings() -> None:
    before = settings()
    new = configure(auto_heal_responses=True, healer_model="a/healer")
    assert settings() is new and new is not before
    assert (new.auto_heal_responses, new.healer_model) == (True, "a/healer")
    assert before.auto_heal_responses is False  # the old object is unchanged (frozen)
    assert configure(retries=5).healer_model == "a/healer"  # changes accumulate


def test_reset_restores_the_defaults_then_applies_changes() -> None:
    configure(retries=7, site_name="App")
    assert configure(reset=True) == Settings()
    assert configure(reset=True, retries=1) == Settings(retries=1)


def test_unknown_names_are_a_type_error_listing_the_valid_ones() -> None:
    with pytest.raises(TypeError) as raised:
        configure(auto_heal=True)
    message = str(raised.value)
    assert "auto_heal" in message
    for name in ("api_key", "auto_heal_responses", "healer_model", "max_heal_attempts", "retries", "track_usage"):
        assert name in message
    assert settings() == Settings()  # nothing changed


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"retries": -1}, ValueError),
        ({"max_heal_attempts": 0}, ValueError),
        ({"request_timeout": 0}, ValueError),
        ({"request_timeout": "10"}, TypeError),
        ({"api_key": 123}, TypeError),
    ],
)
def test_invalid_values_are_refused(changes: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        configure(**changes)
    assert settings() == Settings()


def test_the_repr_never_shows_the_key() -> None:
    secret = "sk-or-v1-config-secret-value"
    configured = configure(api_key=secret, request_timeout=orx.Timeout(idle=30))
    assert secret not in repr(configured) and "api_key=<set>" in repr(configured)
    assert "api_key=<unset>" in repr(Settings())


def test_concurrent_changes_of_different_settings_are_all_kept() -> None:
    changes: list[dict[str, object]] = [
        {"site_name": "App"}, {"site_url": "https://app.example"}, {"healer_model": "h/m"}, {"default_model": "d/m"},
        {"retries": 4}, {"max_heal_attempts": 3}, {"track_usage": True}, {"auto_heal_responses": True},
    ]  # fmt: skip
    barrier = threading.Barrier(len(changes))

    def change(values: dict[str, object]) -> None:
        barrier.wait(5)
        for _ in range(50):
            configure(**values)

    threads = [threading.Thread(target=change, args=(values,)) for values in changes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    expected = Settings(**{name: value for values in changes for name, value in values.items()})  # type: ignore[arg-type]
    assert settings() == expected


def test_the_base_url_comes_from_openrouter_base_url_when_not_given(
    fake_openrouter: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    base_url = fake_openrouter.base_url  # type: ignore[attr-defined]
    monkeypatch.setenv("OPENROUTER_BASE_URL", base_url)
    with orx.Client() as client, orx.StreamingClient() as sc:
        assert client.base_url == base_url and sc.client.base_url == base_url
        assert client.complete_sync("hi").content
    with orx.Client(base_url="https://example.invalid/api/v1") as explicit:
        assert explicit.base_url == "https://example.invalid/api/v1"
    monkeypatch.delenv("OPENROUTER_BASE_URL")
    with orx.Client() as default:
        assert default.base_url == orx.DEFAULT_BASE_URL
