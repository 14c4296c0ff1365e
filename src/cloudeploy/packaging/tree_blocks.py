"""A forest's graph for batch scoring: its trees in blocks that stay in the CPU's cache.

onnxruntime's tree ensemble walks every tree for one row before it starts the
next row. A 100-tree forest of depth 12 holds ~100,000 nodes (a few MiB), more
than a core's L2 cache, so each row fetches the whole forest again; scikit-learn
walks one tree over all rows instead. Splitting the ensemble into blocks
(:data:`NODES_PER_BLOCK`), each a ``TreeEnsembleRegressor`` summing its trees'
leaf weights, and adding the blocks' sums keeps a block in cache while it scores
a whole batch. Measured on this machine for the batch bench's forest (~1,000
nodes a tree; one thread, 17,476-row calls, two such processes at once as in a
batch job): 4.5 µs a row with a tree per block, 4.6 with two, 5.0–5.3 with six,
5.3–5.6 with twelve, against 6.2 in one block and 6.7 for skl2onnx's
``TreeEnsembleClassifier``. A single row costs ~19 µs instead of ~15 with ten
blocks, which is why serving keeps the original graph.

:func:`block_trees` rewrites a graph made of exactly one tree-ensemble node whose
answer is a plain sum (or average) of leaf weights, and answers with the same
output names and types (a classifier's ``label`` and ``probabilities``, a
regressor's values). The blocks' sums are added in double precision, and a
classifier's label is the first class within :data:`TIE` of the largest
probability: a tie of votes (20 of 40 trees) gets scikit-learn's label, which
float32 sums in one node cannot promise. Anything else (a pipeline's graph, a boosted model's
``post_transform``, double-precision tensors) gives None. The caller verifies the
blocked graph like any compiled graph: summing in another order moves float32
results by ulps, which may flip a label exactly on a tie.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from cloudeploy import lazy

onnx = lazy.module("onnx")
helper = lazy.module("onnx.helper")

#: Probabilities (in double) this close to the largest count as a tie, as scikit-learn's
#: argmax would see them: the leaf weights are float32, which moves a probability by at
#: most ~6e-8 (a tenth of the serving graph's float32 sums' tie tolerance).
TIE = 1e-7

#: Nodes per block: a deep tree has a block of its own, shallow trees share one
#: (a depth-6 tree has ~127 nodes). Smaller blocks only add graph nodes.
NODES_PER_BLOCK = 512

_ML = "ai.onnx.ml"
_NODE_ATTRIBUTES = (
    "nodes_featureids", "nodes_values", "nodes_modes", "nodes_nodeids",
    "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true", "nodes_hitrates",
)


def block_trees(onnx_bytes: bytes, nodes_per_block: int = NODES_PER_BLOCK) -> tuple[bytes, int] | None:
    """(the blocked graph, its number of blocks), or None when the graph is not one plain forest
    or fits in one block."""
    model = onnx.load_model_from_string(onnx_bytes)
    graph = model.graph
    if len(graph.node) != 1 or len(graph.input) != 1:
        return None
    node = graph.node[0]
    if node.domain != _ML or node.op_type not in ("TreeEnsembleClassifier", "TreeEnsembleRegressor"):
        return None
    attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if any(name.endswith("_as_tensor") for name in attributes) or attributes.get("post_transform", b"NONE") != b"NONE":
        return None
    if list(node.input) != [graph.input[0].name]:
        return None
    if node.op_type == "TreeEnsembleClassifier":
        leaves = _classifier_leaves(attributes)
    else:
        leaves = _regressor_leaves(attributes)
    if leaves is None:
        return None
    blocks = _blocks(attributes, nodes_per_block)
    if len(blocks) < 2:
        return None
    width = leaves["targets"]
    nodes_of, leaves_of = _positions_by_tree(attributes["nodes_treeids"]), _positions_by_tree(leaves["trees"])
    nodes, sums = [], []
    for index, trees in enumerate(blocks):
        name = f"block_{index}"
        sums.append(f"{name}_double")
        nodes.append(helper.make_node(
            "TreeEnsembleRegressor", [node.input[0]], [name], domain=_ML, name=name,
            n_targets=width, aggregate_function="SUM", post_transform="NONE",
            **_block_attributes(attributes, leaves, trees, nodes_of, leaves_of),
        ))
        nodes.append(helper.make_node("Cast", [name], [f"{name}_double"], to=onnx.TensorProto.DOUBLE))
    if leaves["scale"] == 1:
        nodes.append(helper.make_node("Sum", sums, ["scores"]))
    else:  # an average over the trees
        nodes.append(helper.make_node("Sum", sums, ["summed"]))
        nodes.append(_constant("scale", float(leaves["scale"])))
        nodes.append(helper.make_node("Div", ["summed", "scale"], ["scores"]))
    outputs = list(node.output)
    opsets = _opsets(model)
    if node.op_type == "TreeEnsembleClassifier":
        opset = next(o.version for o in opsets if o.domain == "")
        nodes.extend(_classifier_outputs(attributes, leaves, outputs, opset))
    else:
        nodes.extend(_regressor_outputs(attributes, leaves, outputs))
    blocked = helper.make_graph(nodes, f"{graph.name}_blocked", list(graph.input), list(graph.output))
    result = helper.make_model(blocked, opset_imports=opsets, producer_name="cloudeploy")
    result.ir_version = model.ir_version
    onnx.checker.check_model(result)
    return result.SerializeToString(), len(blocks)


def _classifier_leaves(attributes: dict[str, Any]) -> dict[str, Any] | None:
    """The leaf weights of a classifier whose probabilities are their sums (binary: one column)."""
    labels = attributes.get("classlabels_int64s") or attributes.get("classlabels_strings")
    if not labels or any(attributes.get("base_values") or []):
        return None
    ids = attributes["class_ids"]
    weights = attributes["class_weights"]
    distinct = sorted(set(ids))
    binary = len(labels) == 2 and distinct == [0]
    if binary and any(w < 0 for w in weights):
        return None  # onnxruntime's binary rule for signed scores is not a probability
    if not binary and distinct != list(range(len(labels))):
        return None
    return {
        "trees": attributes["class_treeids"], "nodes": attributes["class_nodeids"], "ids": ids,
        "weights": weights, "scale": 1, "targets": 1 if binary else len(labels), "binary": binary,
    }


def _regressor_leaves(attributes: dict[str, Any]) -> dict[str, Any] | None:
    if attributes.get("aggregate_function", b"SUM") not in (b"SUM", b"AVERAGE"):
        return None
    average = attributes.get("aggregate_function", b"SUM") == b"AVERAGE"
    return {
        "trees": attributes["target_treeids"], "nodes": attributes["target_nodeids"],
        "ids": attributes["target_ids"], "weights": attributes["target_weights"],
        "scale": len(set(attributes["nodes_treeids"])) if average else 1,
        "targets": int(attributes.get("n_targets", 1)), "binary": False,
    }


def _blocks(attributes: dict[str, Any], nodes_per_block: int) -> list[set[int]]:
    """Consecutive tree ids, grouped until a block holds ``nodes_per_block`` nodes."""
    sizes: dict[int, int] = defaultdict(int)
    for tree in attributes["nodes_treeids"]:
        sizes[tree] += 1
    blocks: list[set[int]] = [set()]
    held = 0
    for tree in sorted(sizes):
        if held >= nodes_per_block:
            blocks.append(set())
            held = 0
        blocks[-1].add(tree)
        held += sizes[tree]
    return blocks


def _positions_by_tree(tree_ids: list[int]) -> dict[int, list[int]]:
    """Where each tree's entries sit in an attribute list, computed once for all blocks."""
    positions: dict[int, list[int]] = defaultdict(list)
    for index, tree in enumerate(tree_ids):
        positions[tree].append(index)
    return positions


