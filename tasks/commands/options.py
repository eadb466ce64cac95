"""Flags that several commands share, each checked as it is read: the plan's (plan, bake,
retag) and the image's (test, dev, push)."""

from __future__ import annotations

import argparse
from typing import Any

from tasks.console import ZoneError, note
from tasks.context import Context
from tasks.references import TAG, TAG_RULE
from tasks.settings import SETTINGS


def setting_flag(parser: argparse.ArgumentParser, key: str) -> None:
    """The flag that overrides a setting, as its declaration says (tasks/settings.py)."""
    setting = SETTINGS[key]
    parser.add_argument(setting.flag, dest=setting.dest, help=setting.help)


def repo(parser: argparse.ArgumentParser) -> None:
    setting_flag(parser, "registry")


def plan_options(parser: argparse.ArgumentParser) -> None:
    """What the plan reads: the base, --all, the registry prefix and the extra tags."""
    parser.add_argument("--base", metavar="REF", help="compare with this ref (default: auto)")
    parser.add_argument("--all", action="store_true", help="mark every stage for build")
    repo(parser)
    for flag, what in (
        ("--extra-tag", "extra tag for every built image (repeatable)"),
        ("--tag", "the old spelling of --extra-tag (deprecated)"),
    ):
        parser.add_argument(
            flag, action=_ExtraTag, dest="extra_tag", default=[], metavar="TAG", help=what
        )


class _ExtraTag(argparse.Action):
    """--extra-tag TAG, repeatable, checked as a tag. --tag, its spelling before `--tag`
    came to mean "the image to use" (test, dev, push), is still taken, with one note."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        if option_string == "--tag" and not getattr(self, "noted", False):
            self.noted = True
            command = parser.prog.rsplit(" ", 1)[-1]
            note(
                f"--tag on {command} is deprecated: use --extra-tag (an extra tag for every "
                "built image); --tag stays on test, dev and push, where it names the image to use"
            )
        if not TAG.fullmatch(values):
            raise ZoneError(
                f"{option_string} {values!r} is not a valid image tag",
                hint=f"a tag is {TAG_RULE}",
            )
        # A copy: argparse shares the default list between parses.
        setattr(namespace, self.dest, [*getattr(namespace, self.dest), values])


def image_tag(value: str) -> str:
    """--tag of test, dev and push: the tag of the image to use."""
    if not TAG.fullmatch(value):
        raise ZoneError(f"--tag {value!r} is not a valid image tag")
    return value


def image_options(parser: argparse.ArgumentParser) -> None:
    """Which local image test and dev use: REPO/STAGE:TAG, pulled if asked."""
    parser.add_argument(
        "--tag", type=image_tag, help="image tag (default: this branch's tag, as bake gives)"
    )
    repo(parser)
    parser.add_argument("--pull", action="store_true", help="pull the image if it is missing")


def tag_to_use(context: Context) -> str:
    """--tag, else the branch tag that `nox -s bake` gives images built from this checkout
    (with SAS_IMAGE= set, the build without SAS: BRANCH-nosas)."""
    return context.args.tag or context.tagging.branch_tag
