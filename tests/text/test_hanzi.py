"""Traditional -> Simplified conversion for the zh route."""

from __future__ import annotations

import pytest

from pipeline.text.hanzi import has_traditional, to_simplified
from pipeline.text.language import detect_language


@pytest.mark.parametrize(
    ("traditional", "simplified"),
    [
        ("我們的軟體在網路上很受歡迎", "我们的软件在网络上很受欢迎"),  # Taiwan phrases
        ("計程車司機態度很好", "出租车司机态度很好"),
        ("荃灣綫又延誤，真係唔抵", "荃湾线又延误，真系唔抵"),  # Hong Kong variant 綫
        ("衞生署今日公佈新措施", "卫生署今日公布新措施"),
    ],
)
def test_traditional_to_simplified(traditional: str, simplified: str) -> None:
    assert has_traditional(traditional)
    assert to_simplified(traditional) == simplified


@pytest.mark.parametrize(
    "text", ["这个影片很好看", "服务很好，非常满意 👍 #好评#", "Great job team!", ""]
)
def test_simplified_and_other_text_unchanged(text: str) -> None:
    # tw2sp alone would rewrite 影片 -> 视频 in a mainland post: it must not run here.
    assert not has_traditional(text)
    assert to_simplified(text) is text


@pytest.mark.parametrize(
    "text",
    [
        "這間餐廳的服務很好，下次還要再來！",
        "捷運今天又故障，整列車卡在隧道裡二十分鐘",
        "呢間茶餐廳啲奶茶淡到好似白開水，仲要加一收費",
    ],
)
def test_language_detector_says_zh_for_traditional(text: str) -> None:
    assert detect_language(text) == "zh"
