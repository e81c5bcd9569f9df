import numpy as np
import pytest

from edge_moe.runtime.preprocess import InputSpec, as_bgr, letterbox, prepare, to_tensor


@pytest.mark.parametrize("shape", [(480, 640, 3), (641, 359, 3), (37, 1001, 3), (256, 256, 3), (1, 1, 3), (300, 200), (300, 200, 1), (90, 120, 4)])
def test_prepare_any_frame_to_model_input(shape):
    frame = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    tensor, box, bgr = prepare(frame, InputSpec(256, 320))
    assert tensor.shape == (1, 3, 256, 320) and tensor.dtype == np.float32
    assert bgr.shape == (*shape[:2], 3)
    assert 0.0 <= tensor.min() and tensor.max() <= 1.0


def test_letterbox_is_centred_and_boxes_map_back_exactly():
    frame = np.zeros((100, 200, 3), np.uint8)  # landscape into a square input
    canvas, box = letterbox(frame, 256, 256)
    assert canvas.shape == (256, 256, 3) and box.scale == pytest.approx(1.28) and box.pad_x == 0 and box.pad_y == 64
    assert (canvas[:64] == 114).all() and (canvas[64:192] == 0).all() and (canvas[192:] == 114).all()
    frame_boxes = np.array([[10, 20, 110, 90], [0, 0, 200, 100]], np.float32)
    input_boxes = frame_boxes * box.scale + [box.pad_x, box.pad_y, box.pad_x, box.pad_y]
    np.testing.assert_allclose(box.to_frame(input_boxes), frame_boxes, atol=1e-4)
    np.testing.assert_allclose(box.to_frame(np.array([[-50, -50, 999, 999]], np.float32)), [[0, 0, 200, 100]])


def test_portrait_frame_pads_left_and_right():
    _, box = letterbox(np.zeros((640, 320, 3), np.uint8), 320, 320)
    assert box.pad_y == 0 and box.pad_x == 80 and box.scale == 0.5


def test_normalisation_and_channel_order_follow_the_spec():
    image = np.zeros((2, 2, 3), np.uint8)
    image[..., 0] = 255  # blue in BGR
    rgb = to_tensor(image, InputSpec(2, 2, rgb=True, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)))
    assert rgb[0, 2].tolist() == [[1.0, 1.0], [1.0, 1.0]] and rgb[0, 0].tolist() == [[-1.0, -1.0], [-1.0, -1.0]]
    bgr = to_tensor(image, InputSpec(2, 2, rgb=False))
    assert bgr[0, 0, 0, 0] == 1.0 and bgr[0, 2, 0, 0] == 0.0


def test_gray_becomes_three_equal_channels_and_bad_frames_are_refused():
    out = as_bgr(np.full((5, 7), 40, np.uint8))
    assert out.shape == (5, 7, 3) and (out == 40).all()
    with pytest.raises(ValueError, match="uint8"):
        as_bgr(np.zeros((5, 7, 3), np.float32))
    with pytest.raises(ValueError, match="shape"):
        as_bgr(np.zeros((5, 7, 2), np.uint8))
