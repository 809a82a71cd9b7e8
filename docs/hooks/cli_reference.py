"""MkDocs hook: the CLI reference, generated from ``vocabguard.cli``'s argparse parsers.

The page ``reference/cli.md`` holds the marker ``<!-- cli-reference -->``; at build time
it is replaced by one section per command (usage, every argument with its help, choices
and default, the example), read from ``vocabguard.cli.build_parser()``. Nothing is
copied by hand, so the page follows the parsers.

    >>> "## vocabguard build" in render()
    True
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

MARKER = "<!-- cli-reference -->"
_ROOT = Path(__file__).resolve().parents[2]
_WIDTH = "88"  # argparse wraps usage lines at $COLUMNS


def _parser() -> argparse.ArgumentParser:
    if str(_ROOT) not in sys.path:
        sys.path.insert(0, str(_ROOT))
    from vocabguard.cli import build_parser

    return build_parser()


def _cell(text: str) -> str:
    """Text for a Markdown table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _flags(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`"
    value = ""
    if action.nargs != 0:
        if action.choices is not None and action.metavar is None:
            value = " {" + ",".join(str(c) for c in action.choices) + "}"
        else:
            value = f" {action.metavar or action.dest.upper()}"
    return ", ".join(f"`{flag}{value}`" for flag in action.option_strings)


def _help(action: argparse.Action, parser: argparse.ArgumentParser) -> str:
    text = action.help or ""
    if "%(" in text:
        params = {**vars(action), "prog": parser.prog}
        params = {k: getattr(v, "__name__", v) for k, v in params.items()}
        text = text % params
    notes = []
    if action.required and action.option_strings:
        notes.append("required")
    if isinstance(action, argparse._AppendAction):
        notes.append("repeatable")
    if action.choices is not None and action.metavar is not None:
        notes.append("one of " + ", ".join(f"`{c}`" for c in action.choices))
    default = action.default
    shown = "default" in text.lower()
    if default not in (None, False, argparse.SUPPRESS, []) and action.nargs != 0 and not shown:
        notes.append(f"default `{default}`")
    if notes:
        text = f"{text} ({'; '.join(notes)})" if text else "; ".join(notes)
    return _cell(text)


def _arguments(parser: argparse.ArgumentParser) -> list[str]:
    lines: list[str] = []
    for group in parser._action_groups:
        actions = [
            a
            for a in group._group_actions
            if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))
            and a.help is not argparse.SUPPRESS
        ]
        if not actions:
            continue
        lines += ["", f"**{group.title}**", ""]
        if group.description:
            lines += [_cell(group.description), ""]
        lines += ["| argument | meaning |", "|---|---|"]
        lines += [f"| {_flags(a)} | {_help(a, parser)} |" for a in actions]
    return lines


def _usage(parser: argparse.ArgumentParser) -> list[str]:
    usage = parser.format_usage().strip().removeprefix("usage: ")
    # argparse indents continuation lines past "usage: "; the block drops that prefix.
    usage = "\n".join(line.removeprefix(" " * len("usage: ")) for line in usage.splitlines())
    return ["", "```text", usage, "```"]


def render() -> str:
    """The Markdown of every command, in ``vocabguard --help`` order."""
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = _WIDTH
    try:
        root = _parser()
        commands: dict[str, argparse.ArgumentParser] = root.get_default("_commands")
        helps = {
            choice.dest: choice.help
            for action in root._actions
            if isinstance(action, argparse._SubParsersAction)
            for choice in action._choices_actions
        }
        lines = ["## vocabguard", "", _cell(root.description or ""), *_usage(root)]
        lines += _arguments(root)
        lines += ["", "**commands**", "", "| command | what it does |", "|---|---|"]
        lines += [
            f"| [`{name}`](#vocabguard-{name}) | {_cell(helps.get(name, ''))} |"
            for name in commands
        ]
        for name, sub in commands.items():
            lines += ["", f"## vocabguard {name}", "", _cell(sub.description or "")]
            lines += _usage(sub)
            lines += _arguments(sub)
            if sub.epilog:
                lines += ["", "```text", sub.epilog.strip(), "```"]
        return "\n".join(lines) + "\n"
    finally:
        if saved is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = saved


def on_page_markdown(markdown: str, page, config, files) -> str:  # the MkDocs hook signature
    if MARKER in markdown:
        return markdown.replace(MARKER, render())
    return markdown
