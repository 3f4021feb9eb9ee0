"""The worker entry point: ``python worker.py [OPTIONS]`` is ``costlog worker [OPTIONS]``.

Same options, same defaults (settings from the ``COSTLOG_*`` variables, Redis at
``redis://127.0.0.1:6379/0`` when ``COSTLOG_REDIS_URL`` is unset).
"""

from costlog.cli import worker

if __name__ == "__main__":
    worker.main(prog_name="worker.py", help_option_names=["-h", "--help"])
