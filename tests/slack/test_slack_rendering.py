"""Block Kit rendering: content, escaping and Slack's limits."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

from bot.knowledge.model import KnowledgeBase, Topic
from bot.matcher.answer import Answer, AnswerKind
from bot.rendering.blocks.answers import render_blocks, render_message
from bot.rendering.blocks.catalogue import render_catalogue_blocks, render_list_blocks
from bot.rendering.blocks.elements import MAX_MESSAGE_BLOCKS, MAX_VIEW_BLOCKS
from bot.rendering.blocks.ids import (
    ACTION_OPEN_DOCS,
    ACTION_SHARE,
    ACTION_SHOW_TOPIC,
    action_id_pattern,
    decode_answer,
    encode_answer,
)
from bot.rendering.mrkdwn import escape_mrkdwn, plain_from_slack, truncate


def all_strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in all_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in all_strings(v)]
    return []


def buttons(blocks: list[dict]) -> list[dict]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


def assert_within_limits(blocks: list[dict], max_blocks: int = MAX_MESSAGE_BLOCKS) -> None:
    assert len(blocks) <= max_blocks
    action_ids = []
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert 0 < len(block["text"]["text"]) <= 3000
        if block["type"] == "actions":
            assert len(block["elements"]) <= 25
            for button in block["elements"]:
                assert len(button["text"]["text"]) <= 75
                assert len(button.get("value", "")) <= 2000
                action_ids.append(button["action_id"])
    assert len(action_ids) == len(set(action_ids)), "action ids must be unique in a message"


def test_escape_mrkdwn_makes_pings_inert() -> None:
    assert escape_mrkdwn("<!channel> & <@U123> <!here>") == (
        "&lt;!channel&gt; &amp; &lt;@U123&gt; &lt;!here&gt;"
    )


def test_truncate_is_clean() -> None:
    assert truncate("short", 10) == "short"
    cut = truncate("word " * 100, 50)
    assert len(cut) <= 50 and cut.endswith("…") and not cut.endswith(" …")
    # Never leaves half an escape sequence behind.
    assert truncate("a" * 8 + "&amp;" + "b" * 10, 11) == "a" * 8 + "…"


def test_topic_answer(slack_kb: KnowledgeBase) -> None:
    macie = slack_kb.get("macie")
    answer = Answer("which service finds PII?", AnswerKind.TOPIC, (macie,), confidence=0.9)
    blocks = render_blocks(answer, kb=slack_kb)
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Amazon Macie", "emoji": True},
    }
    text = json.dumps(blocks)
    assert "machine learning &amp; pattern matching" in text
    assert "Works on Amazon S3 only." in text
    docs, *related = buttons(blocks)
    assert docs["url"] == macie.url and action_id_pattern(ACTION_OPEN_DOCS).match(docs["action_id"])
    assert [b["value"] for b in related] == ["guardduty", "kms"]
    assert [b["text"]["text"] for b in related] == [
        "Amazon GuardDuty",
        "AWS Key Management Service (KMS)",
    ]
    assert all(action_id_pattern(ACTION_SHOW_TOPIC).match(b["action_id"]) for b in related)
    assert not any(b["action_id"] == ACTION_SHARE for b in buttons(blocks))
    assert_within_limits(blocks)


def test_knowledge_text_is_escaped(slack_kb: KnowledgeBase) -> None:
    answer = Answer("guardduty", AnswerKind.TOPIC, (slack_kb.get("guardduty"),))
    message = render_message(answer, kb=slack_kb)
    for text in [message["text"], *all_strings(message["blocks"])]:
        assert "<!channel>" not in text and "<@U999>" not in text
    assert "&lt;!channel&gt;" in json.dumps(message["blocks"])


def test_shareable_answer_has_share_button_that_round_trips(slack_kb: KnowledgeBase) -> None:
    answer = Answer(
        "kms or hsm?",
        AnswerKind.TOPIC,
        (slack_kb.get("kms"),),
        (slack_kb.get("cloudhsm"),),
        0.5,
    )
    blocks = render_blocks(answer, kb=slack_kb, shareable=True)
    share = [b for b in buttons(blocks) if b["action_id"] == ACTION_SHARE]
    assert len(share) == 1
    decoded = decode_answer(share[0]["value"], slack_kb)
    assert decoded is not None
    assert decoded.topic_ids == ["kms"] and decoded.suggestion_ids == ["cloudhsm"]
    assert decoded.question == "kms or hsm?"
    # "Did you mean" offers the suggestion as a topic button.
    assert "cloudhsm" in [b.get("value") for b in buttons(blocks)]
    assert_within_limits(blocks)


def test_share_value_fits_even_for_huge_questions(slack_kb: KnowledgeBase) -> None:
    answer = Answer('"quoted" ' * 1000, AnswerKind.TOPIC, (slack_kb.get("kms"),))
    value = encode_answer(answer)
    assert len(value) <= 2000
    assert decode_answer(value, slack_kb).topic_ids == ["kms"]
    assert decode_answer("not json", slack_kb) is None
    assert decode_answer('{"k": "topic", "t": ["gone"]}', slack_kb) is None


def test_asked_by_uses_user_id_and_escapes_question(slack_kb: KnowledgeBase) -> None:
    answer = Answer("<!channel> which finds PII?", AnswerKind.TOPIC, (slack_kb.get("macie"),))
    message = render_message(answer, kb=slack_kb, asked_by="U0ASKER")
    first = message["blocks"][0]["elements"][0]
    assert first["text"] == "<@U0ASKER> asked: “@channel which finds PII?”"
    assert first["verbatim"] is True  # Slack must not turn the plain @channel into a ping
    assert message["text"].startswith("<@U0ASKER> asked: “@channel which finds PII?”")
    # Something that is not a user id is never turned into a mention.
    injected = render_message(answer, kb=slack_kb, asked_by="!channel")
    assert "<!channel>" not in json.dumps(injected)


def test_comparison_shows_both(slack_kb: KnowledgeBase) -> None:
    topics = (slack_kb.get("kms"), slack_kb.get("cloudhsm"))
    blocks = render_blocks(Answer("kms vs hsm", AnswerKind.COMPARISON, topics), kb=slack_kb)
    headers = [b["text"]["text"] for b in blocks if b["type"] == "header"]
    assert headers == ["AWS Key Management Service (KMS)", "AWS CloudHSM"]
    assert_within_limits(blocks)


def test_no_match_echoes_escaped_question_and_offers_suggestions(slack_kb: KnowledgeBase) -> None:
    answer = Answer(
        "<!here> what about <@U1>?", AnswerKind.NO_MATCH, suggestions=(slack_kb.get("macie"),)
    )
    message = render_message(answer, kb=slack_kb)
    dumped = json.dumps(message)
    assert "<!here>" not in dumped and "<@U1>" not in dumped
    [echo] = [b["text"] for b in message["blocks"] if "@here" in json.dumps(b)]
    assert echo["text"].endswith("\n>@here what about @U1?") and echo["verbatim"] is True
    assert [b["value"] for b in buttons(message["blocks"])] == ["macie"]


def test_small_talk_and_empty(slack_kb: KnowledgeBase) -> None:
    for answer in (
        Answer("hi", AnswerKind.SMALL_TALK, small_talk="greeting"),
        Answer("help", AnswerKind.SMALL_TALK, small_talk="help"),
        Answer("", AnswerKind.EMPTY),
    ):
        message = render_message(answer, kb=slack_kb, shareable=True)
        assert message["text"] and message["blocks"]
        assert not buttons(message["blocks"])  # nothing to share or click
        assert_within_limits(message["blocks"])


def test_long_content_is_trimmed_within_limits(slack_kb: KnowledgeBase) -> None:
    base = slack_kb.get("macie")
    giant = replace(
        base,
        name="N" * 400,
        summary="S" * 5000,
        facts=(*(f"fact {i} " + "x" * 900 for i in range(200)), "y" * 4000),
    )
    topics = tuple(replace(giant, id=f"t{i}") for i in range(5))
    for answer in (
        Answer("q", AnswerKind.TOPIC, (giant,), topics),
        Answer("q", AnswerKind.COMPARISON, topics),
    ):
        blocks = render_blocks(answer, shareable=True)
        assert_within_limits(blocks)
        assert blocks[-1]["elements"][0]["action_id"] == ACTION_SHARE  # the footer survives
        assert "trimmed" in json.dumps(blocks)
        assert len(render_message(answer)["text"]) <= 3000


def test_list_and_catalogue(slack_kb: KnowledgeBase) -> None:
    listing = render_list_blocks(slack_kb)
    assert_within_limits(listing)
    assert "Amazon Macie" in json.dumps(listing) and "Keys and certificates" in json.dumps(listing)
    home = render_catalogue_blocks(slack_kb)
    assert_within_limits(home, MAX_VIEW_BLOCKS)
    assert "AWS CloudHSM" in json.dumps(home)


def test_huge_catalogue_fits_a_home_view() -> None:
    topic = Topic("t", "Topic", (), "Cat", "s", ("f",), (), (), "https://x.example.com")
    topics = tuple(replace(topic, id=f"t{i}", category=f"Category {i}") for i in range(300))
    home = render_catalogue_blocks(KnowledgeBase(topics=topics))
    assert_within_limits(home, MAX_VIEW_BLOCKS)


# ---------------------------------------------------------------- echoed questions


def test_plain_from_slack_makes_control_sequences_inert_labels() -> None:
    cases = {
        "<@U123> hi": "@U123 hi",
        "<@U123|alice> hi": "@alice hi",
        "in <#C1|general>": "in #general",
        "<#C1>": "#C1",
        "<!here> <!channel> <!everyone>": "@here @channel @everyone",
        "<!here|here>": "@here",
        "<!subteam^S1|@admins>": "@admins",
        "<https://evil.example.com|click me>": "click me",
        "<https://evil.example.com>": "https://evil.example.com",
        "what is &lt;foo&gt; &amp; bar": "what is <foo> & bar",
        "&amp;lt; stays literal": "&lt; stays literal",
        "a < b": "a < b",
    }
    for slack_text, plain in cases.items():
        assert plain_from_slack(slack_text) == plain, slack_text


def test_echoed_question_is_escaped_exactly_once(slack_kb: KnowledgeBase) -> None:
    # Slack sends "what is <foo> & bar" escaped; echoing it must not escape it again.
    question = "what is &lt;foo&gt; &amp; bar"
    miss = render_message(Answer(question, AnswerKind.NO_MATCH), kb=slack_kb)
    assert "\n>what is &lt;foo&gt; &amp; bar" in miss["blocks"][0]["text"]["text"]
    shared = render_message(
        Answer(question, AnswerKind.TOPIC, (slack_kb.get("kms"),)), kb=slack_kb, asked_by="U0A"
    )
    expected = "<@U0A> asked: “what is &lt;foo&gt; &amp; bar”"
    assert shared["blocks"][0]["elements"][0]["text"] == expected
    assert shared["text"].startswith(expected)
    for message in (miss, shared):
        assert "&amp;lt;" not in json.dumps(message) and "&amp;amp;" not in json.dumps(message)


def test_control_sequences_never_reach_outgoing_text(slack_kb: KnowledgeBase) -> None:
    question = (
        "<!channel> <!here|here> <!everyone> <!subteam^S1|@admins> <@U0BOSS> <@U0BOSS|boss> "
        "<#C1|general> <https://evil.example.com|click> &lt;!channel&gt; kms?"
    )
    for answer in (
        Answer(question, AnswerKind.NO_MATCH, suggestions=(slack_kb.get("kms"),)),
        Answer(question, AnswerKind.TOPIC, (slack_kb.get("kms"),)),
    ):
        message = render_message(answer, kb=slack_kb, asked_by="U0ASKER", answer_id=7)
        for text in [message["text"], *all_strings(message["blocks"])]:
            for raw in ("<!", "<@U0BOSS", "<#", "<http"):
                assert raw not in text, (raw, text)
        # The only mention left is the one we wrote, from Slack's payload.
        assert json.dumps(message).count("<@") == 2  # in the blocks and in the text


def test_share_value_keeps_a_trimmed_question_when_escaping_doubles_it(
    slack_kb: KnowledgeBase,
) -> None:
    answer = Answer('"' * 5000, AnswerKind.TOPIC, (slack_kb.get("kms"),))
    value = encode_answer(answer)
    assert len(value) <= 2000
    decoded = decode_answer(value, slack_kb)
    assert decoded is not None and decoded.topic_ids == ["kms"]
    assert 900 <= len(decoded.question) < 5000 and set(decoded.question) == {'"'}
    shared = render_message(decoded, kb=slack_kb, asked_by="U0A")
    assert shared["blocks"][0]["elements"][0]["text"].startswith('<@U0A> asked: “""""')


