"""The price catalogue loads on the first price looked up, not with the modules that use it: a
command that prices nothing (an import with nothing new, the status line) never pays for it."""

from tests.support.processes import modules_loaded, within


def test_the_import_command_loads_no_catalogue_until_it_prices() -> None:
    loaded = modules_loaded("import costlog.cli.claude_logs, costlog.cli.importer")
    assert within(loaded, ("genai_prices", "pydantic")) == []
    assert "costlog.domain.catalogue" in loaded  # the check sees the module that would load it


def test_the_first_price_loads_it() -> None:
    loaded = modules_loaded(
        "from costlog.domain.catalogue import find_model;"
        " assert find_model('claude-sonnet-4-5-20250929') is not None")
    assert "genai_prices" in loaded
