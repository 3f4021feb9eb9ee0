"""The ``costlog`` program: ``costlog statusline`` answers without loading the command line
(click and the rest), which Claude Code waits for after every message; anything else is
:func:`costlog.cli.main`."""

import sys


def main() -> int:
    if sys.argv[1:] == ["statusline"]:
        from costlog.statusline import main as statusline

        return statusline()
    from costlog.cli import main as cli

    return cli()
