import torch

from edge_moe.trainers.assigner import TaskAlignedAssigner


def grid_anchors(size=8, stride=8):
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    return torch.stack([xs, ys], -1).view(-1, 2) * stride  # (A, 2) pixels


def test_only_anchors_inside_the_box_become_positive_and_best_gets_its_iou():
    anchors = grid_anchors()  # 64 anchors, centres at 4, 12, 20, ...
    gt = torch.tensor([[[8.0, 8.0, 24.0, 24.0]]])  # contains the centres (12, 12), (20, 12), (12, 20), (20, 20)
    pred_boxes = gt.expand(1, 64, 4).clone()  # every anchor predicts the box exactly
    scores = torch.full((1, 64, 2), 0.5)
    out = TaskAlignedAssigner(top_k=10)(scores, pred_boxes, anchors, torch.tensor([[1]]), gt, torch.tensor([[True]]))
    positives = out.fg[0].nonzero().flatten().tolist()
    assert positives == [9, 10, 17, 18]
    assert (out.target_boxes[0, positives] == gt[0, 0]).all()
    assert out.target_scores[0, :, 0].sum() == 0  # class 0 never targeted
    torch.testing.assert_close(out.target_scores[0, positives, 1], torch.ones(4))  # IoU 1 with the box


def test_top_k_keeps_the_best_aligned_anchors():
    anchors = grid_anchors()
    gt = torch.tensor([[[0.0, 0.0, 64.0, 64.0]]])  # every anchor inside
    pred_boxes = gt.expand(1, 64, 4).clone()
    scores = torch.full((1, 64, 1), 0.1)
    scores[0, [5, 40, 63], 0] = 0.9
    out = TaskAlignedAssigner(top_k=3)(scores, pred_boxes, anchors, torch.tensor([[0]]), gt, torch.tensor([[True]]))
    assert out.fg[0].nonzero().flatten().tolist() == [5, 40, 63]


def test_anchor_claimed_by_two_boxes_keeps_the_one_it_overlaps_most():
    anchors = torch.tensor([[16.0, 16.0]])
    gts = torch.tensor([[[0.0, 0.0, 32.0, 32.0], [8.0, 8.0, 20.0, 20.0]]])
    pred = torch.tensor([[[9.0, 9.0, 21.0, 21.0]]])  # matches the small box better
    out = TaskAlignedAssigner(top_k=5)(torch.full((1, 1, 2), 0.5), pred, anchors, torch.tensor([[0, 1]]), gts, torch.tensor([[True, True]]))
    assert out.fg.tolist() == [[True]]
    assert out.target_boxes[0, 0].tolist() == [8.0, 8.0, 20.0, 20.0]
    assert out.target_scores[0, 0, 1] > 0 and out.target_scores[0, 0, 0] == 0


def test_padding_and_empty_images_give_no_positives():
    anchors = grid_anchors()
    gt = torch.zeros((2, 1, 4))
    out = TaskAlignedAssigner()(torch.rand(2, 64, 3), torch.rand(2, 64, 4) * 64, anchors, torch.zeros((2, 1), dtype=torch.long), gt, torch.zeros((2, 1), dtype=torch.bool))
    assert not out.fg.any() and out.target_scores.sum() == 0
