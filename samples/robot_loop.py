"""A robot control loop around the runtime: read the newest frame, act on detections, stop cleanly.

    python samples/robot_loop.py --model bundle/ --source rtsp://robot-cam/stream

The stream keeps only the newest camera frame, so the loop never acts on stale images, and it
reconnects if the camera drops. Ctrl-C (or ``detector.stop()`` from another thread, e.g. an
e-stop handler) ends the loop; the summary covers every frame processed.
"""
import argparse
import signal

from edge_moe.errors import run_main
from edge_moe.runtime import Detector, RetryPolicy, SourceOptions, format_summary


def steer_towards(detections, frame_width: int) -> float:
    """A toy policy: turn towards the most confident box (-1 left .. 1 right), 0 when nothing is seen."""
    if len(detections) == 0:
        return 0.0
    x1, _, x2, _ = detections[detections.confidence.argmax()].xyxy[0]
    return float((x1 + x2) / frame_width - 1.0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--source", default="0")
    parser.add_argument("--conf", type=float, default=0.4)
    args = parser.parse_args()

    detector = Detector(args.model, conf=args.conf)
    signal.signal(signal.SIGTERM, lambda *_: detector.stop())  # a supervisor's stop request
    options = SourceOptions(retry=RetryPolicy(retry_for_s=None))  # a robot keeps retrying its camera
    stream = detector.stream(args.source, options)
    try:
        for result in stream:
            command = steer_towards(result.detections, result.image.shape[1])
            print(f"frame {result.frame_index}: steer {command:+.2f}  ({result.latency.total:.1f} ms, {result.fps:.1f} fps)")
    except KeyboardInterrupt:
        pass
    print(format_summary(stream.summary()))


if __name__ == "__main__":
    raise SystemExit(run_main(main, "robot_loop"))  # a bad source, bundle or value: one line, no traceback
