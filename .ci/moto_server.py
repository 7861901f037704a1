"""moto_server for the tests, with DynamoDB calls serialised.

moto's in-memory DynamoDB is not thread-safe: TransactWriteItems deep-copies the tables for its
rollback while another request thread writes to them, and answers HTTP 500 ("dictionary changed
size during iteration"). Real DynamoDB evaluates each write's conditions atomically; holding one
lock around every DynamoDB request gives the stand-in the same guarantee, while the callers still
interleave between requests (so the store's compare-and-swap races are still exercised). SQS and
Secrets Manager calls are not locked, so a long-polling ReceiveMessage blocks nobody.

Usage: python .ci/moto_server.py HOST PORT
"""

import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import WSGIRequestHandler, run_simple

_dynamodb = threading.Lock()


def serialised(app):
    def wrapped(environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with _dynamodb:
                # Consume the whole response inside the lock.
                return list(app(environ, start_response))
        return app(environ, start_response)

    return wrapped


if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    # Keep-alive: without it every SDK call opens a new connection.
    WSGIRequestHandler.protocol_version = "HTTP/1.1"
    run_simple(host, port, serialised(app), threaded=True, use_reloader=False)