# ---------------------------------------------------------------- action ids


def action_ids(value: object) -> list[str]:
    if isinstance(value, dict):
        own = [value["action_id"]] if "action_id" in value else []
        return own + [a for v in value.values() for a in action_ids(v)]
    if isinstance(value, list):
        return [a for v in value for a in action_ids(v)]
    return []


def test_action_ids_are_unique_in_every_message_type(slack_service) -> None:
    from bot.rendering.blocks.catalogue import (
        help_message,
        list_message,
        render_home_view,
        report_message,
    )
    from bot.rendering.blocks.feedback import (
        comment_modal,
        feedback_thanks_blocks,
        replace_feedback,
    )
    from bot.slack.answering.deps import Deps
    from bot.slack.answering.replies import Where, build_reply
    from bot.slack.reliability.dedup import MemoryDeduplicator

    kb = slack_service.knowledge
    kms, hsm, macie = kb.get("kms"), kb.get("cloudhsm"), kb.get("macie")
    answers = [
        Answer("kms", AnswerKind.TOPIC, (kms,), (hsm, macie), 0.5),
        Answer("kms vs hsm", AnswerKind.COMPARISON, (kms, hsm, macie)),
        Answer("zzqx", AnswerKind.NO_MATCH, suggestions=(kms, hsm, macie)),
        Answer("help", AnswerKind.SMALL_TALK, small_talk="help"),
    ]
    messages: list[object] = []
    for answer in answers:
        for shareable in (False, True):
            message = render_message(answer, kb=kb, shareable=shareable, answer_id=3)
            messages.append(message)
            thanks = feedback_thanks_blocks(3, "U0A", helpful=True)
            messages.append(replace_feedback(message["blocks"], thanks))
        messages.append(render_message(answer, kb=kb, asked_by="U0A", answer_id=4))
    messages += [help_message(), list_message(kb), report_message("Top missed\n x")]
    messages += [render_home_view(kb), comment_modal(3)]
    # The credential warning with the answer to the rest of the question appended: both
    # have docs buttons.
    deps = Deps(service=slack_service, dedup=MemoryDeduplicator())
    where = Where("mention", "T1", "U1", "C1")
    for question in (
        "how do I rotate AKIAIOSFODNN7EXAMPLE in kms vs cloudhsm",
        "which service finds PII? token xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp",
    ):
        reply = build_reply(deps, question, where, logging.getLogger("test"))
        assert reply.private and len(action_ids(reply.message)) >= 3
        messages.append(reply.message)
    for message in messages:
        ids = action_ids(message)
        assert len(ids) == len(set(ids)), ids


