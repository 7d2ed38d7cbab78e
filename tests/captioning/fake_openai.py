"""A local HTTP server speaking OpenAI's chat-completions protocol, for the real `openai` SDK.

Replies are scripted, one per request, in order; the last one repeats:
    {"json": {...}}          a completion whose message content is that object as JSON
    {"content": "text"}      a completion with this raw content
    {"status": 429}          an error status (with an OpenAI-style error body)
    {"sleep": 3.0}           wait that long before answering (to make the client time out)
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeChatServer:
    def __init__(self, script: list[dict]):
        self.script = list(script)
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    server.requests.append(
                        {
                            "path": self.path,
                            "body": body,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "received_at": time.monotonic(),
                        }
                    )
                    step = server.script.pop(0) if len(server.script) > 1 else server.script[0]
                if "sleep" in step:
                    time.sleep(step["sleep"])
                    step = {"json": step.get("then", {})}
                if "status" in step:
                    payload = {"error": {"message": f"scripted {step['status']}", "type": "scripted"}}
                    self._send(step["status"], payload, {"retry-after-ms": "10"})
                    return
                content = step["content"] if "content" in step else json.dumps(step["json"], ensure_ascii=False)
                self._send(
                    200,
                    {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", "fake"),
                        "choices": [
                            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
                        ],
                        "usage": {"prompt_tokens": 120, "completion_tokens": 80, "total_tokens": 200},
                    },
                )

            def _send(self, status, payload, headers=None):
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
