"""Model-family normalisation."""

import pytest

from costlog.domain.models import detect_model


@pytest.mark.parametrize(
    ("model_id", "family"),
    [
        ("claude-opus-4-5-20251101", "opus"),
        ("claude-3-opus-20240229", "opus"),
        ("anthropic.claude-opus-4", "opus"),
        ("claude-sonnet-4-20250514", "sonnet"),
        ("claude-3-5-sonnet-20241022", "sonnet"),
        ("claude-3-haiku-20240307", "haiku"),
        ("claude-haiku-3-5", "haiku"),
        ("gpt-4-turbo", "unknown"),
        ("", "unknown"),
        ("CLAUDE-OPUS-4", "opus"),
        ("Claude-Sonnet", "sonnet"),
    ],
)
def test_detect_model(model_id: str, family: str) -> None:
    """Every documented example, with the default provider."""
    assert detect_model(model_id) == family


@pytest.mark.parametrize(
    ("model_id", "family"),
    [
        ("claude-sonnet-4-5-20250929", "sonnet"),
        ("anthropic.claude-3-haiku-20240307-v1:0", "haiku"),
        ("claude-opus-4-1@20250805", "opus"),
        ("us.anthropic.claude-haiku-4-5-20251001-v1:0", "haiku"),
        ("claude-instant-1.2", "unknown"),
        ("opus", "opus"),
        # Opus is looked for first, then Sonnet, then Haiku: the first family found wins.
        ("haiku-sonnet-opus", "opus"),
        ("haiku-sonnet", "sonnet"),
        ("SONNETHAIKU", "sonnet"),
    ],
)
def test_detect_model_more_claude_ids(model_id: str, family: str) -> None:
    assert detect_model(model_id) == family


@pytest.mark.parametrize("provider", ["", "claude", "Claude", "CLAUDE"])
@pytest.mark.parametrize(
    ("model_id", "family"),
    [
        ("claude-opus-4-5-20251101", "opus"),
        ("Claude-Sonnet", "sonnet"),
        ("claude-haiku-3-5", "haiku"),
        ("gpt-4-turbo", "unknown"),
        ("", "unknown"),
    ],
)
def test_claude_provider_in_any_case_matches_families(
    provider: str, model_id: str, family: str
) -> None:
    assert detect_model(model_id, provider) == family


@pytest.mark.parametrize(
    ("model_id", "provider", "expected"),
    [
        ("GPT-5", "openai", "gpt-5"),
        ("gpt-4-turbo", "openai", "gpt-4-turbo"),
        ("Gemini-2.5-Pro", "google", "gemini-2.5-pro"),
        ("claude-opus-4", "bedrock", "claude-opus-4"),
        ("anthropic.claude-3-haiku-20240307-v1:0", "aws", "anthropic.claude-3-haiku-20240307-v1:0"),
        ("", "openai", "unknown"),
        ("", "other", "unknown"),
    ],
)
def test_other_providers_keep_the_lowercased_raw_id(
    model_id: str, provider: str, expected: str
) -> None:
    assert detect_model(model_id, provider) == expected


@pytest.mark.parametrize("model_id", ["claude-3-opus-20240229", "GPT-5", ""])
def test_provider_defaults_to_claude(model_id: str) -> None:
    assert detect_model(model_id) == detect_model(model_id, "claude")
