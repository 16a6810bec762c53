#!/usr/bin/env python3
"""Captures the body of the first POST /chat/completions a client sends.

Usage: capture_body.py OUT_FILE. Prints the base URL (…/v1) on stdout, writes
the first chat-completions body to OUT_FILE, answers it with a 400 (so rotor
records a bad request and stops), and exits. Used by bench/overhead.sh so
that oha sends exactly the request rotor sends.
"""
import http.server
import sys
import threading

OUT = sys.argv[1]


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, code):
        body = b'{"error": {"code": %d, "message": "captured"}}' % code
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.reply(404)

    def do_POST(self):
        n = int(self.headers.get("content-length", "0"))
        data = self.rfile.read(n)
        if self.path.endswith("/chat/completions"):
            with open(OUT, "wb") as f:
                f.write(data)
            self.reply(400)
            threading.Thread(target=self.server.shutdown).start()
        else:
            self.reply(404)


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(f"http://127.0.0.1:{server.server_address[1]}/v1", flush=True)
server.serve_forever()
