#!/usr/bin/env python3
"""A subscriber and a sender for the chat service, with nothing but Python's standard library.

    python3 chat.py listen --user luke --password lightsaber
    python3 chat.py send --user hans --password falcon --to luke Hey Dude
    python3 chat.py send --user hans --password falcon Hello everyone      # a broadcast

`listen` logs in, prints every event as it arrives (`hans: Hey Dude`, `hans logged in`, ...) and
reconnects with Last-Event-ID when the stream drops, so it misses nothing. Ctrl+C or SIGTERM
logs out. `send` logs in, sends, and logs out. Errors print the server's own text (`detail`)
and exit with 1. The server is http://localhost:4000 unless --server or CHAT_URL says otherwise.
"""

import argparse
import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request


class ChatError(Exception):
    """A problem+json answer: `detail` is the text the original client printed."""


def call(server, method, path, token=None, body=None):
    """One JSON request; returns the decoded answer (None for 204), raises ChatError on an error status."""
    headers = {"accept": "application/json"}
    data = None
    if token:
        headers["authorization"] = "Bearer " + token
    if body is not None:
        headers["content-type"] = "application/json"
        data = json.dumps(body).encode()
    request = urllib.request.Request(server + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = response.read()
            return json.loads(payload) if payload else None
    except urllib.error.HTTPError as error:
        try:
            problem = json.loads(error.read())
            raise ChatError(problem.get("detail") or problem.get("title")) from None
        except (ValueError, AttributeError):
            raise ChatError(f"{error.code} {error.reason}") from None


def login(server, username, password):
    return call(server, "POST", "/login", body={"username": username, "password": password})["token"]


def events(server, token):
    """Yields (event type, data) forever, reconnecting with Last-Event-ID after a drop; ends with the session."""
    last_event_id = None
    retry_seconds = 1.0
    while True:
        headers = {"authorization": "Bearer " + token, "accept": "text/event-stream"}
        if last_event_id is not None:
            headers["last-event-id"] = last_event_id
        request = urllib.request.Request(server + "/events", headers=headers)
        try:
            # The server sends a ping comment at least every 15 s: a minute of silence means a dead connection.
            with urllib.request.urlopen(request, timeout=60) as stream:
                event_type, data, event_id = "message", [], None
                for raw in stream:
                    line = raw.decode("utf-8").rstrip("\r\n")
                    if line == "":
                        if data:
                            if event_id is not None:
                                last_event_id = event_id
                            yield event_type, json.loads("\n".join(data))
                            if event_type == "session_ended":
                                return
                        event_type, data, event_id = "message", [], None
                    elif line.startswith(":"):
                        continue  # a comment: ": ping"
                    else:
                        field, _, value = line.partition(":")
                        value = value[1:] if value.startswith(" ") else value
                        if field == "event":
                            event_type = value
                        elif field == "data":
                            data.append(value)
                        elif field == "id":
                            event_id = value
                        elif field == "retry" and value.isdigit():
                            retry_seconds = int(value) / 1000
        except urllib.error.HTTPError as error:
            if error.code == 401:
                return  # the session is over
            if error.code not in (429, 503):
                raise
        except (OSError, ValueError):
            pass  # the connection dropped (the server restarted, a proxy timed out): resume below
        time.sleep(retry_seconds)


def describe(event_type, data):
    """The line the original terminal client printed for an event."""
    if event_type == "message":
        return f"{data['from']}: {data['text']}"
    if event_type == "broadcast":
        return f"{data['from']} (broadcast): {data['text']}"
    if event_type == "presence":
        return f"{data['username']} logged {'in' if data['status'] == 'online' else 'out'}"
    if event_type == "private_started":
        return f"{data['from']} started private messaging with you"
    if event_type == "private_stopped":
        return f"{data['from']} stopped private messaging with you"
    if event_type == "session_ended":
        return "Logged out after inactivity" if data["reason"] == "timeout" else "Logged out"
    return f"{event_type}: {json.dumps(data)}"


def listen(args):
    token = login(args.server, args.user, args.password)
    print(f"Logged in as {args.user}", flush=True)

    def stop(_signal, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        for event_type, data in events(args.server, token):
            print(describe(event_type, data), flush=True)
    except KeyboardInterrupt:
        call(args.server, "POST", "/logout", token)
        print("Logged out", flush=True)


def send(args):
    token = login(args.server, args.user, args.password)
    try:
        text = " ".join(args.text)
        if args.to:
            sent = call(args.server, "POST", "/messages", token, {"to": args.to, "text": text})
            print(f"to {sent['to']}: {sent['text']} ({sent['delivery']})")
        else:
            sent = call(args.server, "POST", "/broadcasts", token, {"text": text})
            print(f"broadcast to {sent['recipients']}: {sent['text']}")
            if sent.get("detail"):
                print(sent["detail"])
    finally:
        call(args.server, "POST", "/logout", token)


def main():
    parser = argparse.ArgumentParser(description="Chat from Python with the standard library only.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("listen", "send"):
        command = commands.add_parser(name)
        command.add_argument("--server", default=os.environ.get("CHAT_URL", "http://localhost:4000"))
        command.add_argument("--user", required=True)
        command.add_argument("--password", required=True)
        if name == "send":
            command.add_argument("--to", help="the recipient; without it the text is broadcast")
            command.add_argument("text", nargs="+")
    args = parser.parse_args()
    try:
        (listen if args.command == "listen" else send)(args)
    except ChatError as error:
        print(error, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
