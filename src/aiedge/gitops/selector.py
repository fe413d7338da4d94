"""Site selectors: labels with Kubernetes semantics (matchLabels and matchExpressions with In,
NotIn, Exists, DoesNotExist) and the facts a site reports (``facts``, ``memoryAtLeast``,
``diskFreeAtLeast``, ``cpusAtLeast``, ``accelerator``), all ANDed; an empty selector matches every
site. Fact requirements need facts: a site that has not reported them matches none."""

from __future__ import annotations

from collections.abc import Mapping

from aiedge.contracts import SiteFacts
from aiedge.gitops.schema import FactName, SelectorOperator, SiteSelector


def matches_labels(selector: SiteSelector, labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` meet the label part of ``selector`` (facts not looked at)."""
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


def matches_facts(selector: SiteSelector, facts: SiteFacts | None) -> bool:
    """Whether ``facts`` meet the fact part of ``selector`` (True when it has none)."""
    if not selector.uses_facts:
        return True
    if facts is None:
        return False
    have = {FactName.ARCH: facts.arch, FactName.OS: facts.os}
    if any(have[k] != v for k, v in selector.facts.items()):
        return False
    checks = (
        (selector.memory_at_least, facts.memory_bytes),
        (selector.disk_free_at_least, facts.disk_free_bytes),
        (selector.cpus_at_least, facts.cpus),
    )
    if any(least is not None and value < least for least, value in checks):
        return False
    return selector.accelerator is None or selector.accelerator.value in facts.accelerators


def matches(selector: SiteSelector, labels: Mapping[str, str], facts: SiteFacts | None = None) -> bool:
    return matches_labels(selector, labels) and matches_facts(selector, facts)
