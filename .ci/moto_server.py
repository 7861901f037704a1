"""moto_server for the tests, with DynamoDB calls serialised.

moto's in-memory DynamoDB is not thread-safe: TransactWriteItems deep-copies the tables for its
rollback while another request thread writes to them, and answers HTTP 500 ("dictionary changed
size during iteration"). Real DynamoDB evaluates each write's conditions atomically; holding one
lock around every DynamoDB request gives the stand-in the same guarantee, while the callers still
interleave between requests (so the store's compare-and-swap races are still exercised). SQS and
Secrets Manager calls are not locked, so a long-polling ReceiveMessage blocks nobody.

IAM: with INITIAL_NO_AUTH_ACTION_COUNT set (deploy/local-e2e.sh sets it), moto checks every later
call against the caller's IAM policies. moto itself checks the action of every service but the
resource only for S3 and SQS; this launcher adds what AWS does for the two services the functions
use by ARN: DynamoDB calls are checked against the table's ARN (`table/NAME`, `table/NAME/index/
INDEX` for an index query or scan), a TransactWriteItems or TransactGetItems item by item with
the underlying action (Put: PutItem, Update: UpdateItem, Delete: DeleteItem, ConditionCheck:
ConditionCheckItem, Get: GetItem; there is no IAM action named after the transaction), and a
Secrets Manager call against the secret's ARN. A refusal to these JSON-protocol services (and
SQS) is answered as AWS does, a JSON AccessDeniedException naming the action and the resource
(moto answers XML, which the SDKs cannot parse). Without enforcement nothing changes.

Usage: python .ci/moto_server.py HOST PORT
"""

import json
import sys
import threading
from urllib.parse import urlparse

from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import AccessDeniedError, JsonRESTError
from moto.dynamodb.responses import DynamoHandler
from moto.iam.access_control import IAMRequest
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.secretsmanager.responses import SecretsManagerResponse
from moto.sqs.responses import SQSResponse
from moto.utilities.utils import get_partition
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


_TRANSACTION_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


def _dynamodb_checks(handler):
    """The (action, resource ARN) pairs AWS authorises for one DynamoDB request."""
    action = handler._get_action()
    raw = handler.raw_body or b"{}"
    body = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    prefix = f"arn:{get_partition(handler.region)}:dynamodb:{handler.region}:{handler.current_account}:table/"

    def arn(table, index=None):
        base = table if table.startswith("arn:") else prefix + table
        return f"{base}/index/{index}" if index else base

    if action in ("TransactWriteItems", "TransactGetItems"):
        return [
            (_TRANSACTION_ITEM_ACTIONS[kind], arn(spec["TableName"]))
            for item in body.get("TransactItems", [])
            for kind, spec in item.items()
        ]
    if action in ("BatchWriteItem", "BatchGetItem"):
        return [(action, arn(table)) for table in body.get("RequestItems", {})]
    if "TableName" in body:
        return [(action, arn(body["TableName"], body.get("IndexName")))]
    return [(action, "*")]


class _AccessDenied(JsonRESTError):
    code = 403


def _authorize_each(handler, checks):
    """moto's own check (ActionAuthenticatorMixin), once per (action, resource) pair."""
    if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
        ActionAuthenticatorMixin.request_count += 1
        return
    path = handler.raw_path
    query = urlparse(handler.uri).query
    if query:
        path += "?" + query
    for action, resource in checks:
        request = IAMRequest(
            account_id=handler.current_account,
            method=handler.method,
            path=path,
            data=handler.data,
            body=handler.raw_body,
            headers=handler.headers,
            action=action,
        )
        request.check_signature()
        try:
            request.check_action_permitted(resource)
        except AccessDeniedError as e:
            raise _AccessDenied(
                "AccessDeniedException",
                f"{e.message} on resource: {resource} because no identity-based policy allows "
                f"the {request._action} action",
            ) from None


def _dynamodb_authorize(self, resource="*"):
    _authorize_each(self, _dynamodb_checks(self))


def _single_authorize(self, resource="*"):
    _authorize_each(self, [(self._get_action(), resource)])


def _secret_resource(self):
    secret_id = self._get_param("SecretId")
    if not secret_id:
        return "*"
    if secret_id.startswith("arn:"):
        return secret_id
    try:
        return self.backend.describe_secret(secret_id).arn
    except Exception:
        return "*"


DynamoHandler._authenticate_and_authorize_normal_action = _dynamodb_authorize
SecretsManagerResponse._determine_resource = _secret_resource
SecretsManagerResponse._authenticate_and_authorize_normal_action = _single_authorize
SQSResponse._authenticate_and_authorize_normal_action = _single_authorize


if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    # Keep-alive: without it every SDK call opens a new connection.
    WSGIRequestHandler.protocol_version = "HTTP/1.1"
    run_simple(host, port, serialised(app), threaded=True, use_reloader=False)