# ---------------------------------------------------------------- review dates


def context_line(blocks: list[dict]) -> str:
    """The context line under the topic's header (category, review date)."""
    [header_at] = [i for i, b in enumerate(blocks) if b["type"] == "header"]
    return blocks[header_at + 1]["elements"][0]["text"]


def test_answers_say_when_the_topic_was_reviewed(slack_kb: KnowledgeBase) -> None:
    import datetime as dt

    kms = replace(slack_kb.get("kms"), reviewed=dt.date(2026, 11, 3))
    line = context_line(render_blocks(Answer("kms", AnswerKind.TOPIC, (kms,))))
    assert line.endswith(" · Reviewed Nov 2026") and kms.category.split()[0] in line
    undated = replace(kms, reviewed=None)
    line = context_line(render_blocks(Answer("kms", AnswerKind.TOPIC, (undated,))))
    assert "Reviewed" not in line and line == f"_{escape_mrkdwn(kms.category)}_"


# ---------------------------------------------------------------- mrkdwn placeholders


def mrkdwn_texts(value: object) -> list[str]:
    if isinstance(value, dict):
        own = [value["text"]] if value.get("type") == "mrkdwn" else []
        return own + [t for v in value.values() for t in mrkdwn_texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in mrkdwn_texts(v)]
    return []


