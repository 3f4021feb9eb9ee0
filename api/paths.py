"""Route path templates as OpenAPI and metrics show them."""

import re

#: Starlette's ``{name:convertor}`` is OpenAPI's ``{name}``.
CONVERTOR_RE = re.compile(r"\{(\w+):\w+\}")


def template(path: str) -> str:
    """``/api/initiatives/{id:path}/cost`` → ``/api/initiatives/{id}/cost``."""
    return CONVERTOR_RE.sub(r"{\1}", path)
