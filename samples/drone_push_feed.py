"""Push-style feeds (a drone SDK that hands frames to a callback) with results through a callback.

    python samples/drone_push_feed.py --model bundle/ --video flight.mp4

The "SDK" here is a thread replaying a video at its frame rate and calling ``on_frame`` like a
drone SDK would; replace it with the SDK's callback registration. Frames that arrive while the
model is busy are dropped (counted): results always describe the newest frame.
"""
import argparse
import threading
import time

import cv2

from edge_moe.errors import UserError, run_main
from edge_moe.runtime import Detector, PushSource, format_summary


def fake_drone_sdk(cap: cv2.VideoCapture, on_frame, stop: threading.Event) -> None:
    period = 1.0 / (cap.get(cv2.CAP_PROP_FPS) or 30.0)
    while not stop.is_set():
        ok, frame = cap.read()
        if not ok:
            break
        on_frame(frame)  # what the SDK's frame callback would do
        time.sleep(period)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--video", required=True, help="stands in for the drone's camera")
    args = parser.parse_args()

    cap = cv2.VideoCapture(args.video)
    if not cap.isOpened():
        raise UserError(f"--video {args.video}: cannot open this video (missing, unreadable or not a video)")
    detector = Detector(args.model)
    feed = PushSource("drone camera")

    def on_result(result) -> None:
        busiest = [int(e.ids[0]) for e in result.experts]
        print(f"frame {result.frame_index}: {len(result.detections)} objects, top expert per layer {busiest}, {result.fps:.1f} fps")

    handle = detector.start(feed, on_result)  # inference in a background thread
    stop = threading.Event()
    sdk = threading.Thread(target=fake_drone_sdk, args=(cap, feed.push, stop))
    sdk.start()
    try:
        sdk.join()
    except KeyboardInterrupt:
        stop.set()
    feed.close()  # the end of the feed ends the stream
    summary = handle.join()
    print(format_summary(summary))
    if summary["frames"] == 0:
        raise UserError(f"--video {args.video}: no frame could be processed")


if __name__ == "__main__":
    raise SystemExit(run_main(main, "drone_push_feed"))  # a bad source, bundle or value: one line, no traceback
