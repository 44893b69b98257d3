"""The reason flagger: what in a reason could identify its author or others (petition/flagger.py)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from petition import flagger, petitions
from petition.flagger import Flag, flags

from .test_petitions import create

CODENAMES = ["Projet Éclair", "Tour Ouest", "art", "ACME Payroll"]


def kinds(text: str, words: list[str] | tuple[str, ...] = ()) -> list[tuple[str, str]]:
    return [(flag.kind, flag.match) for flag in flags(text, words)]


@pytest.mark.parametrize(
    "address", ["jane.doe@acme.com", "j.doe+petition@mail.corp.example.org", "josé@exemple.fr", "ops@corp.internal"]
)
def test_an_email_address_is_flagged_as_email_and_its_domain_not_also_as_a_url(address: str) -> None:
    assert kinds(f"Write to {address}. Thanks") == [("email", address)]


@pytest.mark.parametrize(
    "phone",
    [
        "+44 (0)20 7946 0958",
        "(555) 123-4567",
        "555.123.4567",
        "06 12 34 56 78",
        "030/1234567",
        "0612345678",  # seven or more digits without spaces: a phone written plainly
        "٠٥٥٥١٢٣٤٥٦٧",  # Arabic-Indic digits
        "０９０-１２３４-５６７８",  # fullwidth digits, as Japanese keyboards type them
    ],
)
def test_a_phone_number_of_seven_or_more_digits_in_any_script_is_flagged_as_phone(phone: str) -> None:
    assert kinds(f"Call me on {phone} after work.") == [("phone", phone)]


def test_a_handle_is_flagged_but_not_the_at_sign_of_an_address() -> None:
    assert kinds("Ask @jdoe or @jane.doe on Slack, not jane@acme.com; meet @ 5.") == [
        ("handle", "@jdoe"),
        ("handle", "@jane.doe"),
        ("email", "jane@acme.com"),
    ]


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("See https://intranet.acme.com/teams/ops?x=1, then", "https://intranet.acme.com/teams/ops?x=1"),
        ("See http://wiki.example.org/page.", "http://wiki.example.org/page"),
        ("See www.example.com for more", "www.example.com"),
        ("Our team blog is opsteam.io and", "opsteam.io"),
        ("(see https://en.wikipedia.org/wiki/Foo_(bar))", "https://en.wikipedia.org/wiki/Foo_(bar)"),
    ],
)
def test_a_link_or_a_bare_domain_with_a_real_tld_is_flagged_as_url(text: str, url: str) -> None:
    assert kinds(text) == [("url", url)]


def test_a_run_of_five_or_six_digits_is_flagged_as_number_and_a_phone_number_is_not_also_a_number() -> None:
    assert kinds("My badge is 483920, ticket INC0012345, phone 555 123 4567.") == [
        ("number", "483920"),
        ("number", "0012345"),  # letters touch it: an id, not a phone number
        ("phone", "555 123 4567"),
    ]
    assert kinds("Room 1234 on floor 3, since 2019.") == []


def test_a_number_or_handle_inside_a_link_is_not_flagged_again() -> None:
    assert kinds("See https://jira.example.com/browse/OPS-48213 and medium.com/@jdoe") == [
        ("url", "https://jira.example.com/browse/OPS-48213"),
        ("url", "medium.com/@jdoe"),
    ]


def test_dates_and_amounts_are_not_phone_numbers() -> None:
    assert kinds("Since 2024-03-01 (or 01.03.2024, 1/3/2024) it cost 1.250.000 euros.") == []


def test_a_listed_codename_is_flagged_whatever_its_case_and_accents() -> None:
    assert kinds("I was moved off PROJET ECLAIR last week.", CODENAMES) == [("sensitive", "PROJET ECLAIR")]
    assert kinds("I was moved off projet éclair.", ["PROJET ECLAIR"]) == [("sensitive", "projet éclair")]
    # The accent typed as a combining mark after its letter belongs to the match as written.
    assert kinds("Moved off Projet E\u0301clair.", CODENAMES) == [("sensitive", "Projet E\u0301clair")]


def test_a_listed_phrase_is_flagged_across_any_run_of_whitespace() -> None:
    assert kinds("We sit in the tour\n  ouest, fourth floor.", CODENAMES) == [("sensitive", "tour\n  ouest")]


def test_a_listed_phrase_is_flagged_whether_its_parts_are_joined_by_spaces_dashes_or_underscores() -> None:
    assert kinds("I'm in Projet-Eclair since May.", ["Projet Éclair"]) == [("sensitive", "Projet-Eclair")]
    assert kinds("see PROJET_ÉCLAIR docs", ["Projet Éclair"]) == [("sensitive", "PROJET_ÉCLAIR")]
    assert kinds("I'm in Projet Eclair since May.", ["projet-éclair"]) == [("sensitive", "Projet Eclair")]
    assert kinds("Projects clearly matter.", ["Projet Éclair"]) == []
    assert kinds("see #projet_eclair_team and PROJET_ECLAIR_2024", ["Projet Éclair"]) == [
        ("sensitive", "projet_eclair"),
        ("sensitive", "PROJET_ECLAIR"),
    ]
    assert kinds("the Projet.Eclair wiki", ["Projet Éclair"]) == [("sensitive", "Projet.Eclair")]


def test_invisible_format_characters_inside_a_listed_word_do_not_hide_it() -> None:
    for text in ("Pro\u00adjet Éclair", "Projet É\u200bclair"):
        assert kinds(f"I am on {text} now", ["Projet Éclair"]) == [("sensitive", text)]


def test_full_width_addresses_links_and_numbers_are_flagged_as_written() -> None:
    assert kinds("Mail ＪＡＮＥ＠ＧＭＡＩＬ．ＣＯＭ today") == [("email", "ＪＡＮＥ＠ＧＭＡＩＬ．ＣＯＭ")]
    assert kinds("see ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ please") == [("url", "ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ")]
    assert kinds("badge １２３４５ here") == [("number", "１２３４５")]


def test_a_listed_word_is_flagged_only_on_word_boundaries_in_latin_script() -> None:
    assert kinds("The party was great, the department smart and the artist apart.", CODENAMES) == []
    assert kinds("Art, as ever, is what we do.", CODENAMES) == [("sensitive", "Art")]


def test_a_listed_word_in_chinese_or_japanese_is_flagged_inside_a_longer_run() -> None:
    words = ["エクレア", "东京办公室", "Eclair"]
    assert kinds("東京オフィスのエクレア計画チームです。", words) == [("sensitive", "エクレア")]
    assert kinds("我在东京办公室工作。", words) == [("sensitive", "东京办公室")]
    # A Latin codename written straight against Japanese text, as Japanese does.
    assert kinds("Eclairプロジェクトの件", words) == [("sensitive", "Eclair")]


def test_a_listed_word_in_thai_is_flagged_inside_a_longer_run() -> None:
    assert kinds("ทีมโครงการเอแคลร์ของเราไม่เห็นด้วย", ["เอแคลร์"]) == [("sensitive", "เอแคลร์")]


@pytest.mark.parametrize(
    "reason",
    [
        "I signed because the monitoring program reads our private chats. Please stop it.",
        "My manager told us this is for our own good. It is not: we were never asked.",
        "Je signe parce que le programme lit nos messages. C'est inacceptable, vraiment.",
        "Ich unterschreibe, weil wir seit 2019 ohne Zustimmung überwacht werden.",
        "Firmo porque nadie nos preguntó. ¡Queremos transparencia!",
        "私はこの監視プログラムに反対です。同僚も同じ意見です。",
        "我们反对这个项目，因为它侵犯了员工的隐私。",
        "أوقّع لأن خصوصيتنا يجب أن تُحترم في العمل.",
        "ฉันไม่เห็นด้วยกับโครงการนี้",
        "We are 40 people on 3 floors, and 12 of us already left this year.",
    ],
)
def test_plain_reasons_in_several_languages_raise_no_flag(reason: str) -> None:
    assert flags(reason, CODENAMES) == []


def test_flags_of_every_kind_come_in_the_order_they_appear_with_their_text_as_written() -> None:
    text = (
        "Tour Ouest team: mail ops@acme.com, call +33 6 12 34 56 78, ping @ops-lead, "
        "ticket 99812 on https://tickets.acme.com/99812 (Projet ÉCLAIR)."
    )
    assert flags(text, CODENAMES) == [
        Flag("sensitive", "Tour Ouest"),
        Flag("email", "ops@acme.com"),
        Flag("phone", "+33 6 12 34 56 78"),
        Flag("handle", "@ops-lead"),
        Flag("number", "99812"),
        Flag("url", "https://tickets.acme.com/99812"),
        Flag("sensitive", "Projet ÉCLAIR"),
    ]
    for flag in flags(text, CODENAMES):
        assert flag.kind in flagger.FLAG_KINDS and flag.match in text


def test_text_without_flags_and_words_that_fold_to_nothing_raise_nothing() -> None:
    assert flags("") == []
    assert flags("Nothing to see here.", ["", "   ", "\u0301"]) == []


def test_flagging_a_queue_page_of_fifty_long_reasons_is_fast() -> None:
    words = [f"Codename {number}" for number in range(200)]
    reason = ("We keep hearing about this from people on other teams; nobody asked us. " * 7)[:500]
    flags(reason, words)  # the first call builds the extractor and the pattern
    start = time.perf_counter()
    for _ in range(50):
        flags(reason, words)
    assert time.perf_counter() - start < 1.0


def test_the_url_extractor_writes_nothing_into_the_home_and_leaves_no_file_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A home that cannot hold a cache folder: a plain file (urlextract, left to itself, would
    # try to create ~/.cache/urlextract when its package folder is read-only).
    home = tmp_path / "home"
    home.write_text("not a folder")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    flagger._url_extractor.cache_clear()
    try:
        assert kinds("See example.org") == [("url", "example.org")]
    finally:
        flagger._url_extractor.cache_clear()
    assert home.read_text() == "not a folder"
    assert list(temporary.iterdir()) == [], "its lock folder is removed once the list is read"


async def test_a_reason_is_flagged_for_the_words_stored_on_its_petition(
    app: Starlette, client: httpx.AsyncClient, token: str
) -> None:
    draft = (await create(client, token, sensitive_words=["Projet Éclair", "Tour Ouest"])).json()
    row = await petitions.find(app.state.db, draft["id"])
    assert row is not None
    assert flagger.words_of(row) == ["Projet Éclair", "Tour Ouest"]
    assert flags("Ask anyone on PROJET ECLAIR.", flagger.words_of(row)) == [Flag("sensitive", "PROJET ECLAIR")]
    plain = (await create(client, token)).json()
    row = await petitions.find(app.state.db, plain["id"])
    assert row is not None and flagger.words_of(row) == []
    assert flagger.words_of({}) == []
