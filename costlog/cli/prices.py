"""``costlog prices``: the rates a model is priced at, and the model ids nothing prices."""

from datetime import date

from costlog.domain.rates import Price, Rates

#: Each dimension's label, in the order shown.
DIMENSIONS = (
    ("input", "input (uncached)"),
    ("output", "output"),
    ("cache_write", "cache write, 5 minutes"),
    ("cache_write_1h", "cache write, 1 hour"),
    ("cache_read", "cache read"),
    ("web_search", "web search"),
)
UNITS = "USD per million tokens; web search per 1,000 requests"


def usd(rate: float) -> str:
    """``$3.00``, ``$0.30``, ``$0.0625``: cents always, more digits only where the rate has
    them."""
    text = f"{rate:,.6f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"


def _columns(price: Price) -> list[tuple[str, Rates]]:
    if not price.tiers:
        return [("", price.rates)]
    first = price.tiers[0].above_input_tokens
    columns = [(f"whole input <= {first:,}", price.rates)]
    for tier in price.tiers:
        columns.append((f"> {tier.above_input_tokens:,}", tier.rates))
    return columns


def describe(model_id: str, provider: str, at: date, price: Price) -> list[str]:
    """The lines ``costlog prices MODEL`` prints: which source, then a table of every
    dimension's rate in each tier."""
    lines = [f"{model_id} ({provider}) on {at.isoformat()}: {price.source}"
             + (f" ({price.matched})" if price.matched else "")]
    columns = _columns(price)
    label_width = max(len(label) for _, label in DIMENSIONS)
    cells = [[usd(getattr(rates, name)) for _, rates in columns] for name, _ in DIMENSIONS]
    widths = [max(len(heading), *(len(row[index]) for row in cells))
              for index, (heading, _) in enumerate(columns)]
    lines.append(UNITS)
    if price.tiers:
        lines.append((" " * label_width + "".join(
            f"  {heading:>{width}}" for (heading, _), width in zip(columns, widths, strict=True))
        ).rstrip())
    for (_, label), row in zip(DIMENSIONS, cells, strict=True):
        lines.append(f"{label:<{label_width}}" + "".join(
            f"  {cell:>{width}}" for cell, width in zip(row, widths, strict=True)))
    if price.tiers:
        lines.append("A request whose whole input (uncached + cache read + cache write) is above"
                     " a tier's threshold pays that tier's rates for all of it.")
    return lines


def unpriced_lines(rows: list[tuple[str, str, int, int]]) -> list[str]:
    """``costlog prices check``'s table of (model id, provider, events, tokens)."""
    headings = ("model id", "provider", "events", "tokens")
    cells = [(model or "(empty)", provider, f"{events:,}", f"{tokens:,}")
             for model, provider, events, tokens in rows]
    widths = [max(len(heading), *(len(row[index]) for row in cells))
              for index, heading in enumerate(headings)]
    align = ("<", "<", ">", ">")
    return ["  ".join(f"{cell:{side}{width}}" for cell, side, width in
                      zip(row, align, widths, strict=True)).rstrip()
            for row in (headings, *cells)]
