"""Secrets kept out of logs and messages: a URL's password masked wherever it would show.

The store names its PostgreSQL URL and the queue side its Redis URL in messages; both mask
them here, so the masking rule is one and no layer reaches into another for it.
"""

from urllib.parse import unquote, urlsplit, urlunsplit

_MASK = "***"


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` — safe for logs and error messages."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparseable redis url>"
    if password is None:
        return url
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    netloc = f"{user}:{_MASK}@{hostinfo}"
    return urlunsplit(parts._replace(netloc=netloc))


def scrub(text: str, url: str | None) -> str:
    """``text`` with ``url``'s password masked wherever it appears (error messages, reprs)."""
    if not url:
        return text
    try:
        password = urlsplit(url).password
    except ValueError:
        return text
    if not password:
        return text
    text = text.replace(url, redact(url))
    for secret in {password, unquote(password)}:
        text = text.replace(secret, _MASK)
    return text