def test_placeholders_in_hints_are_escaped_not_broken_links(slack_service) -> None:
    from bot.rendering.blocks.catalogue import list_message, render_home_view

    kb = slack_service.knowledge
    miss = render_message(slack_service.answer("zzqx qqzz"), kb=kb)
    for message in (list_message(kb), render_home_view(kb), miss):
        texts = mrkdwn_texts(message)
        assert texts
        for text in texts:
            # A bare "<" starts a Slack link or mention: none is meant here. (">" alone is
            # harmless: at a line start it is the block quote of the echoed question.)
            assert "<" not in text, text
    home = json.dumps(render_home_view(kb))
    assert "/awssec &lt;question&gt;" in home
    assert "/awssec &lt;question or topic name&gt;" in json.dumps(list_message(kb))


# ---------------------------------------------------------------- fresh block ids


def test_feedback_block_ids_are_fresh_in_every_rendering(slack_kb: KnowledgeBase) -> None:
    from bot.rendering.blocks.feedback import (
        feedback_blocks,
        feedback_thanks_blocks,
        replace_feedback,
    )
    from bot.rendering.blocks.ids import is_feedback_block, is_feedback_note

    answer = Answer("kms", AnswerKind.TOPIC, (slack_kb.get("kms"),))
    first = render_blocks(answer, kb=slack_kb, answer_id=5)
    again = render_blocks(answer, kb=slack_kb, answer_id=5)
    ids = [b["block_id"] for b in first + again if "block_id" in b]
    assert len(ids) == 2 and len(set(ids)) == 2
    assert all(len(i) <= 255 for i in ids)
    # A vote replaces the feedback area with new ids, and replacing again finds them.
    thanked = replace_feedback(first, feedback_thanks_blocks(5, "U0A", helpful=True))
    new_ids = {b["block_id"] for b in thanked if "block_id" in b}
    assert new_ids.isdisjoint(ids) and len(new_ids) == 2
    assert [is_feedback_note(b) for b in thanked].count(True) == 1
    restored = replace_feedback(thanked, feedback_blocks(5))
    assert not any(is_feedback_note(b) for b in restored)
    [buttons_block] = [b for b in restored if is_feedback_block(b)]
    assert buttons_block["block_id"] not in new_ids | set(ids)
    assert len(restored) == len(first)
    # Messages rendered before this change carried the bare prefixes: still recognised.
    assert is_feedback_block({"block_id": "awssec_feedback"})
    assert is_feedback_note({"block_id": "awssec_feedback_note"})
    assert not is_feedback_block({"block_id": "awssec_feedback_note:1"})


# ---------------------------------------------------------------- byte-capped values


def test_share_value_is_capped_in_utf8_bytes(slack_kb: KnowledgeBase) -> None:
    for question in ("🔐 " * 1500, "暗号化" * 1000, 'é"' * 1500):
        value = encode_answer(Answer(question, AnswerKind.TOPIC, (slack_kb.get("kms"),)))
        assert len(value.encode()) <= 2000, len(value.encode())
        decoded = decode_answer(value, slack_kb)
        assert decoded is not None and decoded.topic_ids == ["kms"]
        # As much of the question as fits: nearly 2000 bytes' worth, not all of it dropped.
        assert len(decoded.question.encode()) > 1000
        assert " ".join(question.split()).startswith(decoded.question)


def test_button_values_are_cut_on_whole_characters() -> None:
    from bot.rendering.blocks.elements import utf8_prefix

    assert utf8_prefix("aé🔐", 1) == "a"
    assert utf8_prefix("aé🔐", 2) == "a"  # half an "é" is dropped, not kept as garbage
    assert utf8_prefix("aé🔐", 3) == "aé"
    assert utf8_prefix("aé🔐", 6) == "aé"
    assert utf8_prefix("aé🔐", 7) == "aé🔐"
