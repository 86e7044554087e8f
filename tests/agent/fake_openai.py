"""A scripted OpenAI-compatible chat-completions server on loopback (a test fixture).

It stands in for the LLM provider only: the agent under test speaks real HTTP to it. Each
``POST /chat/completions`` takes the next scripted reply from a queue; every request body and
its headers are kept so tests can assert what the agent sent.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer: a chat-completion body, or an HTTP error, after ``delay`` seconds."""

    body: dict[str, Any] | None = None
    status: int = 200
    raw: bytes | None = None
    delay: float = 0.0


def _completion(
    message: dict[str, Any], finish_reason: str, prompt_tokens: int, completion_tokens: int
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": "scripted",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def answer(text: str, *, prompt_tokens: int = 100, completion_tokens: int = 20, **kw: Any) -> Reply:
    """A final assistant answer without tool calls."""
    message = {"role": "assistant", "content": text}
    return Reply(_completion(message, "stop", prompt_tokens, completion_tokens), **kw)


def tool_call(
    name: str,
    arguments: dict[str, Any] | None = None,
    *,
    call_id: str = "call_1",
    prompt_tokens: int = 100,
    completion_tokens: int = 10,
    **kw: Any,
) -> Reply:
    """An assistant turn that asks for one tool call."""
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments or {})},
            }
        ],
    }
    return Reply(_completion(message, "tool_calls", prompt_tokens, completion_tokens), **kw)


def refusal(text: str = "I can't help with that.", **kw: Any) -> Reply:
    """A structured refusal (the ``refusal`` field of the assistant message)."""
    message = {"role": "assistant", "content": None, "refusal": text}
    return Reply(_completion(message, "stop", 50, 8), **kw)


def http_error(status: int, message: str = "upstream error", **kw: Any) -> Reply:
    """An HTTP error with an OpenAI-style error body."""
    body = {"error": {"message": message, "type": "server_error"}}
    return Reply(body, status=status, **kw)


@dataclass
class FakeOpenAI:
    """The running server: ``url`` is the base URL (``http://127.0.0.1:PORT/v1``)."""

    replies: deque[Reply] = field(default_factory=deque)
    # answers a request when no scripted reply is queued (request body -> reply)
    responder: Callable[[dict[str, Any]], Reply] | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    url: str = ""
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, *replies: Reply) -> None:
        """Queue replies, served in order."""
        with self._lock:
            self.replies.extend(replies)

    def start(self) -> FakeOpenAI:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length)
                with fake._lock:
                    fake.requests.append(json.loads(data))
                    fake.headers.append(dict(self.headers.items()))
                    reply = fake.replies.popleft() if fake.replies else None
                    if reply is None and fake.responder is not None:
                        reply = fake.responder(fake.requests[-1])
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, b'{"error": {"message": "not found"}}')
                    return
                if reply is None:
                    self._send(500, b'{"error": {"message": "no scripted reply left"}}')
                    return
                if reply.delay:
                    time.sleep(reply.delay)
                raw = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
                self._send(reply.status, raw)

            def _send(self, status: int, raw: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        threading.Thread(
            target=server.serve_forever, args=(0.02,), name="fake-openai", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
