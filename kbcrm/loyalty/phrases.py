"""The sentences the loyalty job writes (reasons, 7P summaries, segment names and descriptions), in English and Chinese.

The job stores English (`say`): the reports, the CLI and the JSON read it as it is. A Chinese page
shows each stored sentence through `in_chinese`, which splits it at "; ", matches each part whole
against the same English templates and writes the part's Chinese template with the captured
values. Captured numbers, ids and names are carried over; the values named in WORDS (a tier,
a channel, a feature …) are put into Chinese, and a value no table knows means the template does
not match. A part no template matches stays English (`untranslated` lists them; a test checks that
the demo's scored graph has none).

One table serves both directions, so a sentence the job writes always has its Chinese form here.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any


@dataclass(frozen=True)
class Phrase:
    """An English template (str.format, with format specs) and its Chinese form (the same names, no specs)."""

    en: str
    zh: str
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)
    literal: int = field(init=False, repr=False, compare=False)  # how much fixed text: the more, the more specific

    def __post_init__(self) -> None:
        regex, literal = "", 0
        for text, name, _, _ in string.Formatter().parse(self.en):
            regex += re.escape(text)
            literal += len(text)
            if name is not None:
                regex += f"(?P<{name}>.+?)"
        object.__setattr__(self, "pattern", re.compile(regex))
        object.__setattr__(self, "literal", literal)


PHRASES: dict[str, Phrase] = {
    # Loyalty reasons.
    "clv_top": Phrase("{months}-month CLV {clv:,.0f} (top {top} %)", "{months} 个月客户终身价值 {clv}（前 {top}%）"),
    "p_alive": Phrase("P(alive) {p:.2f}", "仍活跃概率 {p}"),
    "tenure": Phrase("customer for {years:.1f} years", "客户年限 {years} 年"),
    "churn_risk": Phrase("churn risk {risk:.2f}", "流失风险 {risk}"),
    "referred": Phrase("referred {n} customer(s)", "推荐了 {n} 位客户"),
    "parent_of": Phrase("parent of {n} subsidiary customer(s)", "有 {n} 家子公司是客户"),
    "subsidiary_of": Phrase("subsidiary of {parent}", "{parent} 的子公司"),
    "central": Phrase(
        "among the 10 % most connected customers in the relationship graph", "在关系图中联系最多的 10% 客户之列"
    ),
    "no_order": Phrase("no order yet", "尚无订单"),
    # Churn reasons: the feature that raises the risk, and by how much.
    "churn_reason": Phrase("{reason} (+{contribution:.2f} log-odds)", "{reason}（对数几率 +{contribution}）"),
    "churn_numeric": Phrase(
        "{feature} is {direction}: {value} ({typical} {average})",
        "{feature}偏{direction}：{value}（{typical} {average}）",
    ),
    "churn_categorical": Phrase("{feature}: {value}", "{feature}：{value}"),
    # Purchasing power.
    "expected_per_order": Phrase(
        "expected {orders:.1f} orders × {spend:,.0f} per order in the next {months} months",
        "预计未来 {months} 个月下单 {orders} 次，每单 {spend}",
    ),
    "late_invoices": Phrase(
        "{late} of {total} invoices paid more than {grace} days late",
        "{total} 张发票中有 {late} 张逾期 {grace} 天以上才付款",
    ),
    "late_average": Phrase("on average {days:.0f} days late when late", "逾期时平均晚 {days} 天"),
    "no_invoices": Phrase("no invoices due yet", "尚无到期发票"),
    "overdue": Phrase(
        "{n} unpaid invoice(s), the oldest {days} days overdue", "{n} 张发票未付，最早的已逾期 {days} 天"
    ),
    # 7P: profile.
    "kind_in": Phrase("{kind} in {country}", "{kind}（{country}）"),
    "kind": Phrase("{kind}", "{kind}"),
    "since": Phrase("customer since {date}", "{date} 起成为客户"),
    "tier": Phrase("{tier} tier", "等级：{tier}"),
    "segment": Phrase("segment '{segment}'", "细分“{segment}”"),
    "rfm": Phrase("RFM '{rfm}'", "RFM“{rfm}”"),
    # 7P: persistency.
    "order_days": Phrase(
        "{days} order day(s) in {years:.1f} years ({rate:.1f} a year), in {active} of {quarters} quarters",
        "{years} 年内有 {days} 个下单日（每年 {rate} 个），{quarters} 个季度中有 {active} 个季度下单",
    ),
    "last_order": Phrase("last order {days} days ago", "最近一次下单在 {days} 天前"),
    # 7P: profitability.
    "revenue": Phrase(
        "revenue {revenue} ({last_year} in the last 12 months), {mean} per order",
        "收入 {revenue}（近 12 个月 {last_year}），每单 {mean}",
    ),
    "no_revenue": Phrase(
        "no revenue yet (revenue-based: the graph has no cost data)", "尚无收入（按收入计：图中没有成本数据）"
    ),
    "clv": Phrase("{months}-month CLV {clv}", "{months} 个月客户终身价值 {clv}"),
    "credit": Phrase("credit rating {rating}", "信用评级 {rating}"),
    # 7P: performance.
    "most_contact": Phrase(
        "most contact by {channel} ({n}, {positive:.0%} led to an order, quote or resolution, "
        "{negative:.0%} complaints or no answer)",
        "联系最多的渠道是{channel}（{n} 次，{positive} 带来订单、报价或问题解决，{negative} 为投诉或无人应答）",
    ),
    "best_channel": Phrase(
        "best results by {channel} ({positive:.0%} positive)", "效果最好的渠道是{channel}（{positive} 结果积极）"
    ),
    "revenue_from": Phrase("revenue mostly from {category} ({share:.0%})", "收入主要来自{category}（{share}）"),
    "no_touches": Phrase("no interactions or order lines yet", "尚无互动或订单行"),
    # 7P: prospects.
    "expected_spend": Phrase(
        "expected {orders:.1f} orders × {spend} in the next {months} months",
        "预计未来 {months} 个月下单 {orders} 次，每单 {spend}",
    ),
    "expected": Phrase(
        "expected {orders:.1f} orders in the next {months} months", "预计未来 {months} 个月下单 {orders} 次"
    ),
    "one_opportunity": Phrase(
        "1 open opportunity worth {amount} ({weighted} weighted by stage)",
        "1 个进行中的商机，金额 {amount}（按阶段加权 {weighted}）",
    ),
    "opportunities": Phrase(
        "{n} open opportunities worth {amount} ({weighted} weighted by stage)",
        "{n} 个进行中的商机，金额 {amount}（按阶段加权 {weighted}）",
    ),
    "no_opportunity": Phrase("no open opportunity", "没有进行中的商机"),
    # 7P: product mix ({mix}: "pump 65%, service 35%").
    "mix_one": Phrase("{products} product(s) in 1 category: {mix}", "{products} 个产品，1 个类别：{mix}"),
    "mix": Phrase(
        "{products} product(s) in {categories} categories: {mix}", "{products} 个产品，{categories} 个类别：{mix}"
    ),
    "top_product": Phrase("top {product}", "最主要的产品：{product}"),
    "no_lines": Phrase("no order lines yet", "尚无订单行"),
    "installed": Phrase("{n} product(s) installed", "已安装 {n} 个产品"),
    # 7P: promotion.
    "not_targeted": Phrase("not targeted by any campaign yet", "尚未被任何营销活动覆盖"),
    "not_targeted_control": Phrase(
        "not targeted by any campaign yet (in the control group of {n})",
        "尚未被任何营销活动覆盖（在 {n} 个活动的对照组中）",
    ),
    "targeted": Phrase(
        "targeted by {n} campaign(s), responded to {responded} ({rate:.0%}), converted {converted}",
        "被 {n} 个营销活动覆盖，回应 {responded} 个（{rate}），转化 {converted} 个",
    ),
    "last_response": Phrase("last: {response} to '{campaign}'", "最近一次：{response}“{campaign}”"),
    # Segments: names and descriptions.
    "cluster_name": Phrase("{level} value, {activity}", "{level}价值、{activity}"),
    "cluster_name_again": Phrase("{segment} ({n})", "{segment}（{n}）"),
    "cluster_description": Phrase(
        "{n} customers: median {months}-month CLV {clv:,.0f}, P(alive) {p:.2f}, churn risk {risk:.2f}, "
        "{orders:.0f} orders, last order {days:.0f} days ago, customer for {years:.1f} years",
        "{n} 位客户：{months} 个月客户终身价值中位数 {clv}，仍活跃概率 {p}，流失风险 {risk}，{orders} 个订单，"
        "最近一次下单在 {days} 天前，客户年限 {years} 年",
    ),
    "group_name_tier": Phrase("loyalty tier: {tier}", "忠诚度等级：{tier}"),
    "group_name_rfm": Phrase("RFM segment: {rfm}", "RFM 细分：{rfm}"),
    "members": Phrase("{n} customers", "{n} 位客户"),
    "rule_top": Phrase("top {share:.0%} loyalty score", "忠诚度得分前 {share}"),
    "rule_next": Phrase("next {share:.0%} loyalty score", "忠诚度得分其后 {share}"),
    "rule_at_risk": Phrase(
        "below those, P(alive) >= {p} and churn risk >= {risk}", "其余客户中仍活跃概率 ≥ {p} 且流失风险 ≥ {risk}"
    ),
    "rule_lapsed": Phrase("below those, P(alive) < {p}", "其余客户中仍活跃概率 < {p}"),
    "rule_other": Phrase("the other buyers", "其余下过单的客户"),
    "rule_rfm_other": Phrase("otherwise", "其余"),
}

# Values put into Chinese: a table of their own, or (a str) the prefix of the page's terms (api/pages/i18n.py).
# A churn feature ({feature}) is said by its own label_zh (kbcrm.loyalty.features).
WORDS: dict[str, Mapping[str, str] | str] = {
    "kind": "value_customer_kind_",
    "tier": "value_loyalty_tier_",
    "rfm": "value_rfm_segment_",
    "direction": {"high": "高", "low": "低"},
    "typical": {"typical": "典型值", "average": "平均值"},
    "channel": "channel_",
    "category": {
        "pump": "泵",
        "compressor": "压缩机",
        "controller": "控制器",
        "conveyor": "输送机",
        "sensor": "传感器",
        "spare part": "备件",
        "service": "服务",
        "uncategorised": "未分类",
    },
    "response": {
        "opened": "打开了",
        "clicked": "点击了",
        "replied": "回复了",
        "converted": "转化于",
        "unsubscribed": "退订了",
    },
    "level": {"High": "高", "Mid": "中", "Low": "低"},
    "activity": {"active": "活跃", "cooling": "降温", "lapsing": "流失中"},
}
WORDS_DEFAULT = {"kind": {"customer": "客户"}}  # the profile's word for a customer of no known kind
NESTED = {"reason", "segment"}  # values that are themselves sentences of this table
FORMULA = re.compile(r"[RFM]{1,2} (?:=|<=|>=|<|>) [\d.]+(?: and [RFM]{1,2} (?:=|<=|>=|<|>) [\d.]+)*")  # RFM rules
_ORDER = sorted(PHRASES.values(), key=lambda p: -p.literal)


def say(key: str, **values: Any) -> str:
    """The English sentence of `key` with these values (what the job stores)."""
    return PHRASES[key].en.format(**values)


def in_chinese(text: str, terms: Mapping[str, str]) -> str:
    """A stored sentence in Chinese, part by part ("; "); a part no template matches stays as it is."""
    return "；".join(_part(part, terms) or part for part in text.split("; "))


def untranslated(text: str, terms: Mapping[str, str]) -> list[str]:
    """The parts of a stored sentence that no template matches (they would show in English)."""
    return [part for part in text.split("; ") if _part(part, terms) is None]


def _part(part: str, terms: Mapping[str, str]) -> str | None:
    if FORMULA.fullmatch(part):
        return part.replace(" and ", " 且 ")
    for phrase in _ORDER:
        found = phrase.pattern.fullmatch(part)
        if found is None:
            continue
        values: dict[str, str] = {}
        for name, value in found.groupdict().items():
            shown = _value(name, value, terms)
            if shown is None:
                break
            values[name] = shown
        else:
            return phrase.zh.format(**values)
    return None


def _value(name: str, value: str, terms: Mapping[str, str]) -> str | None:
    """A captured value as the Chinese sentence shows it; None when it is a word no table knows."""
    if name in NESTED:
        return _part(value, terms)
    if name == "mix":  # "pump 65%, service 35%"
        items = [re.fullmatch(r"(.+) (\d+%)", item) for item in value.split(", ")]
        words = [_word("category", m.group(1), terms) if m else None for m in items]
        if any(w is None for w in words):
            return None
        return "，".join(f"{w} {m.group(2)}" for w, m in zip(words, items, strict=True) if m)
    if name in WORDS or name == "feature":
        return _word(name, value, terms)
    return value


def _word(name: str, value: str, terms: Mapping[str, str]) -> str | None:
    table = _feature_words() if name == "feature" else WORDS[name]
    word = terms.get(table + value) if isinstance(table, str) else table.get(value)
    return word or WORDS_DEFAULT.get(name, {}).get(value)


@cache
def _feature_words() -> dict[str, str]:
    """The churn features' labels in Chinese, from their declaration.

    Read on first use: kbcrm.loyalty.features imports churn, which imports this module.
    """
    from kbcrm.loyalty.features import CHURN_FEATURES

    return {feature.label: feature.label_zh for feature in CHURN_FEATURES if feature.label_zh}
