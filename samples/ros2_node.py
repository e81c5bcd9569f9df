"""A ROS 2 node: sensor_msgs/Image in, detections and expert activation out as JSON (std_msgs/String).

    python samples/ros2_node.py --ros-args -p model:=/path/to/bundle -r image:=/camera/image_raw

Needs a ROS 2 installation (rclpy, sensor_msgs, std_msgs come with it; not pip-installable here).
It is a sketch of the wiring, kept small: a production node would publish vision_msgs.
"""
from __future__ import annotations

import json
import sys

import numpy as np

from edge_moe.errors import UserError, run_main
from edge_moe.runtime import Detector, PushSource

try:
    import rclpy
    from rclpy.node import Node
    from sensor_msgs.msg import Image
    from std_msgs.msg import String
except ImportError:  # no ROS 2 here: --help still works, running says what is needed
    rclpy = None
    Node = object

ENCODINGS = {"bgr8": 3, "rgb8": 3, "mono8": 1}


class EdgeMoeNode(Node):
    def __init__(self) -> None:
        super().__init__("edge_moe")
        self.declare_parameter("model", "")
        self.detector = Detector(self.get_parameter("model").value)
        self.feed = PushSource("ros image")
        self.publisher = self.create_publisher(String, "detections", 10)
        self.create_subscription(Image, "image", self.on_image, 1)
        self.handle = self.detector.start(self.feed, self.on_result)  # inference off the executor thread

    def on_image(self, msg: Image) -> None:
        channels = ENCODINGS.get(msg.encoding)
        if channels is None:
            self.get_logger().warning(f"unsupported encoding {msg.encoding}; expected {sorted(ENCODINGS)}")
            return
        image = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.step)[:, : msg.width * channels]
        image = image.reshape(msg.height, msg.width, channels)
        self.feed.push(image[..., ::-1].copy() if msg.encoding == "rgb8" else image)

    def on_result(self, result) -> None:
        self.publisher.publish(String(data=json.dumps(result.to_record())))


def main() -> None:
    if any(arg in ("-h", "--help") for arg in sys.argv[1:]):
        print(__doc__.strip())
        return
    if rclpy is None:
        raise UserError("needs ROS 2 (rclpy, sensor_msgs, std_msgs): source /opt/ros/<distro>/setup.bash, then run it again")
    rclpy.init()
    node = EdgeMoeNode()
    try:
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    finally:
        node.feed.close()
        node.handle.join(timeout=5)
        node.destroy_node()
        rclpy.shutdown()


if __name__ == "__main__":
    raise SystemExit(run_main(main, "ros2_node"))
