"""Keep secrets out of the access log: an invitation link's token is a password until it is used.

uvicorn logs every request line, path included; `/invite/<token>` would put a live,
single-use login link into log files that operators, log shippers and backups read.
`redact_access_log` installs a filter on uvicorn's access logger that rewrites such paths
to `/invite/[redacted]` before any handler sees them.
"""

from __future__ import annotations

import logging
import re

SECRET_PATHS = re.compile(r"(/invite/)[^/?#\s\"]+")


class RedactSecrets(logging.Filter):
    """Replace secret path segments in a log record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drop it."""
        if isinstance(record.args, tuple):
            record.args = tuple(
                SECRET_PATHS.sub(r"\1[redacted]", arg) if isinstance(arg, str) else arg for arg in record.args
            )
        if isinstance(record.msg, str):
            record.msg = SECRET_PATHS.sub(r"\1[redacted]", record.msg)
        return True


def redact_access_log(logger_name: str = "uvicorn.access") -> None:
    """Install `RedactSecrets` on the access logger (once, however many apps are built)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(existing, RedactSecrets) for existing in logger.filters):
        logger.addFilter(RedactSecrets())
