import json

from edge_moe.runtime import format_summary, run_to_folder


def test_run_to_folder_leaves_every_output_in_one_place(bundle, media, tmp_path):
    outputs = run_to_folder(bundle, str(media["h264.mp4"]), tmp_path / "demo", conf=0.02, max_frames=20, progress=False)
    assert set(outputs.files) == {"jsonl", "video", "plot", "summary"}
    assert all(path.parent == tmp_path / "demo" and path.stat().st_size > 0 for path in outputs.files.values())
    assert outputs.summary["frames"] == 20 and not outputs.interrupted
    assert json.loads(outputs.files["summary"].read_text())["experts"] == outputs.summary["experts"]
    table = format_summary(outputs.summary)
    assert "end-to-end FPS" in table and "backbone.moe.p2" in table
