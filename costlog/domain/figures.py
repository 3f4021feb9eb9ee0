"""How figures read, the same on the dashboard (api/static/app.js) and in ``costlog report``:
money as ``$1,234.56`` (``<$0.01`` for a cost under a cent), counts shortened as ``409.8K``,
``6.8M``, ``1.2B``, and names shortened in the middle so both ends stay readable."""

ELLIPSIS = "…"
#: (size, unit) from the largest: a count at or above ``size`` reads in that unit.
UNITS = ((10**9, "B"), (10**6, "M"), (10**3, "K"))


def money(usd: float) -> str:
    """``$1,234.56``, ``-$3.10``; a cost above zero but under a cent reads ``<$0.01`` (and a
    negative one above minus a cent ``-<$0.01``), never a misleading ``$0.00``."""
    sign = "-" if usd < 0 else ""
    size = abs(usd)
    if 0 < size < 0.01:
        return f"{sign}<$0.01"
    text = f"${size:,.2f}"
    return text if text == "$0.00" else f"{sign}{text}"


def compact(count: int) -> str:
    """A count in at most 6 characters, one decimal in a unit: 999, 5.0K, 409.8K, 6.8M, 1.2B.

    Tenths are rounded half up in integers (as the dashboard does), and the unit is chosen
    after rounding, so 999,950 reads 1.0M, not 1000.0K."""
    size = abs(count)
    for index, (unit_size, _) in enumerate(UNITS):
        if size < unit_size:
            continue
        up = index > 0 and (size * 10 + unit_size // 2) // unit_size >= 10_000
        unit_size, unit = UNITS[index - 1 if up else index]
        tenths = (size * 10 + unit_size // 2) // unit_size
        return f"{'-' if count < 0 else ''}{tenths // 10}.{tenths % 10}{unit}"
    return str(count)


def shorten_middle(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, cut in the middle with an ellipsis
    (``backend-…-service``): a name's start and end tell names apart better than its start."""
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    keep = width - 1
    head = (keep + 1) // 2
    tail = keep - head
    return f"{text[:head]}{ELLIPSIS}{text[len(text) - tail:] if tail else ''}"


def fit_names(names: list[str], width: int) -> str:
    """``names`` joined by ``, `` in at most ``width`` characters: as many whole names as fit,
    then ``+N`` for the rest (``opus, sonnet +2``); never a name cut in two."""
    joined = ", ".join(names)
    if len(joined) <= width:
        return joined
    for shown in range(len(names) - 1, 0, -1):
        text = f"{', '.join(names[:shown])} +{len(names) - shown}"
        if len(text) <= width:
            return text
    return f"+{len(names)}"
