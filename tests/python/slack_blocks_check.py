"""Validates Slack payloads with Slack's own Python SDK (`slack_sdk.models`).

    python3 slack_blocks_check.py DIR

Every `*.json` file under DIR is one body we send to Slack: a `chat.postMessage`, `chat.update`
or `chat.postEphemeral` body, a slash command's HTTP reply, a `response_url` reply, a view
(a file whose top-level `type` is `modal` or `home`), an options load answer (top-level
`options`), or a view submission's answer (top-level `response_action`). For each file:

- every block goes through `Block.parse` (an unknown block type is an error) and `to_dict()`,
  which runs `validate_json()` on the block and on every element and text object in it (length
  limits, required fields, empty texts); the result must equal what we sent, so a key the SDK
  does not know (a misspelt field, an element in the wrong place) is reported, not dropped;
- a view (modal or home) goes through `View(**body).to_dict()` the same way, and must equal
  what we sent; its blocks at most 100;
- an options answer: `options` a list of at most 100, each through `Option(**o).to_dict()`
  (text at most 75 characters, value at most 150) and equal to what we sent, no other key;
- a `response_action` answer: `errors` a non-empty object of non-empty strings keyed by block
  id; `update` and `push` a `view` checked as above; `clear` nothing else;
- the message itself: `text` or `blocks` present, fallback `text` a non-empty string of at most
  40,000 characters (Slack truncates beyond), at most 50 blocks (Slack's limit for messages),
  `response_type` `ephemeral` or `in_channel`, and no top-level key Slack does not document.

Prints one line per problem (`FILE: message`) and exits 1 if there is any, 0 with a count when
everything is valid, 3 when `slack_sdk` is missing (`.ci/run` installs it).
"""
import json
import logging
import os
import sys

try:
    from slack_sdk.errors import SlackObjectFormationError
    from slack_sdk.models.blocks import Block, Option
    from slack_sdk.models.views import View
except ImportError:
    print("the Python package `slack_sdk` is missing: run `python3 -m pip install slack-sdk`", file=sys.stderr)
    sys.exit(3)

MAX_MESSAGE_TEXT = 40000
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_OPTIONS = 100
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
RESPONSE_ACTIONS = {"errors", "update", "push", "clear"}
# Top-level keys of the message bodies we send (chat.postMessage, chat.update,
# chat.postEphemeral, slash command and response_url replies).
MESSAGE_KEYS = {
    "channel", "ts", "user", "text", "blocks", "thread_ts", "response_type", "replace_original",
    "delete_original", "unfurl_links", "unfurl_media", "mrkdwn",
}


class Collect(logging.Handler):
    """The SDK logs, rather than raises, when it skips an unknown block or element."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        msg = record.getMessage()
        if "skipped" in msg or "were ignored" in msg:
            self.messages.append(msg)


def diff(sent, parsed, path, out):
    """Where the SDK's round trip differs from what we sent."""
    if isinstance(sent, dict) and isinstance(parsed, dict):
        for k in sorted(set(sent) | set(parsed)):
            if k not in parsed and sent[k] in ("", [], {}):
                out.append(f"{path}.{k}: empty (Slack refuses empty texts and lists)")
            elif k not in parsed:
                out.append(f"{path}.{k}: not known to slack_sdk (dropped by the round trip)")
            elif k not in sent:
                continue  # a default the SDK fills in
            else:
                diff(sent[k], parsed[k], f"{path}.{k}", out)
    elif isinstance(sent, list) and isinstance(parsed, list):
        if len(sent) != len(parsed):
            out.append(f"{path}: {len(sent)} items sent, {len(parsed)} after the round trip")
        for i, (a, b) in enumerate(zip(sent, parsed)):
            diff(a, b, f"{path}[{i}]", out)
    elif sent != parsed:
        out.append(f"{path}: {sent!r} became {parsed!r}")


def check_blocks(blocks, limit, log):
    problems = []
    if not isinstance(blocks, list):
        return [f"blocks: must be an array, got {type(blocks).__name__}"]
    if len(blocks) == 0:
        problems.append("blocks: empty array (send no `blocks` key instead)")
    if len(blocks) > limit:
        problems.append(f"blocks: {len(blocks)} blocks, at most {limit} allowed")
    for i, raw in enumerate(blocks):
        where = f"blocks[{i}]"
        del log.messages[:]
        try:
            block = Block.parse(raw)
            if block is None:
                problems.append(f"{where}: unknown block type {raw.get('type')!r}")
                continue
            parsed = block.to_dict()
        except (SlackObjectFormationError, TypeError, ValueError, AttributeError, KeyError) as e:
            problems.append(f"{where} ({raw.get('type') if isinstance(raw, dict) else raw!r}): {e}")
            continue
        problems.extend(f"{where}: {m}" for m in log.messages)
        diff(raw, parsed, where, problems)
    return problems


