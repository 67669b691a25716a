"""Pushes with python-logging-loki (PyPI), which sends Loki v1 JSON."""
import logging
import sys

import logging_loki

url, service, run_id = sys.argv[1:4]
handler = logging_loki.LokiHandler(
    url=url + "/loki/api/v1/push",
    tags={"service_name": service, "client": "python-logging-loki"},
    version="1",
)
logger = logging.getLogger("lode-clients")
logger.setLevel(logging.INFO)
logger.addHandler(handler)
# The handler reports push failures through logging's error hook.
errors = []
handler.handleError = lambda record: errors.append(sys.exc_info()[1])
logger.info("python json line one %s", run_id)
logger.error("python json line two %s", run_id, extra={"tags": {"extra": "yes"}})
if errors:
    sys.exit("push failed: %r" % errors)
