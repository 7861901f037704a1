"""The usual alternative, for bench/compare.sh: a Python Slack Bolt app that verifies the Slack
signature of `/share-image` slash commands and acknowledges `help` with an ephemeral reply, the
same verification and acknowledgement `ncp-share-approver serve` does for `help`.

Served by gunicorn through Bolt's WSGI adapter (`gunicorn app:api`), as Bolt's docs suggest for
production. Reads SLACK_SIGNING_SECRET. No call leaves the machine: `authorize` answers from
memory (a single-workspace app with a token would otherwise call Slack's `auth.test` on its
first request), so the only work per request is Bolt's: signature check, parsing, routing, ack.

PEER_PROCESS_BEFORE_RESPONSE=1 sets Bolt's `process_before_response`: the listener runs on the
request's thread and its `ack` is the answer. By default (unset) Bolt runs the listener on a
thread pool and the request thread polls for the `ack` every 10 ms (`time.sleep(0.01)` in
slack_bolt/listener/thread_runner.py), which is what a Bolt app gets unless it opts out.
"""

import os

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.authorization import AuthorizeResult

# The same text as `command::USAGE` in src/http/slack/command.rs (the load generator checks for
# "Usage:" in the answer).
USAGE = """\
Usage:
• `/share-image <image-no> with <login-id>[,<login-id>...] [for <duration>] [because <reason>]`
   share an image, e.g. `/share-image 1234567 with alice@partner.example for 7d because load test`
• `/share-image revoke <image-no> from <login-id>[,<login-id>...] [because <reason>]`
• `/share-image set <image-no> to <login-id>[,<login-id>...] [because <reason>]`
   make exactly these accounts the ones the image is shared with
• `/share-image status <request-id>`   e.g. `status SR-7K3M9Q2X`
• `/share-image list <image-no>`   who the image is shared with now
• `/share-image approve <request-id>`
• `/share-image deny <request-id> [because <reason>]`
• `/share-image cancel <request-id>`
• `/share-image help`"""


def authorize(enterprise_id, team_id, logger):
    return AuthorizeResult(
        enterprise_id=enterprise_id,
        team_id=team_id,
        bot_token=os.environ.get("SLACK_BOT_TOKEN", "xoxb-peer-bench"),
        bot_user_id="U0PEERBOT",
        bot_id="B0PEERBOT",
    )


app = App(
    signing_secret=os.environ["SLACK_SIGNING_SECRET"],
    authorize=authorize,
    process_before_response=os.environ.get("PEER_PROCESS_BEFORE_RESPONSE") == "1",
)


@app.command("/share-image")
def share_image(ack, command):
    if command.get("text", "").strip().lower() == "help":
        ack(response_type="ephemeral", text=USAGE)
    else:
        ack(response_type="ephemeral", text="Only `help` is implemented in this benchmark peer.\n\n" + USAGE)


api = SlackRequestHandler(app, path="/slack/commands")
