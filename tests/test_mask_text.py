"""Free-text masking (data.access.mask_text) as people write numbers: property-based.

Hypothesis writes mobile and ID numbers the ways they are typed into summaries and notes (``+86 138…``,
``138-1234-5678``, ``138 1234 5678``, full-width digits, one digit at a time, 15-digit old IDs, IDs split by
spaces or hyphens, a lowercase ``x``) inside Chinese text: every one is found and masked to the one form
of :func:`data.access.mask_value`, and nothing of its hidden digits is left. Ordinary numbers (dates, times,
order and record ids, grid codes, counts, amounts) are left exactly as they are.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from data.access import find_personal_data, mask_text, mask_value
from data.idnumber import make_id_numbers

FULL_WIDTH = str.maketrans("0123456789Xx", "０１２３４５６７８９Ｘｘ")
ASCII = str.maketrans("０１２３４５６７８９Ｘｘ", "0123456789Xx")
#: Chinese text around the numbers: CJK characters and Chinese punctuation, no digits or Latin letters.
CJK = st.text(
    alphabet=st.sampled_from("核查出租屋房东电话身份证号码联系人已回访：，。（）、；张王李请于日前"),
    max_size=12,
)
SEPARATORS = st.sampled_from([" ", "-", "－", "\u3000", " - "])


@st.composite
def mobiles(draw) -> str:
    rest = draw(st.lists(st.sampled_from("0123456789"), min_size=9, max_size=9))
    return "1" + draw(st.sampled_from("3456789")) + "".join(rest)


@st.composite
def id18s(draw) -> str:
    region = draw(st.sampled_from(["320602", "320612", "110105", "520102", "440305"]))
    birth = draw(st.dates(dt.date(1920, 1, 1), dt.date(2020, 12, 31)))
    seq = draw(st.integers(0, 999))
    return str(make_id_numbers(np.array([region]), np.array([np.datetime64(birth)]), np.array([seq]))[0])


@st.composite
def id15s(draw) -> str:
    region = draw(st.sampled_from(["320602", "320612", "110105"]))
    birth = draw(st.dates(dt.date(1920, 1, 1), dt.date(1999, 12, 31)))
    return region + birth.strftime("%y%m%d") + f"{draw(st.integers(0, 999)):03d}"


def _groups(digits: str, sizes: tuple[int, ...]) -> list[str]:
    out, i = [], 0
    for n in sizes:
        out.append(digits[i : i + n])
        i += n
    return out


@st.composite
def written(draw, digits: str, groupings: list[tuple[int, ...]]) -> str:
    """``digits`` as a person might type them: whole, grouped, one digit at a time, full width."""
    form = draw(st.sampled_from(["whole", "grouped", "spaced"]))
    if form == "whole":
        text = digits
    elif form == "grouped":
        text = draw(SEPARATORS).join(_groups(digits, draw(st.sampled_from(groupings))))
    else:
        text = " ".join(digits)
    if digits[-1] == "X" and draw(st.booleans()):
        text = text[:-1] + "x"
    if draw(st.booleans()):
        text = text.translate(FULL_WIDTH)
    return text


@st.composite
def personal_numbers(draw) -> tuple[str, str, str]:
    """``(kind, digits, as written)``."""
    kind = draw(st.sampled_from(["phone", "id18", "id15"]))
    if kind == "phone":
        digits = draw(mobiles())
        text = draw(written(digits, [(3, 4, 4)]))
        prefix = draw(st.sampled_from(["", "+86 ", "+86-", "+86", "0086 ", "＋86 "]))
        return "phone", digits, prefix + text
    if kind == "id18":
        digits = draw(id18s())
        return (
            "id_number",
            digits,
            draw(written(digits, [(6, 8, 4), (6, 4, 4, 4), (6, 8, 3, 1), (4,) * 4 + (2,)])),
        )
    digits = draw(id15s())
    return "id_number", digits, draw(written(digits, [(6, 6, 3), (6, 3, 3, 3)]))


@given(before=CJK, number=personal_numbers(), after=CJK, second=st.none() | personal_numbers())
@example(
    before="房东电话", number=("phone", "13812345678", "+86 138 1234 5678"), after="，已回访", second=None
)
@example(
    before="身份证", number=("id_number", "32060219900101123X", "320602 19900101 123x"), after="", second=None
)
def test_every_written_form_is_found_and_masked(before, number, after, second):
    kind, digits, text = number
    numbers = [(kind, digits, text)] + ([second] if second else [])
    source = before + text + after + ("，另" + second[2] + "。" if second else "")
    masked = mask_text(source)
    assert find_personal_data(masked) == []
    flat = re.sub(r"[\s\-－]", "", masked.translate(ASCII))
    for kind, digits, _ in numbers:
        assert digits in {d[-len(digits) :] for d in find_personal_data(source)}  # found as written
        assert str(mask_value(digits, kind)) in masked  # masked to the one form
        assert digits not in flat and digits.lower() not in flat
    assert masked.startswith(before) and masked.endswith(after if not second else "。")


@st.composite
def ordinary_numbers(draw) -> str:
    """Numbers that are no personal data: dates, times, ids, grid codes of 街道/镇, counts, amounts."""
    day = draw(st.dates(dt.date(1990, 1, 1), dt.date(2030, 12, 31)))
    township, village, grid = draw(st.integers(1, 199)), draw(st.integers(1, 399)), draw(st.integers(1, 30))
    return draw(
        st.sampled_from(
            [
                day.isoformat(),
                day.strftime("%Y年%m月%d日") + f"{draw(st.integers(1, 28))}号",
                f"{day.isoformat()} {draw(st.integers(0, 23)):02d}:{draw(st.integers(0, 59)):02d}:00",
                day.strftime("%Y/%m/%d"),
                f"WO-{day:%Y%m%d}-{draw(st.integers(0, 9999)):04d}",
                f"WO{day:%Y%m%d}{draw(st.integers(0, 999999)):06d}",
                f"J{draw(st.integers(0, 10**12 - 1)):012d}",
                f"P{draw(st.integers(0, 10**10 - 1)):010d}",
                f"320612{township:03d}{village:03d}{grid:03d}",  # a grid code of a 街道 or 镇
                f"共 {draw(st.integers(0, 10**7))} 人",
                f"{draw(st.integers(0, 10**6))}.{draw(st.integers(0, 99)):02d} 元",
                f"{draw(st.integers(0, 100))}%",
                "、".join(str(n) for n in draw(st.lists(st.integers(0, 999), max_size=8))),
                f"{day.isoformat()} {day.isoformat()}",
            ]
        )
    )


@given(parts=st.lists(st.tuples(CJK, ordinary_numbers()), min_size=1, max_size=6))
@example(parts=[("截至", "2026-12-04"), ("，工单", "WO-20261204-0001"), ("，网格", "320612001001001")])
def test_ordinary_numbers_are_left_alone(parts):
    text = "".join(a + b for a, b in parts)
    assert find_personal_data(text) == []
    assert mask_text(text) == text


def test_house_numbers_are_masked_for_wide_roles_only():
    from data.access import Principal

    text = "核查华林社区1组2号、园河路1号2幢，电话 13812345678"
    assert mask_text(text) == "核查华林社区1组*号、园河路*号*幢，电话 138****5678"
    officer = Principal("o", "officer", "32061200100101")
    assert mask_text(text, officer) == "核查华林社区1组2号、园河路1号2幢，电话 138****5678"
    assert mask_text("2026年12月4号 3号楼", None) == "2026年12月4号 3号楼"  # a day, no place before it


def test_unit_codes_in_their_columns_are_no_free_text():
    """A 乡's grid code (township 200–299) reads like a 15-digit ID born in 1920s: in its own column it is a
    code and stays whole; written into free text it is masked (it cannot be told from an old ID there)."""
    import pandas as pd

    from data.access import mask_frame

    frame = pd.DataFrame({"grid_code": ["320612201001001"], "summary": ["房东 320612201001001"]})
    masked = mask_frame(frame, "work_orders").iloc[0]
    assert masked.grid_code == "320612201001001" and masked.summary == "房东 320612********1"
    smuggled = mask_frame(pd.DataFrame({"grid_code": ["电话 13812345678"]}), "work_orders").iloc[0]
    assert smuggled.grid_code == "电话 138****5678"  # not a code: masked as text
