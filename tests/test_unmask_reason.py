"""An unmask reason (查看原因) is words: padding of invisible, control, bidi, emoji or punctuation
characters never makes up for missing words, and a real reason padded with them is kept as typed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data.store import unmask as um

#: Characters that look like nothing or are not words.
JUNK = (
    [" ", "\u3000", "\u00a0", "\t", "\n", "\u2028"]  # white space
    + ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u180e"]  # zero-width, BOM, soft hyphen
    + [chr(c) for c in range(0x202A, 0x202F)]  # bidi embeddings and overrides
    + [chr(c) for c in range(0x2066, 0x206A)]  # bidi isolates
    + ["\u115f", "\u1160", "\u3164", "\uffa0", "\u2800"]  # Hangul fillers, blank braille
    + ["\U0001f600", "\U0001f46e", "\u2764\ufe0f", "\U0001f1e8\U0001f1f3", "\U0001f44d\U0001f3fb", "\u20e3"]
    + list("。，、！？…—·.,;:!?-_()[]{}<>'\"/\\|@#$%^&*+=~`")
    + ["\u0301", "\u0336"]  # punctuation, marks
)
WORD_CHARS = st.sampled_from(list("核查身份入户走访ABCxyz0189０９ＡＺあア한"))
C0 = [chr(c) for c in range(0x00, 0x20) if c not in (0x09, 0x0A, 0x0D)] + ["\x7f"]


def _padded(words: list[str], junk: list[list[str]]) -> str:
    out = []
    for i, pad in enumerate(junk):
        out.extend(pad)
        if i < len(words):
            out.append(words[i])
    return "".join(out)


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(WORD_CHARS, max_size=um.MIN_REASON - 1),
    junk=st.lists(st.lists(st.sampled_from(JUNK), max_size=12), min_size=um.MIN_REASON, max_size=8),
)
def test_too_few_words_padded_with_junk_are_refused(words, junk):
    with pytest.raises(um.ReasonError):
        um.check_reason(_padded(words, junk))


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(WORD_CHARS, min_size=um.MIN_REASON, max_size=20),
    junk=st.lists(st.lists(st.sampled_from(JUNK), max_size=4), min_size=20, max_size=21),
)
def test_enough_words_are_accepted_and_kept_as_typed(words, junk):
    text = _padded(words, junk)
    assert um.check_reason(text) == text.strip()


@pytest.mark.parametrize(
    "reason",
    [
        "\u200b\u200b\u200b\u200b\u200b",
        "\u202e\u202e\u202e\u202e",
        "😀😀😀😀😀",
        "。。。。。。",
        "\u3164\u3164\u3164\u3164",
        "核\u200b查\u200b\u200b",
        "!!!??!!a",
        "核 😀 😀 😀 😀 ",
        "\ufeff\ufeff身份\u00ad\u00ad",
    ],
)
def test_examples_of_junk_reasons_are_refused(reason):
    with pytest.raises(um.ReasonError, match="至少"):
        um.check_reason(reason)


@pytest.mark.parametrize("control", C0)
def test_control_characters_are_refused_even_inside_a_real_reason(control):
    with pytest.raises(um.ReasonError, match="控制字符"):
        um.check_reason(f"入户核查{control}身份")


@pytest.mark.parametrize("reason", ["入户核查", "核查身份", "check ID", "案件 2026-123", "<b>核查</b>"])
def test_real_reasons_pass_unchanged(reason):
    assert um.check_reason(f"  {reason}  ") == reason
