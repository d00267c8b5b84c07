"""`awssec`: ask questions from a terminal, check knowledge, evaluate, report, serve Slack.

Heavy or optional layers (Slack, SQLAlchemy) are imported inside the commands that need
them, so `awssec ask` starts fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from bot import __version__
from bot.knowledge import KnowledgeError, check_knowledge, resolve_knowledge_path
from bot.matcher.answer import Answer
from bot.matcher.service import AnswerService


class CliError(Exception):
    """A problem to print as one line, exiting with `status`."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except KnowledgeError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(
            f"awssec: knowledge has {len(exc.problems)} problem(s); nothing loaded", file=sys.stderr
        )
        return 1
    except CliError as exc:
        print(f"awssec: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `awssec list | head`
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="awssec", description="Answers AWS security and compliance questions."
    )
    parser.add_argument("--version", action="version", version=f"awssec {__version__}")
    knowledge = argparse.ArgumentParser(add_help=False)
    knowledge.add_argument(
        "--knowledge",
        metavar="PATH",
        help="knowledge file or folder (default: $AWSSEC_KNOWLEDGE, else the bundled knowledge)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ask = sub.add_parser("ask", parents=[knowledge], help="answer one question")
    ask.add_argument("question", nargs="+", help="the question; '-' reads one per line from stdin")
    ask.add_argument("--json", action="store_true", help="print JSON (one object per question)")
    ask.add_argument(
        "--explain",
        action="store_true",
        help="show how the question was read, the candidates' signals and why the winner won",
    )
    ask.set_defaults(run=cmd_ask)

    chat = sub.add_parser("chat", parents=[knowledge], help="ask questions one after another")
    chat.set_defaults(run=cmd_chat)

    lst = sub.add_parser("list", parents=[knowledge], help="list topics by category")
    lst.set_defaults(run=cmd_list)

    check = sub.add_parser("check", help="validate knowledge files")
    check.add_argument("path", nargs="?", help="file or folder (default: the knowledge in use)")
    check.add_argument(
        "--stale",
        type=_non_negative_int,
        metavar="DAYS",
        help="list the topics whose facts were reviewed more than DAYS ago",
    )
    check.add_argument("--strict", action="store_true", help="warnings fail the check too")
    check.set_defaults(run=cmd_check)

    evaluate = sub.add_parser(
        "eval", parents=[knowledge], help="score the matcher on a question set"
    )
    evaluate.add_argument("file", nargs="?", help="YAML file of questions with expected topic ids")
    evaluate.add_argument("--min-accuracy", type=float, default=0.0, metavar="FRACTION")
    evaluate.add_argument("--min-refusal", type=float, default=0.0, metavar="FRACTION")
    evaluate.add_argument(
        "--sweep", action="store_true", help="accuracy and refusal across thresholds"
    )
    evaluate.add_argument(
        "--cross-validate",
        action="store_true",
        help="score the knowledge's own example questions, each left out in turn "
        "(and each topic left out: those should be refused)",
    )
    evaluate.set_defaults(run=cmd_eval)

    fit = sub.add_parser(
        "fit", parents=[knowledge], help="fit the matcher's parameters by cross-validation"
    )
    fit.add_argument(
        "--questions",
        action="append",
        metavar="FILE",
        help="question sets to fit on as well (default: tests/questions.yaml if present); "
        "never a held-out set",
    )
    fit.add_argument("--output", metavar="PATH", help="where to write (default: the bundled file)")
    fit.add_argument(
        "--no-search", action="store_true", help="keep the retrieval settings; fit the rest"
    )
    fit.set_defaults(run=cmd_fit)

    report = sub.add_parser("report", help="what people asked, missed and found (un)helpful")
    report.add_argument("--since", default="7d", help="period, e.g. 24h, 7d, 2w (default 7d)")
    report.add_argument("--format", choices=("table", "json", "csv"), default="table")
    report.set_defaults(run=cmd_report)

    serve = sub.add_parser(
        "serve", parents=[knowledge], help="run the Slack bot (Socket Mode or HTTP)"
    )
    serve.set_defaults(run=cmd_serve)
    return parser


def _service(args: argparse.Namespace) -> AnswerService:
    path = resolve_knowledge_path(args.knowledge)
    if not path.exists():
        raise CliError(f"knowledge not found: {path}")
    return AnswerService(path, reload_interval=None)


def _answer_json(answer: Answer, text: str) -> str:
    return json.dumps(
        {
            "question": answer.question,
            "kind": answer.kind.value,
            "topics": answer.topic_ids,
            "suggestions": answer.suggestion_ids,
            "confidence": answer.confidence,
            "text": text,
        },
        ensure_ascii=False,
    )


def cmd_ask(args: argparse.Namespace) -> int:
    from bot.rendering.text import render_text

    service = _service(args)
    kb = service.knowledge
    if args.question == ["-"]:
        # Bytes in, decoded here: invalid UTF-8 becomes U+FFFD instead of lone surrogates
        # that would make the JSON output invalid.
        for raw in sys.stdin.buffer:
            answer = service.answer(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
            text = render_text(answer, kb)
            print(_answer_json(answer, text) if args.json else text + "\n", flush=True)
        return 0
    question = _valid_text(" ".join(args.question))
    if not question.strip():
        raise CliError('the question is empty; try: awssec ask "which service finds PII?"')
    if args.explain:
        from bot.matcher.matcher import explanation_lines

        for line in explanation_lines(service.matcher.explain(question)):
            print(line)
        print()
    answer = service.answer(question)
    text = render_text(answer, kb)
    print(_answer_json(answer, text) if args.json else text)
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from bot.rendering.text import render_list_text, render_text

    service = _service(args)
    interactive = sys.stdin.isatty()
    if interactive:
        print(f"awssec: {len(service.knowledge)} topics. Ask away; 'list', 'help', 'quit'.")
    while True:
        try:
            line = input("awssec> " if interactive else "")
        except EOFError:
            break
        question = line.strip()
        if not question:
            continue
        if question.lower() in ("quit", "exit", "bye", ":q"):
            break
        if question.lower() == "list":
            print(render_list_text(service.knowledge))
        else:
            print(render_text(service.answer(question), service.knowledge, command=""))
        print()
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from bot.rendering.text import render_list_text

    print(render_list_text(_service(args).knowledge))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from bot.knowledge.review import knowledge_warnings, stale_topics

    path = resolve_knowledge_path(args.path)
    problems = check_knowledge(path)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in {path}", file=sys.stderr)
        return 1
    kb = AnswerService(path, reload_interval=None).knowledge
    warnings = knowledge_warnings(kb)
    for warning in warnings:
        print(warning)
    failed = bool(warnings) and args.strict
    if args.stale is not None:
        stale = stale_topics(kb, args.stale)
        for topic in stale:
            when = topic.reviewed.isoformat() if topic.reviewed else "never"
            print(f"{topic.file}:{topic.line}: stale: topic '{topic.id}' reviewed {when}")
        print(f"{len(stale)} topic(s) reviewed more than {args.stale} days ago")
        failed = failed or (bool(stale) and args.strict)
    summary = f"{len(kb)} topics, {len(kb.synonyms)} synonyms in {path}"
    if failed:
        print(f"FAIL (--strict): {summary}", file=sys.stderr)
        return 1
    print(f"OK: {summary}" + (f"; {len(warnings)} warning(s)" if warnings else ""))
    return 0


def _valid_text(text: str) -> str:
    """Command-line text with undecodable bytes (kept by Python as surrogates) replaced."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of days: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"days must not be negative: {text!r}")
    return value


def cmd_eval(args: argparse.Namespace) -> int:
    from bot.evaluation import cross_validate, evaluate, load_questions

    service = _service(args)
    if args.cross_validate:
        leave_one_out, leave_topic_out = cross_validate(service.matcher)
        result = leave_one_out
        result.records.extend(leave_topic_out.records)
        print(
            "cross-validation: in scope, each example question left out of its topic; "
            "out of scope, each topic left out (its questions should then be refused)"
        )
        for line in result.figure_lines():
            print(line)
    elif args.file:
        try:
            questions = load_questions(args.file, service.knowledge)
        except ValueError as exc:
            raise CliError(str(exc), status=1) from exc
        result = evaluate(service.matcher, questions)
        for line in result.report_lines():
            print(line)
    else:
        raise CliError("give a question file, or --cross-validate")
    print()
    for line in result.reliability_lines():
        print(line)
    if args.sweep:
        print()
        for line in result.sweep_lines(service.matcher.threshold):
            print(line)
    failed = []
    if result.accuracy < args.min_accuracy:
        failed.append(f"accuracy {result.accuracy:.1%} < {args.min_accuracy:.1%}")
    if result.refusal_rate < args.min_refusal:
        failed.append(f"refusal {result.refusal_rate:.1%} < {args.min_refusal:.1%}")
    if failed:
        print("FAIL: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.evaluation import load_questions

    try:
        from bot.matcher.fit import fit
        from bot.matcher.model import FITTED_PATH
    except ImportError as exc:
        raise CliError(f"awssec fit needs numpy ({exc}); pip install numpy", status=1) from exc
    service = _service(args)
    kb = service.knowledge
    default_set = Path(__file__).resolve().parents[1] / "tests" / "questions.yaml"
    files = args.questions or ([str(default_set)] if default_set.exists() else [])
    public = []
    for file in files:
        try:
            public.extend((q.text, q.expect) for q in load_questions(file, kb))
        except ValueError as exc:
            raise CliError(str(exc), status=1) from exc
    model = fit(kb, public, search=not args.no_search, progress=print)
    output = Path(args.output) if args.output else FITTED_PATH
    output.write_text(model.to_json(), encoding="utf-8")
    print(f"wrote {output}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from bot.storage import StorageError, Store
    from bot.storage.report import build_report, format_report, parse_since

    try:
        since = parse_since(args.since)
        store = Store.from_url()
        print(format_report(build_report(store, since), args.format))
    except (StorageError, ValueError) as exc:
        raise CliError(str(exc), status=1) from exc
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from bot.slack.server.serve import serve

    return serve(args.knowledge)