def _block_attributes(attributes: dict[str, Any], leaves: dict[str, Any], trees: set[int],
                      nodes_of: dict[int, list[int]], leaves_of: dict[int, list[int]]) -> dict[str, Any]:
    """The node and leaf attributes of ``trees``, tree ids renumbered from 0; ``nodes_of`` and
    ``leaves_of`` (:func:`_positions_by_tree`) say where each tree's nodes and leaves are."""
    renumber = {tree: index for index, tree in enumerate(sorted(trees))}
    kept_nodes = [i for tree in sorted(trees) for i in nodes_of[tree]]
    block = {"nodes_treeids": [renumber[attributes["nodes_treeids"][i]] for i in kept_nodes]}
    for name in _NODE_ATTRIBUTES:
        values = attributes.get(name)
        if values:
            picked = [values[i] for i in kept_nodes]
            block[name] = [v.decode() for v in picked] if name == "nodes_modes" else picked
    kept_leaves = [i for tree in sorted(trees) for i in leaves_of[tree]]
    block["target_treeids"] = [renumber[leaves["trees"][i]] for i in kept_leaves]
    block["target_nodeids"] = [leaves["nodes"][i] for i in kept_leaves]
    block["target_ids"] = [leaves["ids"][i] for i in kept_leaves]
    block["target_weights"] = [leaves["weights"][i] for i in kept_leaves]
    return block


