"""Basis texts staff read cite the statute only: no [L]/[P] tags, jiefen properties or references to our docs."""
from __future__ import annotations

import re

import pytest

from engine import specs
from engine.staff_text import staff_text


@pytest.mark.parametrize("raw, shown", [
    ("[L] 人民调解法 第33条：30日内共同申请。", "人民调解法 第33条：30日内共同申请。"),
    ("[L/P] 信访工作条例 第40条：书面答复；期限：2个工作日内（督办阶梯 §4，本地做法）。",
     "信访工作条例 第40条：书面答复；期限：2个工作日内（本地做法）。"),
    ("[P] 由其分流交办（属性 jiefen.move_case=parent：接收后案件归属上级中心，此后任务由上级中心办理）。",
     "由其分流交办（接收后案件归属上级中心，此后任务由上级中心办理）。"),
    ("督办单须在2个工作日内书面答复（domain.md §4）", "督办单须在2个工作日内书面答复"),
    ("[D] 当日登记。见 domain.md §3.2", "当日登记。见"),
    ("民诉法 第85条（期间不含开始的当日）", "民诉法 第85条（期间不含开始的当日）"),
    (None, None),
])
def test_tags_properties_and_doc_references_are_taken_out(raw, shown):
    assert staff_text(raw) == shown


def test_every_shipped_basis_reads_as_statute_and_rule():
    for definition in specs.parse_files(specs.load_directory("processes"),
                                        decisions=specs.load_decision_tables("processes")):
        texts = [t.documentation for t in definition.user_tasks.values()] + list(definition.timer_docs.values())
        for text in filter(None, texts):
            shown = staff_text(text)
            assert not re.search(r"\[[LPD]|jiefen\.|domain\.md|§|[a-z]+_[a-z_]+", shown), (definition.process_id, shown)
            assert "第" in shown or "期限" in shown or len(shown) > 10, shown
