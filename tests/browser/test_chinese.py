"""What a user reads in the browser is Chinese: the date picker's months and weekdays (weeks start on
Monday), served offline from the app's own zh-CN locale file."""

from __future__ import annotations

import re

from tests.browser.conftest import login

#: English that Dash's date picker shows without a locale.
ENGLISH = re.compile(
    r"\b(January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Oct|Nov|Dec|Su|Mo|Tu|We|Th|Fr|Sa|Sun|Mon|Tue|Wed|Thu|Fri|Sat)\b"
)


def test_the_date_picker_speaks_chinese_and_starts_weeks_on_monday(new_page, live_server, users):
    page = new_page()
    login(page, live_server, users.ids["analyst"], target="/overview?range=30d")
    page.locator(".f-dates input").first.click()
    calendar = page.locator(".dash-datepicker-calendar").first
    calendar.wait_for()
    text = page.locator(".dash-datepicker-content").first.inner_text()
    assert not ENGLISH.search(text), text[:300]
    assert re.search(r"20\d\d年\d{1,2}月", text), text[:300]
    # the weekday header row: Monday first, Sunday last, in Chinese
    header = [t.strip() for t in re.findall(r"[一二三四五六日]", text[:200])]
    assert header[:7] == list("一二三四五六日"), text[:300]
