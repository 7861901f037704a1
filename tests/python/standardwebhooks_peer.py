"""A Standard Webhooks peer built on the reference `standardwebhooks` package.

`send URL SECRET`   signs the JSON body read from stdin with the package and POSTs it to URL, the
                    way a real sender does; prints {"status": ..., "body": ...}.
`verify SECRET`     reads {"headers": {...}, "body": "..."} from stdin and verifies it with the
                    package, as a real receiver of our callbacks does; prints "verified".

Exit code 3 with a clear message when the package is missing (`.ci/run` installs it).
"""
import json
import sys
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone

try:
    from standardwebhooks.webhooks import Webhook
except ImportError:
    print("the Python package `standardwebhooks` is missing: run `python3 -m pip install standardwebhooks`", file=sys.stderr)
    sys.exit(3)


def send(url, secret):
    body = sys.stdin.read()
    msg_id = "msg_" + uuid.uuid4().hex
    now = datetime.now(tz=timezone.utc)
    signature = Webhook(secret).sign(msg_id, now, body)
    req = urllib.request.Request(url, data=body.encode("utf-8"), method="POST", headers={
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    })
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            status, text = res.status, res.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode("utf-8")
    print(json.dumps({"status": status, "body": text}))


def verify(secret):
    msg = json.loads(sys.stdin.read())
    Webhook(secret).verify(msg["body"], msg["headers"])
    print("verified")


if __name__ == "__main__":
    if sys.argv[1] == "send":
        send(sys.argv[2], sys.argv[3])
    else:
        verify(sys.argv[2])