def _classifier_outputs(attributes: dict[str, Any], leaves: dict[str, Any], outputs: list[str],
                        opset: int) -> list[Any]:
    """``label`` and ``probabilities`` from the scores (double), as the classifier node answers them.

    The label is the first class of largest probability, taken in double
    precision: a tie of votes (20 of 40 trees) is exact there, as in scikit-learn.
    """
    label_name, probabilities_name = outputs[0], outputs[1] if len(outputs) > 1 else "probabilities"
    nodes = []
    if leaves["binary"]:  # the score is the second class's probability
        nodes.append(_constant("one", 1.0))
        nodes.append(helper.make_node("Sub", ["one", "scores"], ["complement"]))
        nodes.append(helper.make_node("Concat", ["complement", "scores"], ["class_scores"], axis=1))
    else:
        nodes.append(helper.make_node("Identity", ["scores"], ["class_scores"]))
    nodes.append(helper.make_node("Cast", ["class_scores"], [probabilities_name], to=onnx.TensorProto.FLOAT))
    labels = attributes.get("classlabels_int64s")
    if labels:
        table = helper.make_tensor("class_labels", onnx.TensorProto.INT64, [len(labels)], list(labels))
    else:
        strings = attributes["classlabels_strings"]
        table = helper.make_tensor("class_labels", onnx.TensorProto.STRING, [len(strings)], list(strings))
    nodes.append(helper.make_node("Constant", [], ["class_table"], value=table))
    # The first class within TIE of the largest: scikit-learn's argmax, up to the float32 rounding
    # of the stored leaf weights (at most ~6e-8 on a probability, summed in double).
    nodes.extend(_reduce_max("class_scores", "top", opset))
    nodes.append(_constant("tie", TIE))
    nodes.append(helper.make_node("Sub", ["top", "tie"], ["floor"]))
    nodes.append(helper.make_node("GreaterOrEqual", ["class_scores", "floor"], ["near_top"]))
    nodes.append(helper.make_node("Cast", ["near_top"], ["near_top_int"], to=onnx.TensorProto.INT32))
    nodes.append(helper.make_node("ArgMax", ["near_top_int"], ["class_index"], axis=1, keepdims=0))
    nodes.append(helper.make_node("Gather", ["class_table", "class_index"], [label_name], axis=0))
    return nodes


def _reduce_max(source: str, target: str, opset: int) -> list[Any]:
    """The row-wise maximum, kept as a column (``axes`` became an input in opset 18)."""
    if opset >= 18:
        axes = helper.make_tensor("max_axes", onnx.TensorProto.INT64, [1], [1])
        return [helper.make_node("Constant", [], ["max_axes"], value=axes),
                helper.make_node("ReduceMax", [source, "max_axes"], [target], keepdims=1)]
    return [helper.make_node("ReduceMax", [source], [target], axes=[1], keepdims=1)]


def _regressor_outputs(attributes: dict[str, Any], leaves: dict[str, Any], outputs: list[str]) -> list[Any]:
    """The values (float32): the scores (already averaged when the node averaged) plus the base values."""
    nodes, current = [], "scores"
    base = attributes.get("base_values") or []
    if any(base):
        table = helper.make_tensor("base", onnx.TensorProto.DOUBLE, [len(base)], [float(b) for b in base])
        nodes.append(helper.make_node("Constant", [], ["base_values"], value=table))
        nodes.append(helper.make_node("Add", [current, "base_values"], ["with_base"]))
        current = "with_base"
    nodes.append(helper.make_node("Cast", [current], [outputs[0]], to=onnx.TensorProto.FLOAT))
    return nodes


def _constant(name: str, value: float) -> Any:
    """A double scalar constant."""
    return helper.make_node("Constant", [], [name], value=helper.make_tensor(name, onnx.TensorProto.DOUBLE, [], [value]))


def _opsets(model: Any) -> list[Any]:
    """The graph's opsets, with the default domain at 13 or later (ArgMax, Sum, Gather)."""
    versions = {o.domain: o.version for o in model.opset_import}
    versions[""] = max(versions.get("", 13), 13)
    versions.setdefault(_ML, 1)
    return [helper.make_opsetid(domain, version) for domain, version in versions.items()]
