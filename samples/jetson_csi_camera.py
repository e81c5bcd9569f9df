"""Jetson CSI camera -> edge-moe runtime, with FPS and the experts each frame used.

    python samples/jetson_csi_camera.py --model bundle/ --sensor 0 --width 1280 --height 720 --fps 30 --flip 0

Needs JetPack's system OpenCV (built with GStreamer); pip's opencv wheels cannot open csi:// and
the runtime says so. On a desktop, pass --source 0 (a USB camera) or a video file instead.
"""
import argparse

from edge_moe.errors import run_main
from edge_moe.runtime import Detector, format_summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True, help="bundle directory")
    parser.add_argument("--sensor", type=int, default=0)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--flip", type=int, default=0, help="nvvidconv flip-method (2: upside down)")
    parser.add_argument("--source", default=None, help="override the CSI source (e.g. 0 or video.mp4)")
    parser.add_argument("--frames", type=int, default=300)
    args = parser.parse_args()

    source = args.source or f"csi://{args.sensor}?width={args.width}&height={args.height}&fps={args.fps}&flip={args.flip}"
    detector = Detector(args.model)  # backend "auto": TensorRT engines built on this Jetson, else ONNX Runtime
    stream = detector.stream(source, max_frames=args.frames)
    for result in stream:
        experts = " ".join(f"{e.layer.rsplit('.', 1)[-1]}:{e.ids.tolist()}" for e in result.experts)
        print(f"#{result.frame_index:5d} {result.fps:5.1f} fps  {len(result.detections):2d} boxes  experts {experts}")
    print(format_summary(stream.summary()))


if __name__ == "__main__":
    raise SystemExit(run_main(main, "jetson_csi_camera"))  # a bad source, bundle or value: one line, no traceback
