"""Real loopback stream servers for the tests: an HTTP MJPEG server (Python) and an RTSP server
(Debian's rtsp-server-perl) fed by ffmpeg."""
from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

import cv2
import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


class MjpegServer:
    """multipart/x-mixed-replace JPEG frames at ``fps`` on http://127.0.0.1:PORT/stream.mjpg.
    ``stop_after`` frames, the connection is closed (a stream dying mid-run)."""

    def __init__(self, fps: float = 20.0, size: tuple[int, int] = (240, 320), stop_after: Optional[int] = None):
        self.fps, self.size, self.stop_after = fps, size, stop_after
        self.connections = 0
        self.stopped = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                if self.path != "/stream.mjpg":
                    self.send_error(404)
                    return
                server.connections += 1
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                i = 0
                try:
                    while (server.stop_after is None or i < server.stop_after) and not server.stopped.is_set():
                        image = np.full((*server.size, 3), (i * 7) % 255, np.uint8)
                        cv2.putText(image, str(i), (10, 60), cv2.FONT_HERSHEY_SIMPLEX, 2, (0, 0, 255), 3)
                        jpeg = cv2.imencode(".jpg", image)[1].tobytes()
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg) + jpeg + b"\r\n")
                        i += 1
                        time.sleep(1.0 / server.fps)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/stream.mjpg"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stopped.set()  # open connections end too
        self.httpd.shutdown()
        self.httpd.server_close()


class RtspServer:
    """rtsp-server-perl on loopback; :meth:`publish` starts ffmpeg pushing an H.264 test pattern."""

    BINARY = "rtsp-server-perl"

    @classmethod
    def missing(cls) -> Optional[str]:
        for binary in (cls.BINARY, "ffmpeg"):
            if shutil.which(binary) is None:
                return f"{binary} is not installed (apt-get install rtsp-server-perl ffmpeg)"
        return None

    def __init__(self):
        self.client_port, self.source_port = free_port(), free_port()
        self.publisher: Optional[subprocess.Popen] = None
        self.url = f"rtsp://127.0.0.1:{self.client_port}/test"
        self.start()

    def start(self) -> None:
        """Starts the server on this object's ports (again, after :meth:`close`: a camera that reboots)."""
        self.server = subprocess.Popen(
            [self.BINARY, "--clientport", str(self.client_port), "--serverport", str(self.source_port),
             "--client_listen_address", "127.0.0.1", "--source_listen_address", "127.0.0.1", "--loglevel", "1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not (wait_for_port(self.client_port) and wait_for_port(self.source_port)):
            self.close()
            raise RuntimeError("rtsp-server-perl did not start")

    def publish(self, fps: int = 15, seconds: Optional[float] = None) -> None:
        duration = ["-t", str(seconds)] if seconds else []
        self.publisher = subprocess.Popen(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", f"testsrc=size=320x240:rate={fps}", *duration,
             "-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "ultrafast", "-tune", "zerolatency", "-g", str(fps),
             "-f", "rtsp", f"rtsp://127.0.0.1:{self.source_port}/test"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # the server announces the mount once ffmpeg has sent its SDP

    def unpublish(self) -> None:
        if self.publisher is not None:
            self.publisher.send_signal(signal.SIGKILL)
            self.publisher.wait(5)
            self.publisher = None

    def close(self) -> None:
        self.unpublish()
        self.server.terminate()
        try:
            self.server.wait(5)
        except subprocess.TimeoutExpired:
            self.server.kill()
