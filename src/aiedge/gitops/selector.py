"""Label selectors (Kubernetes semantics): matchLabels and matchExpressions with In, NotIn,
Exists, DoesNotExist, all ANDed; an empty selector matches every site."""

from __future__ import annotations

from collections.abc import Mapping

from aiedge.gitops.schema import SelectorOperator, SiteSelector


def matches(selector: SiteSelector, labels: Mapping[str, str]) -> bool:
    for key, value in selector.match_labels.items():
        if labels.get(key) != value:
            return False
    for req in selector.match_expressions:
        present = req.key in labels
        if req.operator is SelectorOperator.IN and (not present or labels[req.key] not in req.values):
            return False
        if req.operator is SelectorOperator.NOT_IN and present and labels[req.key] in req.values:
            return False
        if req.operator is SelectorOperator.EXISTS and not present:
            return False
        if req.operator is SelectorOperator.DOES_NOT_EXIST and present:
            return False
    return True
