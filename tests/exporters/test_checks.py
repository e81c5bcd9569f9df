"""Graph checks reject what TensorRT cannot take: unknown ops, data-dependent shapes, bad TopK."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edge_moe.exporters.checks import ExportCheckError, census_table, check_graph


def model(nodes, inputs, outputs, initializers=()) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def vec(name, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def topk_model(k: int, sorted_: int = 1, as_initializer: bool = True) -> onnx.ModelProto:
    k_tensor = numpy_helper.from_array(np.array([k], np.int64), "k")
    nodes = [helper.make_node("TopK", ["x", "k"], ["v", "i"], sorted=sorted_, name="topk")]
    if not as_initializer:
        nodes.insert(0, helper.make_node("Constant", [], ["k"], value=k_tensor))
    return model(nodes, [vec("x", [1, 5000])], [vec("v", [1, k]), vec("i", [1, k], TensorProto.INT64)], [k_tensor] if as_initializer else [])


def test_good_graph_gives_census():
    m = model([helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Sigmoid", ["y"], ["z"])], [vec("x", [1, 3])], [vec("z", [1, 3])])
    report = check_graph(m, "ok")
    assert report.ops == {"Relu": 1, "Sigmoid": 1} and report.nodes == 2
    assert "| Relu | 1 | 1 | yes |" in census_table([report])


def test_topk_rules():
    assert check_graph(topk_model(2), "t").topk == [2]
    with pytest.raises(ExportCheckError, match="K=3900 must be in"):
        check_graph(topk_model(3900), "t")
    with pytest.raises(ExportCheckError, match="sorted=1"):
        check_graph(topk_model(2, sorted_=0), "t")
    with pytest.raises(ExportCheckError, match="K is not a constant initializer"):
        check_graph(topk_model(2, as_initializer=False), "t")


def test_data_dependent_ops_are_rejected():
    m = model([helper.make_node("NonZero", ["x"], ["y"], name="nz")], [vec("x", [4])], [vec("y", [1, 4], TensorProto.INT64)])
    with pytest.raises(ExportCheckError, match="NonZero .* data-dependent"):
        check_graph(m, "nz")


def test_unsupported_op_is_rejected():
    m = model([helper.make_node("Mod", ["x", "x"], ["y"], name="mod")], [vec("x", [4], TensorProto.INT64)], [vec("y", [4], TensorProto.INT64)])
    with pytest.raises(ExportCheckError, match="Mod .* not supported by TensorRT"):
        check_graph(m, "mod")


def test_dynamic_shapes_are_rejected_but_a_batch_first_dimension():
    m = model([helper.make_node("Relu", ["x"], ["y"])], [vec("x", ["n", 3])], [vec("y", ["n", 3])])
    with pytest.raises(ExportCheckError, match="dynamic shape"):
        check_graph(m, "dyn")
    m = model([helper.make_node("Relu", ["x"], ["y"])], [vec("x", [3, "batch"])], [vec("y", [3, "batch"])])
    with pytest.raises(ExportCheckError, match="dynamic shape"):
        check_graph(m, "dyn")
    check_graph(model([helper.make_node("Relu", ["x"], ["y"])], [vec("x", ["batch", 3])], [vec("y", ["batch", 3])]), "expert")


def test_checker_failure_is_one_line():
    m = model([helper.make_node("Relu", ["missing"], ["y"])], [vec("x", [1])], [vec("y", [1])])
    with pytest.raises(ExportCheckError) as error:
        check_graph(m, "broken")
    assert "onnx.checker failed" in str(error.value) and "\n" not in str(error.value)
