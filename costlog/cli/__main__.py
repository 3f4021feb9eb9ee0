"""``python -m costlog.cli`` is ``costlog``."""

from costlog.cli import main

main()