def check_message(body, log):
    problems = []
    unknown = sorted(set(body) - MESSAGE_KEYS)
    if unknown:
        problems.append(f"top-level keys Slack does not document for messages: {', '.join(unknown)}")
    text = body.get("text")
    if "text" not in body and "blocks" not in body:
        problems.append("neither `text` nor `blocks`")
    if text is not None:
        if not isinstance(text, str) or not text.strip():
            problems.append(f"text: must be a non-empty string, got {text!r}")
        elif len(text) > MAX_MESSAGE_TEXT:
            problems.append(f"text: {len(text)} characters, Slack truncates beyond {MAX_MESSAGE_TEXT}")
    elif "blocks" in body:
        problems.append("text: missing fallback text (notifications and screen readers show it)")
    if "response_type" in body and body["response_type"] not in ("ephemeral", "in_channel"):
        problems.append(f"response_type: {body['response_type']!r}")
    if "blocks" in body:
        problems.extend(check_blocks(body["blocks"], MAX_MESSAGE_BLOCKS, log))
    return problems


def check_view(body, log):
    problems = []
    del log.messages[:]
    try:
        parsed = View(**body).to_dict()
    except (SlackObjectFormationError, TypeError, ValueError, AttributeError, KeyError) as e:
        return [f"view: {e}"]
    problems.extend(f"view: {m}" for m in log.messages)
    block_problems = check_blocks(body.get("blocks", []), MAX_VIEW_BLOCKS, log)
    problems.extend(block_problems)
    # The whole view must survive the round trip, blocks included (each block was checked on
    # its own above, with clearer messages; the view's own pass must agree).
    diff({k: v for k, v in body.items() if k != "blocks" or not block_problems},
         {k: v for k, v in parsed.items() if k != "blocks" or not block_problems}, "view", problems)
    return problems


def check_view_body(body, log):
    if not isinstance(body, dict):
        return [f"view: must be an object, got {type(body).__name__}"]
    if body.get("type") not in ("modal", "home"):
        return [f"view: type must be modal or home, got {body.get('type')!r}"]
    return check_view(body, log)


def check_options(body, log):
    problems = []
    unknown = sorted(set(body) - {"options"})
    if unknown:
        problems.append(f"top-level keys an options answer does not have: {', '.join(unknown)}")
    options = body["options"]
    if not isinstance(options, list):
        return problems + [f"options: must be an array, got {type(options).__name__}"]
    if len(options) > MAX_OPTIONS:
        problems.append(f"options: {len(options)} options, at most {MAX_OPTIONS} allowed")
    for i, raw in enumerate(options):
        where = f"options[{i}]"
        del log.messages[:]
        try:
            parsed = Option(**raw).to_dict()
        except (SlackObjectFormationError, TypeError, ValueError, AttributeError, KeyError) as e:
            problems.append(f"{where}: {e}")
            continue
        problems.extend(f"{where}: {m}" for m in log.messages)
        text = raw.get("text", {}).get("text") if isinstance(raw.get("text"), dict) else None
        if not isinstance(text, str) or not text.strip():
            problems.append(f"{where}.text: must be a non-empty plain_text")
        elif len(text) > MAX_OPTION_TEXT:
            problems.append(f"{where}.text: {len(text)} characters, at most {MAX_OPTION_TEXT}")
        value = raw.get("value")
        if not isinstance(value, str) or not value or len(value) > MAX_OPTION_VALUE:
            problems.append(f"{where}.value: must be 1 to {MAX_OPTION_VALUE} characters, got {value!r}")
        diff(raw, parsed, where, problems)
    return problems


def check_response_action(body, log):
    action = body.get("response_action")
    if action not in RESPONSE_ACTIONS:
        return [f"response_action: {action!r} is not one of {sorted(RESPONSE_ACTIONS)}"]
    allowed = {"response_action", "errors"} if action == "errors" else (
        {"response_action", "view"} if action in ("update", "push") else {"response_action"})
    problems = []
    unknown = sorted(set(body) - allowed)
    if unknown:
        problems.append(f"top-level keys a `{action}` answer does not have: {', '.join(unknown)}")
    if action == "errors":
        errors = body.get("errors")
        if not isinstance(errors, dict) or not errors:
            problems.append(f"errors: must be a non-empty object, got {errors!r}")
        else:
            for block_id, message in errors.items():
                if not block_id:
                    problems.append("errors: an empty block id")
                if not isinstance(message, str) or not message.strip():
                    problems.append(f"errors.{block_id}: must be a non-empty string, got {message!r}")
    elif action in ("update", "push"):
        if "view" not in body:
            problems.append(f"view: a `{action}` answer needs one")
        else:
            problems.extend(check_view_body(body["view"], log))
    return problems


def main(root):
    log = Collect()
    sdk_log = logging.getLogger("slack_sdk")
    sdk_log.setLevel(logging.DEBUG)
    sdk_log.addHandler(log)
    sdk_log.propagate = False
    files = sorted(
        os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".json")
    )
    if not files:
        print(f"no *.json files under {root}", file=sys.stderr)
        return 2
    bad = 0
    for path in files:
        name = os.path.relpath(path, root)
        with open(path, encoding="utf-8") as f:
            body = json.load(f)
        if not isinstance(body, dict):
            problems = ["the body must be a JSON object"]
        elif body.get("type") in ("modal", "home"):
            problems = check_view(body, log)
        elif "options" in body:
            problems = check_options(body, log)
        elif "response_action" in body:
            problems = check_response_action(body, log)
        else:
            problems = check_message(body, log)
        for p in problems:
            print(f"{name}: {p}")
        bad += bool(problems)
    print(f"{len(files) - bad} of {len(files)} Slack payloads valid", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
